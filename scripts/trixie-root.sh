#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# A Debian trixie root with libcamera 0.4 and its *virtual* pipeline handler, used to build
# and test the libcamera backend against real libcamera on machines that have no camera
# (and no V4L2, no dma-buf heap). See README.md, "Testing against real libcamera".
#
# Usage:
#   scripts/trixie-root.sh ensure            build the root if it is missing or invalid
#   scripts/trixie-root.sh run -- CMD...     run CMD inside the root, in the repository
#   scripts/trixie-root.sh test              build with --features libcamera, run tests/libcamera.rs
#   scripts/trixie-root.sh bench             frames/s and CPU per frame at 640x480 and 1920x1080
#   scripts/trixie-root.sh shell             an interactive shell inside the root
#   scripts/trixie-root.sh destroy           remove the root
#
# Environment:
#   RPICAMSRC2_TRIXIE_ROOT   where the root lives (default /var/cache/rpicamsrc2/trixie-root);
#                            never inside the repository.
#   RPICAMSRC2_DEBIAN_MIRROR Debian mirror URI (default: the one in the host's apt sources).
#   RPICAMSRC2_TRIXIE_TARGET cargo target directory for builds inside the root (default
#                            target-trixie beside the root, shared by every clone).
#
# The root is reused when its marker matches the package list below and `cam --list` shows
# the virtual camera inside it. Commands run in a private mount namespace: the bind mounts
# (proc, dev, the repository, ~/.cargo, ~/.rustup) vanish when the command ends, and a trap
# unmounts them too where no namespace could be made. Must run as root.
set -euo pipefail

ROOT=${RPICAMSRC2_TRIXIE_ROOT:-/var/cache/rpicamsrc2/trixie-root}
SUITE=trixie
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CARGO_HOME_HOST=${CARGO_HOME:-/root/.cargo}
RUSTUP_HOME_HOST=${RUSTUP_HOME:-/root/.rustup}
# Builds inside the root link trixie's GStreamer 1.26 and libcamera 0.4: keep them apart from
# the host's target/, in a directory outside the repository that every clone on the machine
# shares (CI builds in a fresh clone: the dependencies stay built).
TARGET_IN_ROOT=${RPICAMSRC2_TRIXIE_TARGET:-$(dirname "$ROOT")/target-trixie}

# Installed with apt-get --no-install-recommends inside a minimal debootstrap root (debootstrap
# --include resolves no alternative dependencies, e.g. dconf-service's dbus-session-bus, and
# fails on this set). First line: the testbed recipe (libcamera with its virtual pipeline
# handler, GStreamer headers, C toolchain, libclang for bindgen). Second: what the tests need in
# the root: ffmpeg (ffprobe), bad/ugly/libav plugins (h264parse, x264enc, decoders), nasm
# (openh264's C source), git (the build.rs version helper), ca-certificates (cargo fetches).
PACKAGES=(
  libcamera-tools libcamera0.4 libcamera-dev gstreamer1.0-libcamera gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev build-essential pkg-config libclang-dev clang
  ffmpeg gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  nasm git ca-certificates libgstrtspserver-1.0-dev
)
MARKER_REL=etc/rpicamsrc2-root
VIRTUAL_YAML_REL=usr/share/libcamera/pipeline/virtual/virtual.yaml

