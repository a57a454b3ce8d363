#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Finding a camera the way applications do: GStreamer's device monitor (PyGObject).

Lists the Video/Source devices of rpicamsrc2's device provider with their caps and
properties, then captures a few frames from the first one with the element the device makes.

Needs (Debian/Raspberry Pi OS): python3-gi gir1.2-gstreamer-1.0, and the rpicamsrc2 plugin
installed or on GST_PLUGIN_PATH. Without a camera nothing is listed; the simulated cameras
are listed when asked:

    RPICAMSRC2_SIM_DEVICES=imx219 GST_PLUGIN_PATH=target/release python3 examples/device_monitor.py

Prints `device camera-name=... modes=N` per device (N: caps structures, one per sensor mode),
then `captured N frames from <camera-name>`; exits with status 1 when nothing is listed or the
capture fails.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

FRAMES = 10


def main():
    Gst.init(None)
    monitor = Gst.DeviceMonitor.new()
    monitor.add_filter("Video/Source", None)
    monitor.start()
    devices = [
        d for d in monitor.get_devices() if type(d).__name__ == "GstRpiCamSrc2Device"
        or d.get_properties().has_field("simulated")
    ]
    monitor.stop()
    if not devices:
        print("no camera found (set RPICAMSRC2_SIM_DEVICES=1 for the simulated ones)")
        return 1
    for d in devices:
        props = d.get_properties()
        print(
            f"device camera-name={props.get_string('camera-name')} "
            f"model={props.get_string('api.libcamera.Model')} "
            f"modes={d.get_caps().get_size()} name={d.get_display_name()!r}"
        )
    device = devices[0]
    name = device.get_properties().get_string("camera-name")
    pipeline = Gst.Pipeline.new()
    src = device.create_element(None)
    src.set_property("num-buffers", FRAMES)
    sink = Gst.ElementFactory.make("fakesink")
    sink.set_property("signal-handoffs", True)
    count = [0]
    sink.connect("handoff", lambda *_: count.__setitem__(0, count[0] + 1))
    pipeline.add(src)
    pipeline.add(sink)
    src.link(sink)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(
        30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
    )
    pipeline.set_state(Gst.State.NULL)
    if msg is None or msg.type == Gst.MessageType.ERROR:
        print(f"capture from {name} failed: {msg.parse_error() if msg else 'timeout'}")
        return 1
    print(f"captured {count[0]} frames from {name}")
    return 0 if count[0] == FRAMES else 1


if __name__ == "__main__":
    sys.exit(main())
