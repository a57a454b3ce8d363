#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# Raspberry Pi builds on an x86-64 Debian machine: cross-builds for arm64 (Pi 3/4/5, 64-bit
# Raspberry Pi OS) and armhf (32-bit Raspberry Pi OS), tested under qemu-user emulation. See
# README.md, "On a Raspberry Pi / ARM builds".
#
# Usage:
#   scripts/arm.sh ARCH sysroot      build the sysroot of ARCH if it is missing or invalid
#   scripts/arm.sh ARCH build        cross-build the crate (debug; --release with ARM_PROFILE=release)
#   scripts/arm.sh ARCH test         build, then under emulation: the unit tests, the
#                                    simulated-camera integration tests, the main job (checked
#                                    with ffprobe)
#   scripts/arm.sh ARCH abi          the V4L2 ABI probe (C, built with the cross compiler against
#                                    the sysroot's <linux/videodev2.h>) and the Rust struct check;
#                                    on armhf for 32-bit and 64-bit time_t ('test' checks only
#                                    the time_t of the build it tests, libc's default)
#   scripts/arm.sh ARCH run -- CMD.. run CMD inside the sysroot (emulated), in the repository
#   scripts/arm.sh ARCH status       what is at the sysroot path (changes nothing)
#   scripts/arm.sh ARCH destroy      remove the sysroot (only one this script made)
# ARCH is arm64 or armhf.
#
# Environment:
#   RPICAMSRC2_ARM_CACHE     where the sysroots and target directories live (default
#                            /var/cache/rpicamsrc2): sysroot-ARCH, target-ARCH. Never inside the
#                            repository.
#   RPICAMSRC2_DEBIAN_MIRROR Debian mirror URI (default: the one in the host's apt sources).
#   ARM_PROFILE              debug (default) or release.
#
# How: the target's libraries come from a debootstrapped Debian trixie root of that
# architecture (the base of current Raspberry Pi OS), never from the host's package set (host
# multiarch -dev packages replace the host's own and break the host build). The sysroot is built
# with `debootstrap --foreign` and a second stage under qemu-user-static (binfmt), in
# SYSROOT.new, and moved into place only when complete (the marker is written last): an
# interrupted build is detected and redone, never half-used. A path that exists but was not
# made by this script is refused, and nothing in it is deleted.
# Rust cross-builds with the rustup target and Debian's cross gcc (--sysroot), pkg-config reads
# the sysroot's .pc files (PKG_CONFIG_SYSROOT_DIR/LIBDIR). Cargo runs offline after a host
# `cargo fetch --locked`. Test binaries run inside the sysroot (chroot, qemu through binfmt), so
# that gst-launch-1.0, the plugins and every library are the target's; the only foreign
# binaries on the host are in the sysroot. Must run as root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CACHE=${RPICAMSRC2_ARM_CACHE:-/var/cache/rpicamsrc2}
SUITE=trixie
PROFILE=${ARM_PROFILE:-debug}

# The sysroot's packages, installed with apt-get --no-install-recommends after debootstrap
# (debootstrap --include resolves no alternative dependencies). First line: what the crate
# links (Cargo.toml: gstreamer, -base, -video, -app, -pbutils, -check, -rtsp-server, glib-unix)
# and the kernel headers for the V4L2 probe; second: what the tests and the main job run
# (gst-launch-1.0, h264parse, mp4mux, avdec_h264, jpegenc, ffprobe).
PACKAGES=(
  libc6-dev linux-libc-dev libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libgstreamer-plugins-bad1.0-dev libgstrtspserver-1.0-dev libstdc++6
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav ffmpeg
)
# Host packages: the cross compilers and the emulator.
HOST_PACKAGES=(qemu-user-static binfmt-support)
MARKER_REL=etc/rpicamsrc2-sysroot
PARTIAL_REL=.rpicamsrc2-partial-sysroot