log() { printf 'trixie-root: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot and mount need it)"
case "$ROOT" in
  "$REPO"|"$REPO"/*) die "RPICAMSRC2_TRIXIE_ROOT=$ROOT is inside the repository $REPO; choose a path outside it" ;;
  /|"") die "RPICAMSRC2_TRIXIE_ROOT must not be '$ROOT'" ;;
esac

marker_content() {
  printf 'suite=%s\npackages=%s\n' "$SUITE" "${PACKAGES[*]}"
}

# The first Debian archive URI of the host's apt sources (deb822 or one-line format),
# skipping security archives.
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

write_virtual_yaml() {
  local dir=$1
  mkdir -p "$dir/$(dirname "$VIRTUAL_YAML_REL")"
  cat >"$dir/$VIRTUAL_YAML_REL" <<'YAML'
%YAML 1.1
---
"Virtual0":
  supported_formats:
  - width: 1920
    height: 1080
    frame_rates: [30, 60]
  - width: 640
    height: 480
    frame_rates: [30, 90]
  test_pattern: "bars"
  location: "CameraLocationFront"
  model: "Virtual Video Device"
YAML
}

# --- mounts ------------------------------------------------------------------------------
MOUNTED=()
unmount_all() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount -l "${MOUNTED[i]}" 2>/dev/null || true
  done
  MOUNTED=()
}
do_mount() { # do_mount TARGET ARGS...
  local target=$1; shift
  mkdir -p "$target"
  mount "$@" "$target"
  MOUNTED+=("$target")
}
mount_root() {
  local dir=$1
  trap unmount_all EXIT
  do_mount "$dir/proc" -t proc proc
  do_mount "$dir/dev" --bind /dev
  do_mount "$dir/sys" --bind /sys
  do_mount "$dir/tmp" -t tmpfs -o size=4g tmpfs
  [[ -d $CARGO_HOME_HOST ]] && do_mount "$dir/root/.cargo" --bind "$CARGO_HOME_HOST"
  [[ -d $RUSTUP_HOME_HOST ]] && do_mount "$dir/root/.rustup" --bind "$RUSTUP_HOME_HOST"
  do_mount "$dir$REPO" --bind "$REPO"
  mkdir -p "$TARGET_IN_ROOT"
  do_mount "$dir$TARGET_IN_ROOT" --bind "$TARGET_IN_ROOT"
  cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
}

# chroot_run DIR CMD...: run CMD in DIR (already mounted), in the repository, with a clean
# environment that still passes the few variables the tests and builds care about.
chroot_run() {
  local dir=$1; shift
  local -a envs=(
    HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8
    PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    CARGO_TARGET_DIR="$TARGET_IN_ROOT"
  )
  # libcamera's DmaBufAllocator errors are expected here (no dma-buf heap: the backend falls
  # back to memfd buffers) and there is no IPA for the virtual camera.
  envs+=("LIBCAMERA_LOG_LEVELS=${LIBCAMERA_LOG_LEVELS:-DmaBufAllocator:FATAL,IPAManager:ERROR,*:WARN}")
  local v
  for v in CI CARGO_BUILD_JOBS CARGO_TERM_COLOR RUST_BACKTRACE RUST_LOG GST_DEBUG \
    GST_DEBUG_FILE RPICAMSRC2_BENCH_FRAMES RPICAMSRC2_TEST_FRAMES; do
    [[ -n ${!v:-} ]] && envs+=("$v=${!v}")
  done
  chroot "$dir" /usr/bin/env -i "${envs[@]}" /bin/bash -c 'cd "$1" && shift && exec "$@"' \
    bash "$REPO" "$@"
}

# Runs "$0 <args>" again in a private mount namespace, so that mounts never leak to the host.
in_namespace() {
  if [[ -z ${RPICAMSRC2_IN_NS:-} ]] && unshare -m --propagation private true 2>/dev/null; then
    RPICAMSRC2_IN_NS=1 exec unshare -m --propagation private bash "$0" "$@"
  fi
}

# --- validity and building -----------------------------------------------------------------
root_valid() {
  local dir=$1
  [[ -f $dir/$MARKER_REL ]] || return 1
  [[ $(cat "$dir/$MARKER_REL") == "$(marker_content)" ]] || return 1
  [[ -x $dir/usr/bin/cam ]] || return 1
  return 0
}

# Verifies inside the (mounted) root that libcamera sees the virtual camera.
check_cam_list() {
  local dir=$1 out
  out=$(chroot_run "$dir" cam --list 2>&1) || { log "cam --list failed in $dir: $out"; return 1; }
  grep -q 'Virtual0' <<<"$out" || { log "cam --list in $dir shows no virtual camera: $out"; return 1; }
}

build_root() {
  local mirror tmp
  mirror=${RPICAMSRC2_DEBIAN_MIRROR:-$(host_mirror)} ||
    die "found no Debian mirror in /etc/apt/sources*; set RPICAMSRC2_DEBIAN_MIRROR"
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap on the host"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  tmp=$ROOT.new
  safe_remove "$tmp"
  log "debootstrap $SUITE into $tmp from $mirror (takes several minutes)"
  debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" >"$tmp.log" 2>&1 ||
    { tail -n 30 "$tmp.log" >&2; die "debootstrap failed (full log: $tmp.log)"; }
  log "installing ${#PACKAGES[@]} packages inside the root (apt-get, several minutes)"
  # No service may start inside the root.
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
  chmod +x "$tmp/usr/sbin/policy-rc.d"
  (
    mount_root "$tmp"
    chroot_run "$tmp" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" && apt-get clean' \
      sh "${PACKAGES[@]}"
  ) >>"$tmp.log" 2>&1 || { tail -n 30 "$tmp.log" >&2; die "apt-get install in the root failed (full log: $tmp.log)"; }
  rm -f "$tmp/var/cache/apt/archives/"*.deb
  marker_content >"$tmp/$MARKER_REL"
  safe_remove "$ROOT"
  mv "$tmp" "$ROOT"
  log "root ready at $ROOT"
}

# A root of the right suite whose package list changed: install the packages inside it.
update_root() {
  log "installing the changed package list inside $ROOT"
  (
    mount_root "$ROOT"
    chroot_run "$ROOT" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" && apt-get clean' \
      sh "${PACKAGES[@]}"
  ) >>"$ROOT.update.log" 2>&1 || { log "update failed (log: $ROOT.update.log)"; return 1; }
  marker_content >"$ROOT/$MARKER_REL"
}

# Refuses to delete a directory with anything mounted below it (the bind mounts of ~/.cargo
# or the repository must never be deleted through it).
safe_remove() {
  local dir=$1
  [[ -e $dir ]] || return 0
  if awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    die "$dir has mounts below it; unmount them first"
  fi
  rm -rf --one-file-system "$dir"
}

ensure_root() {
  mkdir -p "$(dirname "$ROOT")"
  exec 9>"$ROOT.lock"
  flock -x 9
  if root_valid "$ROOT"; then
    : # maybe valid; the cam --list check runs after mounting
  elif [[ -x $ROOT/usr/bin/apt-get && -f $ROOT/$MARKER_REL ]] &&
    grep -qx "suite=$SUITE" "$ROOT/$MARKER_REL" && update_root; then
    log "root at $ROOT updated to the package list"
  else
    [[ -e $ROOT ]] && log "root at $ROOT is incomplete: rebuilding"
    build_root
  fi
  write_virtual_yaml "$ROOT"
  flock -s 9 # others may use the root concurrently from here on; no one rebuilds it
}

# --- commands ------------------------------------------------------------------------------
# (In a function, read whole before it runs: editing the script meanwhile cannot derail it.)
main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    ensure)
      in_namespace ensure "$@"
      ensure_root
      mount_root "$ROOT"
      if ! check_cam_list "$ROOT"; then
        unmount_all
        log "rebuilding the root"
        rm -f "$ROOT/$MARKER_REL"
        flock -x 9
        build_root
        write_virtual_yaml "$ROOT"
        mount_root "$ROOT"
        check_cam_list "$ROOT" || die "the virtual camera is not listed even in a fresh root"
      fi
      log "valid: $(chroot_run "$ROOT" cam --list 2>/dev/null | grep Virtual0 | sed 's/^ *//')"
      ;;
    run | shell | test | bench)
      in_namespace "$cmd" "$@"
      ensure_root
      mount_root "$ROOT"
      check_cam_list "$ROOT" || die "the root at $ROOT does not list the virtual camera; run '$0 ensure'"
      case "$cmd" in
        run)
          [[ ${1:-} == -- ]] && shift
          [[ $# -gt 0 ]] || die "usage: $0 run -- CMD..."
          chroot_run "$ROOT" "$@"
          ;;
        shell) chroot_run "$ROOT" bash -i ;;
        test)
          # The backend's unit tests, then the suite against the virtual camera (one test at a
          # time: libcamera lets one user acquire a camera).
          if [[ $# -eq 0 ]]; then
            chroot_run "$ROOT" cargo test --locked --features libcamera --lib camera::libcamera
          fi
          chroot_run "$ROOT" cargo test --locked --features libcamera --test libcamera -- \
            --test-threads=1 "$@"
          ;;
        bench)
          chroot_run "$ROOT" cargo run --locked --release --features libcamera \
            --example libcamera_bench -- "$@"
          ;;
      esac
      ;;
    destroy)
      exec 9>"$ROOT.lock"
      flock -x 9
      safe_remove "$ROOT"
      rm -f "$ROOT.new.log"
      ;;
    *)
      sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      [[ -z $cmd ]] && exit 2
      die "unknown command '$cmd'"
      ;;
  esac
}

main "$@"; exit $?
