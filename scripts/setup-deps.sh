#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Installs what building, running and testing rpicamsrc2 needs on a Debian machine (bookworm or
# newer, or Raspberry Pi OS). Idempotent: installs only what is missing. Must run as root (or
# with sudo available). Arguments name more packages (scripts/test.sh vm: qemu-system-x86).
set -euo pipefail

PACKAGES=(
  # Build: GStreamer development files, RTSP server library, C toolchain pieces for openh264.
  pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libgstreamer-plugins-bad1.0-dev libgstrtspserver-1.0-dev nasm clang libclang-dev
  # Run and test: gst-launch/gst-inspect, the plugins the recipes use, ffprobe.
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-rtsp ffmpeg
  # The overlay recipes: clockoverlay/textoverlay (the Pango plugin) and a font for them.
  gstreamer1.0-x fonts-dejavu-core
  # gst-device-monitor-1.0 (the device provider's test).
  gstreamer1.0-plugins-base-apps
  # The Python embedding example.
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
  # The real-libcamera test root.
  debootstrap
  # The benchmark suite: instruction counts per frame (row 1).
  valgrind
)
PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-deps: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup-deps: cargo (rustup) is required" >&2; exit 1; }
