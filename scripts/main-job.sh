#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The main job: a 10 s H.264 recording (1920x1080 at 30 fps, MP4) and a JPEG sequence
# (640x480 at 90 fps, 3 s) from the camera: the first real camera when the libcamera backend is
# built and a camera is present, else the simulated imx219. Outputs go to ./out (or $OUT).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-deps.sh

FEATURES=()
if pkg-config --atleast-version=0.4 libcamera 2>/dev/null; then
  FEATURES=(--features libcamera)
  echo "main-job: libcamera $(pkg-config --modversion libcamera) found: building the libcamera backend"
fi
cargo build --release "${FEATURES[@]}"
export GST_PLUGIN_PATH=$PWD/target/release${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}

OUT=${OUT:-$PWD/out}
rm -rf "$OUT/jpeg" "$OUT/recording.mp4"
mkdir -p "$OUT/jpeg"

ENC="rpih264enc bitrate=8000000 iperiod=30"
gst-inspect-1.0 rpih264enc >/dev/null 2>&1 || ENC="x264enc bitrate=8000 key-int-max=30 speed-preset=ultrafast tune=zerolatency"

echo "main-job: recording $OUT/recording.mp4 (10 s, 1920x1080 at 30 fps)"
gst-launch-1.0 -e rpicamsrc2 num-buffers=300 \
  ! video/x-raw,width=1920,height=1080,framerate=30/1 \
  ! $ENC ! h264parse ! mp4mux ! filesink location="$OUT/recording.mp4"

echo "main-job: JPEG sequence in $OUT/jpeg (640x480 at 90 fps, 270 frames)"
gst-launch-1.0 rpicamsrc2 num-buffers=270 \
  ! video/x-raw,width=640,height=480,framerate=90/1 \
  ! jpegenc quality=85 ! multifilesink location="$OUT/jpeg/frame%05d.jpg"

frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,codec_name,width,height \
  -of csv=p=0 "$OUT/recording.mp4")
echo "main-job: recording.mp4: $frames (codec,width,height,frames)"
echo "main-job: $(ls "$OUT/jpeg" | wc -l) JPEG files"
