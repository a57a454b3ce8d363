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
#   scripts/trixie-root.sh status            what is at RPICAMSRC2_TRIXIE_ROOT (changes nothing):
#                                            ready, out-of-date, partial (an interrupted build,
#                                            rebuilt by ensure), missing; exits 1 for a path
#                                            that is not a root of ours
#   scripts/trixie-root.sh destroy           remove the root (only one this script made)
#
# Environment:
#   RPICAMSRC2_TRIXIE_ROOT   where the root lives (default /var/cache/rpicamsrc2/trixie-root);
#                            never inside the repository.
#   RPICAMSRC2_DEBIAN_MIRROR Debian mirror URI (default: the one in the host's apt sources).
#   RPICAMSRC2_TRIXIE_TARGET cargo target directory for builds inside the root (default
#                            target-trixie beside the root, shared by every clone).
#
# The root is reused when its marker matches the package list below and `cam --list` shows
# the virtual camera inside it. It is built in ROOT.new and moved into place only when complete
# (the marker is written last), so a build that was interrupted is detected and redone, never
# half-used. A ROOT that exists but is not a root this script made (a file, or a non-empty
# directory without the marker) is refused with an error, and nothing in it is deleted.
#
# Cargo never reaches the network inside the root: the host runs `cargo fetch --locked` first
# (every dependency of every feature and target in Cargo.lock, into the host's CARGO_HOME, which
# the root sees), and cargo inside the root runs offline. The only step inside the root that
# uses the network is apt-get while the root is built; it gets the host's proxy and CA
# certificate settings explicitly. Commands run in a private mount namespace: the bind mounts
# (proc, dev, the repository, ~/.cargo, ~/.rustup) vanish when the command ends, and a trap
# unmounts them too where no namespace could be made. Must run as root.
set -euo pipefail

ROOT=${RPICAMSRC2_TRIXIE_ROOT:-/var/cache/rpicamsrc2/trixie-root}
SUITE=trixie
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
CARGO_HOME_HOST=${CARGO_HOME:-$HOME/.cargo}
RUSTUP_HOME_HOST=${RUSTUP_HOME:-$HOME/.rustup}
# Where the host's cargo and rustup appear inside the root (bind mounts; see mount_root).
CARGO_HOME_IN=/opt/rpicamsrc2/cargo-home
RUSTUP_HOME_IN=/opt/rpicamsrc2/rustup-home
CARGO_BIN_IN=/opt/rpicamsrc2/cargo-bin
HOST_CA_IN=etc/rpicamsrc2-host-ca.crt
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
# A root for another purpose adds its packages here (scripts/vm.sh: the guest's kernel, headers,
# kernel source, kmod, udev); they are part of the marker, so the root is rebuilt when they change.
# shellcheck disable=SC2206
PACKAGES+=(${RPICAMSRC2_TRIXIE_EXTRA_PACKAGES:-})
MARKER_REL=etc/rpicamsrc2-root
# Present in ROOT.new from its first moment: a half-built root of ours, safe to delete.
PARTIAL_REL=.rpicamsrc2-partial-root
VIRTUAL_YAML_REL=usr/share/libcamera/pipeline/virtual/virtual.yaml