log() { printf 'arm.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

ARCH=${1:-}
CMD=${2:-}
case "$ARCH" in
  arm64) DEB_ARCH=arm64 RUST_TARGET=aarch64-unknown-linux-gnu GNU=aarch64-linux-gnu QEMU=qemu-aarch64 ;;
  armhf) DEB_ARCH=armhf RUST_TARGET=armv7-unknown-linux-gnueabihf GNU=arm-linux-gnueabihf QEMU=qemu-arm ;;
  -h | --help | help) usage; exit 0 ;;
  "") usage; exit 2 ;;
  *) die "unknown architecture '$ARCH': use arm64 (64-bit Raspberry Pi OS, Pi 3/4/5) or armhf (32-bit Raspberry Pi OS)" ;;
esac
[[ $# -ge 2 ]] && shift 2 || shift $#
HOST_PACKAGES+=("gcc-$GNU" "g++-$GNU")
SYSROOT=$CACHE/sysroot-$ARCH
TARGET_DIR=${RPICAMSRC2_ARM_TARGET:-$CACHE/target-$ARCH}
TRIPLE_UC=$(tr 'a-z-' 'A-Z_' <<<"$RUST_TARGET")
TRIPLE_LC=${RUST_TARGET//-/_}

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot and mount need it)"
for p in "$SYSROOT" "$TARGET_DIR"; do
  case "$p" in
    "$REPO" | "$REPO"/*) die "$p is inside the repository $REPO; set RPICAMSRC2_ARM_CACHE to a path outside it" ;;
    / | "") die "refusing '$p' as a cache path" ;;
  esac
done

# --- host tools ------------------------------------------------------------------------------
ensure_host_tools() {
  local missing=() p
  for p in "${HOST_PACKAGES[@]}" debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing on the host: ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null; } ||
      die "step 'host tools' failed: apt-get install ${missing[*]}; install them yourself, then rerun"
  fi
  command -v cargo >/dev/null || die "step 'host tools': cargo not found; install Rust with rustup"
  if ! rustup target list --installed 2>/dev/null | grep -qx "$RUST_TARGET"; then
    log "rustup target add $RUST_TARGET"
    rustup target add "$RUST_TARGET" >&2 ||
      die "step 'host tools' failed: 'rustup target add $RUST_TARGET' (does this machine reach static.rust-lang.org?)"
  fi
}

# The emulator must be registered with binfmt_misc and have the F (fix binary) flag, so that a
# chroot runs the target's binaries without a copy of qemu inside it.
ensure_binfmt() {
  local bm=/proc/sys/fs/binfmt_misc
  if [[ ! -e $bm/status ]]; then
    mount binfmt_misc -t binfmt_misc "$bm" 2>/dev/null ||
      die "binfmt_misc is not mounted and cannot be: run 'mount binfmt_misc -t binfmt_misc $bm' (needs a privileged host, not an unprivileged container), then rerun"
  fi
  if [[ ! -e $bm/$QEMU ]]; then
    update-binfmts --enable "$QEMU" >/dev/null 2>&1 || true
  fi
  [[ -e $bm/$QEMU ]] ||
    die "no binfmt handler '$QEMU' in $bm: install qemu-user-static and binfmt-support, then run 'update-binfmts --enable $QEMU'"
  grep -qx enabled "$bm/$QEMU" ||
    die "the binfmt handler $bm/$QEMU is disabled: run 'update-binfmts --enable $QEMU'"
  grep -q '^flags:.*F' "$bm/$QEMU" ||
    die "the binfmt handler $bm/$QEMU lacks the F flag (fix binary), so it cannot run inside a chroot; reinstall qemu-user-static from Debian (its handlers set F)"
}

host_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    uri=$(awk 'tolower($1)=="uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" |
      grep -E '/debian/?$' | grep -v -- '-security' | head -n1 || true)
    [[ -n $uri ]] && { echo "${uri%/}"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    uri=$(awk '$1=="deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f" |
      grep -E '/debian/?$' | grep -v -- '-security' | head -n1 || true)
    [[ -n $uri ]] && { echo "${uri%/}"; return 0; }
  done
  return 1
}

# --- paths that are ours --------------------------------------------------------------------
check_sysroot_path() {
  if [[ -e $SYSROOT || -L $SYSROOT ]]; then
    [[ -d $SYSROOT && ! -L $SYSROOT ]] ||
      die "$SYSROOT exists and is not a directory; move it away or set RPICAMSRC2_ARM_CACHE (nothing was changed)"
    if [[ ! -f $SYSROOT/$MARKER_REL ]] && [[ -n $(ls -A "$SYSROOT" 2>/dev/null) ]]; then
      die "$SYSROOT is a non-empty directory that this script did not make (no $MARKER_REL in it); remove it yourself or set RPICAMSRC2_ARM_CACHE (nothing was deleted)"
    fi
  fi
  if [[ -e $SYSROOT.new || -L $SYSROOT.new ]] && [[ ! -f $SYSROOT.new/$PARTIAL_REL ]]; then
    die "$SYSROOT.new exists and was not made by this script (no $PARTIAL_REL in it); remove it or set RPICAMSRC2_ARM_CACHE (nothing was deleted)"
  fi
}

# Refuses to delete a directory with anything mounted below it.
safe_remove() {
  local dir=$1
  [[ -e $dir ]] || return 0
  if awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    die "$dir has mounts below it; unmount them first (nothing was deleted)"
  fi
  rm -rf --one-file-system "$dir"
}

safe_remove_ours() {
  local dir=$1
  [[ -e $dir ]] || return 0
  if [[ -f $dir/$MARKER_REL ]]; then
    safe_remove "$dir"
  elif [[ -d $dir && -z $(ls -A "$dir") ]]; then
    rmdir "$dir"
  else
    die "refusing to delete $dir: not a sysroot this script made"
  fi
}

marker_content() { printf 'suite=%s\narch=%s\npackages=%s\n' "$SUITE" "$DEB_ARCH" "${PACKAGES[*]}"; }

sysroot_valid() {
  [[ -f $SYSROOT/$MARKER_REL ]] && [[ $(cat "$SYSROOT/$MARKER_REL") == "$(marker_content)" ]] &&
    [[ -x $SYSROOT/usr/bin/gst-launch-1.0 ]]
}

# --- mounts (inside a private mount namespace; a trap unmounts where none could be made) -------
MOUNTED=()
unmount_all() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTED[i]}" 2>/dev/null || true; done
  MOUNTED=()
}
do_mount() {
  local target=$1; shift
  mkdir -p "$target"
  mount "$@" "$target"
  MOUNTED+=("$target")
}
mount_sysroot() {
  local dir=$1
  trap unmount_all EXIT
  do_mount "$dir/proc" -t proc proc
  do_mount "$dir/dev" --bind /dev
  do_mount "$dir/sys" --bind /sys
  do_mount "$dir/tmp" -t tmpfs -o size=4g tmpfs
  if [[ -n ${2:-} ]]; then # with the repository and the target directory
    do_mount "$dir$REPO" --bind "$REPO"
    mkdir -p "$TARGET_DIR"
    do_mount "$dir$TARGET_DIR" --bind "$TARGET_DIR"
  fi
  cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
}
in_namespace() {
  if [[ -z ${RPICAMSRC2_IN_NS:-} ]] && unshare -m --propagation private true 2>/dev/null; then
    RPICAMSRC2_IN_NS=1 exec unshare -m --propagation private bash "$0" "$ARCH" "$@"
  fi
}

# chroot_run CMD...: CMD inside the (mounted) sysroot, in the repository, clean environment.
chroot_run() {
  local -a envs=(HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin)
  local v
  for v in RUST_BACKTRACE RUST_LOG GST_DEBUG GST_DEBUG_FILE RPICAMSRC2_TEST_FRAMES GST_PLUGIN_PATH RPICAMSRC2_V4L2_ABI_PROBE \
    http_proxy https_proxy no_proxy; do
    [[ -n ${!v:-} ]] && envs+=("$v=${!v}")
  done
  chroot "$SYSROOT" /usr/bin/env -i "${envs[@]}" /bin/bash -c 'cd "$1" && shift && exec "$@"' \
    bash "$REPO" "$@"
}

# --- building the sysroot -------------------------------------------------------------------
build_sysroot() {
  local mirror tmp=$SYSROOT.new
  mirror=${RPICAMSRC2_DEBIAN_MIRROR:-$(host_mirror)} ||
    die "found no Debian mirror in /etc/apt/sources*; set RPICAMSRC2_DEBIAN_MIRROR"
  [[ -e $tmp ]] && log "$tmp is a sysroot whose build was interrupted: rebuilding it"
  safe_remove "$tmp"
  mkdir -p "$tmp"
  : >"$tmp/$PARTIAL_REL"
  log "debootstrap --arch=$DEB_ARCH --foreign $SUITE into $tmp from $mirror"
  debootstrap --arch="$DEB_ARCH" --foreign --variant=minbase "$SUITE" "$tmp" "$mirror" >"$tmp.log" 2>&1 ||
    { tail -n 30 "$tmp.log" >&2; die "step 'sysroot: debootstrap first stage' failed (log: $tmp.log); check the network and RPICAMSRC2_DEBIAN_MIRROR, then rerun: the half-built sysroot is rebuilt"; }
  log "debootstrap second stage under emulation (several minutes)"
  chroot "$tmp" /debootstrap/debootstrap --second-stage >>"$tmp.log" 2>&1 ||
    { tail -n 30 "$tmp.log" >&2; die "step 'sysroot: debootstrap second stage' failed under $QEMU (log: $tmp.log); rerun: the half-built sysroot is rebuilt"; }
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
  chmod +x "$tmp/usr/sbin/policy-rc.d"
  log "installing ${#PACKAGES[@]} packages inside the sysroot under emulation (apt-get, 5-15 minutes)"
  (
    mount_sysroot "$tmp"
    local -a envs=(/usr/bin/env DEBIAN_FRONTEND=noninteractive)
    local v
    for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
      [[ -n ${!v:-} ]] && envs+=("$v=${!v}")
    done
    chroot "$tmp" "${envs[@]}" /bin/sh -c 'apt-get update -qq &&
      apt-get install -y -q --no-install-recommends "$@" && apt-get clean' sh "${PACKAGES[@]}"
  ) >>"$tmp.log" 2>&1 ||
    { tail -n 30 "$tmp.log" >&2; die "step 'sysroot: apt-get install' failed inside $tmp (log: $tmp.log); check the network and the mirror, then rerun: the half-built sysroot is rebuilt"; }
  rm -f "$tmp/var/cache/apt/archives/"*.deb
  marker_content >"$tmp/$MARKER_REL"
  rm -f "$tmp/$PARTIAL_REL"
  safe_remove_ours "$SYSROOT"
  mv -T "$tmp" "$SYSROOT"
  log "sysroot ready at $SYSROOT"
}

ensure_sysroot() {
  check_sysroot_path
  mkdir -p "$CACHE"
  exec 9>"$SYSROOT.lock"
  flock -x 9
  if ! sysroot_valid; then
    [[ -f $SYSROOT/$MARKER_REL ]] && log "sysroot at $SYSROOT is out of date or damaged: rebuilding"
    local t0=$SECONDS
    build_sysroot
    log "sysroot built in $((SECONDS - t0)) s"
  fi
  flock -s 9
}

# --- cross build ----------------------------------------------------------------------------
fetch_crates() {
  (cd "$REPO" && cargo fetch --locked >/dev/null 2>&1) ||
    die "step 'fetch crates' failed: 'cargo fetch --locked' in $REPO; check that this machine reaches the crate registry, then rerun (the cross build runs offline)"
}

cross_env() {
  local lib=$SYSROOT/usr/lib/$GNU
  export CARGO_TARGET_DIR=$TARGET_DIR CARGO_NET_OFFLINE=true
  export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_SYSROOT_DIR=$SYSROOT
  export PKG_CONFIG_LIBDIR=$lib/pkgconfig:$SYSROOT/usr/share/pkgconfig
  unset PKG_CONFIG_PATH
  export "CC_$TRIPLE_LC=$GNU-gcc" "CXX_$TRIPLE_LC=$GNU-g++" "AR_$TRIPLE_LC=$GNU-ar"
  export "CFLAGS_$TRIPLE_LC=--sysroot=$SYSROOT" "CXXFLAGS_$TRIPLE_LC=--sysroot=$SYSROOT"
  export "CARGO_TARGET_${TRIPLE_UC}_LINKER=$GNU-gcc"
  export "CARGO_TARGET_${TRIPLE_UC}_RUSTFLAGS=-C link-arg=--sysroot=$SYSROOT -C link-arg=-Wl,-rpath-link,$lib -C link-arg=-Wl,-rpath-link,$SYSROOT/lib/$GNU"
  # Test binaries run inside the sysroot (see run_in_sysroot).
  export "CARGO_TARGET_${TRIPLE_UC}_RUNNER=$REPO/scripts/arm.sh $ARCH exec-in-sysroot"
}

cargo_cross() { # cargo_cross SUBCOMMAND ARGS...
  local sub=$1; shift
  local -a prof=()
  [[ $PROFILE == release ]] && prof=(--release)
  (cd "$REPO" && cargo "$sub" --locked --offline --target "$RUST_TARGET" "${prof[@]}" "$@")
}

# --- the V4L2 ABI probe ---------------------------------------------------------------------
# probe_abi NAME CFLAGS...: compiles scripts/v4l2-abi-probe.c with the cross compiler against
# the sysroot's kernel headers, runs it under emulation, prints its key=value lines.
probe_abi() {
  local name=$1; shift
  local out=$TARGET_DIR/v4l2-abi-probe-$name
  mkdir -p "$TARGET_DIR"
  # Only the sysroot's headers (-nostdinc): the cross toolchain's own include directory (Debian's
  # linux-libc-dev-ARCH-cross, an older kernel) would otherwise come before the sysroot's.
  "$GNU-gcc" --sysroot="$SYSROOT" -nostdinc -isystem "$("$GNU-gcc" -print-file-name=include)" \
    -isystem "$SYSROOT/usr/include/$GNU" -isystem "$SYSROOT/usr/include" \
    "$@" -O0 -o "$out" "$REPO/scripts/v4l2-abi-probe.c" ||
    die "step 'abi probe' failed: $GNU-gcc could not compile scripts/v4l2-abi-probe.c ($name)"
  QEMU_LD_PREFIX=$SYSROOT "$out" >"$out.txt" ||
    die "step 'abi probe' failed: the probe did not run under $QEMU"
  echo "$out.txt"
}

abi_check() {
  local -a probes=()
  case "$ARCH" in
    arm64) probes=("lp64:") ;;
    armhf) probes=("time32:-D_TIME_BITS=32 -U_FILE_OFFSET_BITS" "time64:-D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64") ;;
  esac
  local p name flags file
  for p in "${probes[@]}"; do
    name=${p%%:*} flags=${p#*:}
    # shellcheck disable=SC2086
    file=$(probe_abi "$name" $flags)
    log "V4L2 ABI of $ARCH ($name), from the sysroot's <linux/videodev2.h>: $(tr '\n' ' ' <"$file")"
  done
  # The Rust structs are checked against the probe of libc's own time_t (32-bit on armhf).
  local rust_probe=$TARGET_DIR/v4l2-abi-probe-${probes[0]%%:*}.txt
  RPICAMSRC2_V4L2_ABI_PROBE=$rust_probe cargo_cross test --lib -- --include-ignored v4l2::sys::tests
  if [[ $ARCH == armhf && ${1:-} == all ]]; then
    # armhf with 64-bit time_t (Debian trixie's C default): libc's 64-bit time layout.
    log "armhf with 64-bit time_t: Rust built with --cfg libc_unstable_gnu_time_bits=\"64\" (own target dir)"
    (
      v="CARGO_TARGET_${TRIPLE_UC}_RUSTFLAGS"
      export "$v=${!v} --cfg libc_unstable_gnu_time_bits=\"64\""
      export CARGO_TARGET_DIR=$TARGET_DIR/time64
      RPICAMSRC2_V4L2_ABI_PROBE=$TARGET_DIR/v4l2-abi-probe-time64.txt \
        cargo_cross test --lib -- --include-ignored v4l2::sys::tests
    )
  elif [[ $ARCH == armhf ]]; then
    log "armhf with 64-bit time_t: the probe ran above; the Rust side needs its own build of every crate, so '$0 armhf abi' checks it (not 'test')"
  fi
}

# --- tests under emulation ------------------------------------------------------------------
# Integration tests that emulation cannot run, with the reason; listed and counted, never
# skipped silently. Format: "test-file test-name reason".
EMULATION_SKIPS=(
  "lib camera::sim::tests::basics::frames_are_paced_and_sequenced asserts the simulated camera's frame period within a tolerance; under qemu-arm on a loaded 2-core host it measured 22.6 ms (fails alone too)"
  "rpicamsrc2 default_caps_are_1080p30_nv12_rec709_with_metadata asserts a real-time 1080p30 frame interval; rendering 1080p under qemu-arm took 357 ms a frame"
  "rpicamsrc2 high_rate_jpeg_dump_writes_300_decodable_files_without_drops asserts no drops at 640x480 90 fps; under qemu-arm 1252 of 1553 frames were dropped (too slow, not a bug)"
  "rpicamsrc2 control_changes_while_playing_show_within_the_sensor_delay asserts a control shows within the sensor delay in frames; under qemu-arm late frames made it 4"
)

run_tests() {
  local t0=$SECONDS failed=0
  log "unit tests under emulation (cargo test --lib)"
  local name skip args f tname
  args=()
  for skip in "${EMULATION_SKIPS[@]}"; do
    read -r f tname _ <<<"$skip"
    [[ $f == lib ]] && args+=(--skip "$tname")
  done
  RPICAMSRC2_V4L2_ABI_PROBE= cargo_cross test --lib -- "${args[@]}" || failed=1
  for name in rpicamsrc2 dualstream rpih264enc pipelines; do
    args=()
    for skip in "${EMULATION_SKIPS[@]}"; do
      read -r f tname _ <<<"$skip"
      [[ $f == "$name" ]] && args+=(--skip "$tname")
    done
    log "integration tests/$name.rs under emulation"
    cargo_cross test --test "$name" -- "${args[@]}" || failed=1
  done
  if ((${#EMULATION_SKIPS[@]})); then
    log "${#EMULATION_SKIPS[@]} test(s) not run under emulation:"
    for skip in "${EMULATION_SKIPS[@]}"; do log "  $skip"; done
  else
    log "0 tests not run under emulation"
  fi
  log "tests took $((SECONDS - t0)) s"
  return $failed
}

# The main job (scripts/main-job.sh) under emulation: a 1080p H.264 MP4 recording and a JPEG
# sequence, checked with ffprobe, all inside the sysroot.
main_job() {
  local frames=${RPICAMSRC2_ARM_MAIN_FRAMES:-300} jpegs=${RPICAMSRC2_ARM_JPEG_FRAMES:-270}
  local out=/tmp/rpicamsrc2-main-job t0=$SECONDS
  local plugin=$TARGET_DIR/$RUST_TARGET/$PROFILE
  [[ -f $plugin/libgstrpicamsrc2.so ]] || die "no $plugin/libgstrpicamsrc2.so: run '$0 $ARCH build' first"
  log "main job under emulation: $frames frames 1920x1080 H.264 in MP4, $jpegs JPEG frames 640x480"
  GST_PLUGIN_PATH=$plugin chroot_run /bin/bash -euo pipefail -c '
    out=$1 frames=$2 jpegs=$3
    rm -rf "$out"; mkdir -p "$out/jpeg"
    gst-launch-1.0 -q -e rpicamsrc2 num-buffers=$frames ! video/x-raw,width=1920,height=1080,framerate=30/1 \
      ! rpih264enc bitrate=8000000 iperiod=30 ! h264parse ! mp4mux ! filesink location=$out/recording.mp4
    gst-launch-1.0 -q rpicamsrc2 num-buffers=$jpegs ! video/x-raw,width=640,height=480,framerate=90/1 \
      ! jpegenc quality=85 ! multifilesink location=$out/jpeg/frame%05d.jpg
    got=$(ffprobe -v error -count_frames -select_streams v:0 \
      -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$out/recording.mp4")
    echo "main job: recording.mp4: $got (codec,width,height,frames)"
    [[ $got == "h264,1920,1080,$frames" ]] || { echo "main job: expected h264,1920,1080,$frames" >&2; exit 1; }
    n=$(ls "$out/jpeg" | wc -l)
    first=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height -of csv=p=0 "$out/jpeg/frame00000.jpg")
    echo "main job: $n JPEG files, first: $first"
    [[ $n -eq $jpegs && $first == "mjpeg,640,480" ]] || { echo "main job: expected $jpegs JPEGs of 640x480" >&2; exit 1; }
  ' bash "$out" "$frames" "$jpegs"
  log "main job took $((SECONDS - t0)) s"
}

# --- commands -------------------------------------------------------------------------------
main() {
  case "$CMD" in
    sysroot)
      check_sysroot_path
      ensure_host_tools
      ensure_binfmt
      in_namespace sysroot "$@"
      ensure_sysroot
      ;;
    build | test | abi | run)
      check_sysroot_path
      ensure_host_tools
      ensure_binfmt
      in_namespace "$CMD" "$@"
      ensure_sysroot
      fetch_crates
      cross_env
      local t0=$SECONDS
      case "$CMD" in
        build)
          cargo_cross build "$@"
          log "cross build took $((SECONDS - t0)) s"
          ;;
        test)
          cargo_cross build
          log "cross build took $((SECONDS - t0)) s"
          mount_sysroot "$SYSROOT" with-repo
          local rc=0
          abi_check || rc=1
          run_tests || rc=1
          main_job || rc=1
          ((rc == 0)) || die "some tests failed under emulation (see above)"
          log "all passed under emulation ($ARCH, $((SECONDS - t0)) s)"
          ;;
        abi)
          mount_sysroot "$SYSROOT" with-repo
          abi_check all
          ;;
        run)
          [[ ${1:-} == -- ]] && shift
          [[ $# -gt 0 ]] || die "usage: $0 $ARCH run -- CMD..."
          mount_sysroot "$SYSROOT" with-repo
          chroot_run "$@"
          ;;
      esac
      ;;
    exec-in-sysroot)
      # Cargo's runner (the sysroot is mounted by the 'test' command that runs cargo).
      [[ -d $SYSROOT$REPO/src ]] || die "exec-in-sysroot is cargo's runner inside '$0 $ARCH test'; run that instead"
      chroot_run "$@"
      ;;
    status)
      check_sysroot_path
      if [[ -e $SYSROOT.new ]]; then
        if [[ -e $SYSROOT.lock ]] && ! flock -n "$SYSROOT.lock" true; then
          echo "building: $SYSROOT.new (another arm.sh holds $SYSROOT.lock)"
        else
          echo "partial: $SYSROOT.new is a build that was interrupted; 'sysroot' rebuilds it"
        fi
      fi
      if sysroot_valid; then
        echo "ready: $SYSROOT"
      elif [[ -f $SYSROOT/$MARKER_REL ]]; then
        echo "out-of-date: $SYSROOT ('sysroot' rebuilds it)"
      else
        echo "missing: $SYSROOT ('sysroot' builds it)"
      fi
      ;;
    destroy)
      check_sysroot_path
      exec 9>"$SYSROOT.lock"
      flock -x 9
      safe_remove_ours "$SYSROOT"
      if [[ -f $SYSROOT.new/$PARTIAL_REL ]]; then safe_remove "$SYSROOT.new"; fi
      rm -f "$SYSROOT.new.log"
      ;;
    "") usage; exit 2 ;;
    *) die "unknown command '$CMD': use sysroot, build, test, abi, run, status or destroy" ;;
  esac
}

main "$@"; exit $?
