#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Embedding rpicamsrc2 in a Python application (PyGObject).

Builds a pipeline, changes camera controls while it runs, and reads each frame's metadata
(the RpiCamSrc2FrameMeta custom meta) from the buffers an appsink hands over.

Needs (Debian/Raspberry Pi OS): python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0,
and the rpicamsrc2 plugin installed or on GST_PLUGIN_PATH:

    GST_PLUGIN_PATH=target/release python3 examples/metadata.py [--camera-name sim:imx219]
        [--frames 45] [--change-at 15] [--exposure-time 10000] [--analogue-gain 4.0]

Prints one line per frame (frame seq=... exposure_time=... analogue_gain=...), switches to
manual exposure time and gain at frame --change-at, and exits with status 1 when a frame has
no metadata or the pipeline fails.
"""

import argparse
import sys
import warnings

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
from gi.repository import Gst, GstApp  # noqa: E402,F401  (GstApp: appsink methods)

META_NAME = "RpiCamSrc2FrameMeta"


def bus_error(bus):
    """The first error on the bus as text, or None."""
    msg = bus.timed_pop_filtered(100 * Gst.MSECOND, Gst.MessageType.ERROR)
    if msg is None:
        return None
    err, debug = msg.parse_error()
    return f"{err.message} ({debug})"


def floats(structure, field):
    """A GstValueArray field as a list of floats.

    With gst-python's overrides (python3-gst-1.0) get_value() returns a Gst.ValueArray; plain
    PyGObject cannot convert that type, so read it through get_array() (a GValueArray)."""
    try:
        return list(structure.get_value(field))
    except TypeError:
        ok, array = structure.get_array(field)
        if not ok:
            return []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # GValueArray is deprecated
            return [array.get_nth(i) for i in range(array.n_values)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camera-name", default="sim:imx219")
    parser.add_argument("--frames", type=int, default=45)
    parser.add_argument("--change-at", type=int, default=15)
    parser.add_argument("--exposure-time", type=int, default=10000, help="µs")
    parser.add_argument("--analogue-gain", type=float, default=4.0)
    args = parser.parse_args()

    Gst.init(None)
    if Gst.ElementFactory.find("rpicamsrc2") is None:
        print("metadata.py: error: no rpicamsrc2 element: install the plugin or set "
              "GST_PLUGIN_PATH to the directory with libgstrpicamsrc2.so", file=sys.stderr)
        return 1

    pipeline = Gst.parse_launch(
        f'rpicamsrc2 name=cam camera-name="{args.camera_name}" '
        "! video/x-raw,width=640,height=480,framerate=30/1 "
        "! appsink name=sink sync=false max-buffers=4")
    cam = pipeline.get_by_name("cam")
    sink = pipeline.get_by_name("sink")
    bus = pipeline.get_bus()

    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        print(f"metadata.py: error: {bus_error(bus) or 'cannot start the pipeline'}",
              file=sys.stderr)
        return 1

    missing = 0
    failure = None
    for n in range(args.frames):
        if n == args.change_at:
            # Controls can change at any time; the metadata shows when the sensor applied them.
            cam.set_property("exposure-time", args.exposure_time)
            cam.set_property("analogue-gain", args.analogue_gain)
            print(f"set exposure-time={args.exposure_time} "
                  f"analogue-gain={args.analogue_gain} after frame {n}")
        sample = sink.try_pull_sample(10 * Gst.SECOND)
        if sample is None:
            failure = bus_error(bus) or f"no frame after 10 s (frame {n} of {args.frames})"
            break
        buf = sample.get_buffer()
        meta = buf.get_custom_meta(META_NAME)
        if meta is None:
            missing += 1
            print(f"frame without {META_NAME} (pts {buf.pts})")
            continue
        s = meta.get_structure()
        gains = floats(s, "ColourGains")
        print(f"frame seq={s.get_value('Sequence')} pts={buf.pts} "
              f"exposure_time={s.get_value('ExposureTime')} "
              f"analogue_gain={s.get_value('AnalogueGain'):.3f} "
              f"digital_gain={s.get_value('DigitalGain'):.3f} "
              f"colour_gains={gains[0]:.3f},{gains[1]:.3f} "
              f"colour_temperature={s.get_value('ColourTemperature')} "
              f"lux={s.get_value('Lux'):.1f} "
              f"frame_duration={s.get_value('FrameDuration')} "
              f"ae_state={s.get_value('AeState')}")

    pipeline.send_event(Gst.Event.new_eos())
    bus.timed_pop_filtered(5 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)

    if failure:
        print(f"metadata.py: error: {failure}", file=sys.stderr)
        return 1
    if missing:
        print(f"metadata.py: error: {missing} of {args.frames} frames had no metadata",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