log() { printf 'trixie-root: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# check_root_path, host_mirror, safe_remove, safe_remove_ours, do_mount, unmount_all,
# in_namespace: shared with scripts/arm.sh.
ROOT_KIND=root
ROOT_LABEL="RPICAMSRC2_TRIXIE_ROOT=$ROOT"
ROOT_ELSEWHERE="point RPICAMSRC2_TRIXIE_ROOT at a new or empty directory"
# shellcheck source=scripts/lib/root.sh
source "$REPO/scripts/lib/root.sh"

# The host's CA bundle (the certificate settings the host's own tools use), if any.
host_ca_bundle() {
  local f
  for f in "${SSL_CERT_FILE:-}" "${CURL_CA_BUNDLE:-}" /etc/ssl/certs/ca-certificates.crt; do
    [[ -n $f && -f $f ]] && { echo "$f"; return 0; }
  done
  return 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot and mount need it)"
case "$ROOT" in
  "$REPO"|"$REPO"/*) die "RPICAMSRC2_TRIXIE_ROOT=$ROOT is inside the repository $REPO; choose a path outside it" ;;
  /|"") die "RPICAMSRC2_TRIXIE_ROOT must not be '$ROOT'" ;;
esac

marker_content() {
  printf 'suite=%s\npackages=%s\n' "$SUITE" "${PACKAGES[*]}"
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
mount_root() {
  local dir=$1
  trap unmount_all EXIT
  do_mount "$dir/proc" -t proc proc
  do_mount "$dir/dev" --bind /dev
  do_mount "$dir/sys" --bind /sys
  do_mount "$dir/tmp" -t tmpfs -o size=4g tmpfs
  mkdir -p "$CARGO_HOME_HOST"
  do_mount "$dir$CARGO_HOME_IN" --bind "$CARGO_HOME_HOST"
  [[ -d $RUSTUP_HOME_HOST ]] && do_mount "$dir$RUSTUP_HOME_IN" --bind "$RUSTUP_HOME_HOST"
  # cargo and rustc: the host's rustup proxies (or toolchain binaries), wherever CARGO_HOME is.
  local cargo_bin
  cargo_bin=$(dirname "$(command -v cargo)")
  do_mount "$dir$CARGO_BIN_IN" --bind "$cargo_bin"
  do_mount "$dir$REPO" --bind "$REPO"
  mkdir -p "$TARGET_IN_ROOT"
  do_mount "$dir$TARGET_IN_ROOT" --bind "$TARGET_IN_ROOT"
  cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
  local ca
  if ca=$(host_ca_bundle); then cp -L "$ca" "$dir/$HOST_CA_IN"; else rm -f "$dir/$HOST_CA_IN"; fi
}

# chroot_run DIR CMD...: run CMD in DIR (already mounted), in the repository, with a clean
# environment that still passes the few variables the tests and builds care about.
chroot_run() {
  local dir=$1; shift
  local -a envs=(
    HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8
    PATH=$CARGO_BIN_IN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    CARGO_HOME=$CARGO_HOME_IN RUSTUP_HOME=$RUSTUP_HOME_IN
    CARGO_TARGET_DIR="$TARGET_IN_ROOT"
    # Crates come from the host's CARGO_HOME (see fetch_crates), never from the network.
    CARGO_NET_OFFLINE=true
  )
  # libcamera's DmaBufAllocator errors are expected here (no dma-buf heap: the backend falls
  # back to memfd buffers) and there is no IPA for the virtual camera.
  envs+=("LIBCAMERA_LOG_LEVELS=${LIBCAMERA_LOG_LEVELS:-DmaBufAllocator:FATAL,IPAManager:ERROR,*:WARN}")
  local v
  for v in CI RUSTUP_TOOLCHAIN CARGO_BUILD_JOBS CARGO_TERM_COLOR RUST_BACKTRACE RUST_LOG GST_DEBUG \
    GST_DEBUG_FILE RPICAMSRC2_BENCH_FRAMES RPICAMSRC2_TEST_FRAMES; do
    [[ -n ${!v:-} ]] && envs+=("$v=${!v}")
  done
  chroot "$dir" /usr/bin/env -i "${envs[@]}" /bin/bash -c 'cd "$1" && shift && exec "$@"' \
    bash "$REPO" "$@"
}

# apt_in_root DIR PACKAGES...: apt-get inside the root, the one step there that uses the
# network. It gets the host's proxy settings and CA certificates explicitly (an https mirror or
# a TLS-intercepting proxy must be trusted as the host trusts it), nothing else of the host's
# environment.
apt_in_root() {
  local dir=$1; shift
  local -a envs=(/usr/bin/env)
  local opts="" v
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [[ -n ${!v:-} ]] && envs+=("$v=${!v}")
  done
  if [[ -f $dir/$HOST_CA_IN ]]; then
    envs+=("SSL_CERT_FILE=/$HOST_CA_IN" "CURL_CA_BUNDLE=/$HOST_CA_IN")
    opts="-o Acquire::https::CaInfo=/$HOST_CA_IN"
  fi
  chroot_run "$dir" "${envs[@]}" /bin/sh -c 'opts=$1; shift; apt-get $opts update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get $opts install -y -q --no-install-recommends "$@" &&
    apt-get clean' sh "$opts" "$@"
}

# The host fetches every crate that builds inside the root (every feature and target in
# Cargo.lock) into its CARGO_HOME, so that cargo there runs offline.
fetch_crates() {
  local out
  log "fetching crates on the host (cargo fetch --locked, CARGO_HOME=$CARGO_HOME_HOST)"
  if ! out=$(cd "$REPO" && CARGO_HOME=$CARGO_HOME_HOST cargo fetch --locked 2>&1); then
    printf '%s\n' "$out" | tail -n 15 >&2
    die "step 'fetch crates' failed: 'cargo fetch --locked' in $REPO could not download the crates the root builds. Check that this machine reaches the crate registry (network, proxy variables, CA certificates: SSL_CERT_FILE or CARGO_HTTP_CAINFO), then rerun. Inside the root cargo runs offline and needs these crates."
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
  mkdir -p "$tmp"
  : >"$tmp/$PARTIAL_REL"
  log "debootstrap $SUITE into $tmp from $mirror (takes several minutes)"
  debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" >"$tmp.log" 2>&1 ||
    { tail -n 30 "$tmp.log" >&2; die "step 'build the root' failed: debootstrap $SUITE from $mirror (full log: $tmp.log). Check the network and the mirror (RPICAMSRC2_DEBIAN_MIRROR), then rerun: the half-built root is rebuilt."; }
  log "installing ${#PACKAGES[@]} packages inside the root (apt-get, several minutes)"
  # No service may start inside the root.
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
  chmod +x "$tmp/usr/sbin/policy-rc.d"
  (
    mount_root "$tmp"
    apt_in_root "$tmp" "${PACKAGES[@]}"
  ) >>"$tmp.log" 2>&1 || { tail -n 30 "$tmp.log" >&2; die "step 'build the root' failed: apt-get install of ${#PACKAGES[@]} packages inside $tmp (full log: $tmp.log). Check the network and the mirror, then rerun: the half-built root is rebuilt."; }
  rm -f "$tmp/var/cache/apt/archives/"*.deb
  marker_content >"$tmp/$MARKER_REL"
  rm -f "$tmp/$PARTIAL_REL"
  safe_remove_ours "$ROOT"
  mv -T "$tmp" "$ROOT"
  log "root ready at $ROOT"
}

# A root of the right suite whose package list changed: install the packages inside it.
update_root() {
  log "installing the changed package list inside $ROOT"
  (
    mount_root "$ROOT"
    apt_in_root "$ROOT" "${PACKAGES[@]}"
  ) >>"$ROOT.update.log" 2>&1 || { log "update failed (log: $ROOT.update.log)"; return 1; }
  marker_content >"$ROOT/$MARKER_REL"
}

ensure_root() {
  check_root_path "$ROOT"
  mkdir -p "$(dirname "$ROOT")"
  exec 9>"$ROOT.lock"
  flock -x 9
  if root_valid "$ROOT"; then
    : # maybe valid; the cam --list check runs after mounting
  elif [[ -x $ROOT/usr/bin/apt-get && -f $ROOT/$MARKER_REL ]] &&
    grep -qx "suite=$SUITE" "$ROOT/$MARKER_REL" && update_root; then
    log "root at $ROOT updated to the package list"
  else
    [[ -e $ROOT.new ]] && log "$ROOT.new is a root whose build was interrupted: rebuilding it"
    [[ -f $ROOT/$MARKER_REL ]] && log "root at $ROOT is out of date or damaged: rebuilding"
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
      fetch_crates
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
          # time: libcamera lets one user acquire a camera). tests/vm_libcamera.rs is built too,
          # so that it keeps compiling; its tests need the VM guest and are ignored here.
          if [[ $# -eq 0 ]]; then
            chroot_run "$ROOT" cargo test --offline --locked --features libcamera --lib camera::libcamera
          fi
          chroot_run "$ROOT" cargo test --offline --locked --features libcamera --test libcamera \
            --test vm_libcamera -- --test-threads=1 "$@"
          ;;
        bench)
          chroot_run "$ROOT" cargo run --offline --locked --release --features libcamera \
            --example libcamera_bench -- "$@"
          ;;
      esac
      ;;
    status)
      check_root_path "$ROOT"
      if [[ -e $ROOT.new ]]; then
        echo "partial: $ROOT.new is a build that was interrupted; 'ensure' rebuilds it"
      fi
      if root_valid "$ROOT"; then
        echo "ready: $ROOT"
      elif [[ -f $ROOT/$MARKER_REL ]]; then
        echo "out-of-date: $ROOT ('ensure' updates or rebuilds it)"
      else
        echo "missing: $ROOT ('ensure' builds it)"
      fi
      ;;
    destroy)
      check_root_path "$ROOT"
      exec 9>"$ROOT.lock"
      flock -x 9
      safe_remove_ours "$ROOT"
      if [[ -f $ROOT.new/$PARTIAL_REL ]]; then safe_remove "$ROOT.new"; fi
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
