#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# Raspberry Pi builds on an x86-64 Debian machine: cross-builds for arm64 (Pi 3/4/5, 64-bit
# Raspberry Pi OS) and armhf (32-bit Raspberry Pi OS), tested under qemu-user emulation. See
# README.md, "On a Raspberry Pi", and docs/arm.md.
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
#   scripts/arm.sh ARCH deb          release build, Debian package (dpkg-shlibdeps against the
#                                    sysroot), lintian, then apt-get install in an overlay of
#                                    the sysroot and gst-inspect-1.0 rpicamsrc2 (emulated)
#   scripts/arm.sh ARCH run -- CMD.. run CMD inside the sysroot (emulated), in the repository
#   scripts/arm.sh ARCH status       what is at the sysroot path (changes nothing)
#   scripts/arm.sh ARCH destroy      remove the sysroot (only one this script made)
# ARCH is arm64, armhf, or armhf-time64: armhf built with 64-bit time_t (Rust's libc with
# --cfg libc_unstable_gnu_time_bits="64", as Debian trixie's armhf C libraries are built; its own
# target directory target-armhf-time64, the armhf sysroot).
#
# Environment:
#   RPICAMSRC2_ARM_CACHE     where the sysroots and target directories live (default
#                            /var/cache/rpicamsrc2): sysroot-ARCH, target-ARCH. Never inside the
#                            repository.
#   RPICAMSRC2_DEBIAN_MIRROR Debian mirror URI (default: the one in the host's apt sources).
#   RPICAMSRC2_DEBIAN_KEYRING the keyring the mirror's Release file is checked with (default
#                            /usr/share/keyrings/debian-archive-keyring.gpg).
#   ARM_PROFILE              debug (default) or release.
#   ARM_TEST_ONLY            `test` runs only these parts (space-separated): abi, lib (the unit
#                            tests), main-job, or test file names (rpicamsrc2, stall, ...).
#   ARM_TEST_THREADS         test threads per emulated test file (default 1).
#
# How: the target's libraries come from a Debian trixie root of that architecture (the base of
# current Raspberry Pi OS), never from the host's package set (host multiarch -dev packages
# replace the host's own and break the host build). The sysroot's packages are resolved and
# downloaded by the host's apt (a private configuration for ARCH) and unpacked natively; only a
# few maintainer scripts run under qemu-user-static (see build_sysroot). It is built in
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

# The sysroot's packages (with Priority: required, as debootstrap's minbase, and apt), resolved
# by apt without recommends; only what the build and the tests need. First line: what the crate links (Cargo.toml: gstreamer, -base, -video,
# -allocators, -app, -pbutils, -check, -rtsp-server, glib-unix; openh264's C++) and the kernel
# headers for the V4L2 probe; second: what the tests and the main job run (gst-launch-1.0;
# h264parse from -bad; mp4mux, jpegenc, rtspsrc from -good; avdec_h264 from -libav; x264enc,
# rpih264enc's fastest software engine and the tests' peer, from -ugly; textoverlay and
# clockoverlay of the overlay recipes from -x; ffprobe).
# A sysroot made with more packages (an older, longer list) still serves: see sysroot_valid.
PACKAGES=(
  libc6-dev linux-libc-dev libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libgstrtspserver-1.0-dev libstdc++6
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-libav gstreamer1.0-plugins-ugly gstreamer1.0-x ffmpeg
)
# Host packages: the cross compilers, the emulator, and glib-compile-schemas (see
# compile_schemas).
HOST_PACKAGES=(qemu-user-static binfmt-support libglib2.0-bin)
MARKER_REL=etc/rpicamsrc2-sysroot
PARTIAL_REL=.rpicamsrc2-partial-sysroot

log() { printf 'arm.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# check_root_path, host_mirror, safe_remove, safe_remove_ours, do_mount, unmount_all,
# in_namespace: shared with scripts/trixie-root.sh.
ROOT_KIND=sysroot
# shellcheck source=scripts/lib/root.sh
source "$REPO/scripts/lib/root.sh"

usage() { sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

ARCH=${1:-}
CMD=${2:-}
TIME64=
case "$ARCH" in
  arm64) DEB_ARCH=arm64 RUST_TARGET=aarch64-unknown-linux-gnu GNU=aarch64-linux-gnu QEMU=qemu-aarch64 ;;
  armhf) DEB_ARCH=armhf RUST_TARGET=armv7-unknown-linux-gnueabihf GNU=arm-linux-gnueabihf QEMU=qemu-arm ;;
  armhf-time64) DEB_ARCH=armhf RUST_TARGET=armv7-unknown-linux-gnueabihf GNU=arm-linux-gnueabihf QEMU=qemu-arm TIME64=1 ;;
  -h | --help | help) usage; exit 0 ;;
  "") usage; exit 2 ;;
  *) die "unknown architecture '$ARCH': use arm64 (64-bit Raspberry Pi OS, Pi 3/4/5), armhf (32-bit Raspberry Pi OS) or armhf-time64 (armhf with 64-bit time_t)" ;;
esac
[[ $# -ge 2 ]] && shift 2 || shift $#
HOST_PACKAGES+=("gcc-$GNU" "g++-$GNU")
SYSROOT=$CACHE/sysroot-$DEB_ARCH
ROOT_LABEL=$SYSROOT
ROOT_ELSEWHERE="set RPICAMSRC2_ARM_CACHE to another directory"
TARGET_DIR=${RPICAMSRC2_ARM_TARGET:-$CACHE/target-$ARCH}
TRIPLE_UC=$(tr 'a-z-' 'A-Z_' <<<"$RUST_TARGET")
TRIPLE_LC=${RUST_TARGET//-/_}

[[ $(id -u) -eq 0 ]] || die "must run as root (chroot, mount and the sysroot's file ownership need it)"
for p in "$SYSROOT" "$TARGET_DIR"; do
  case "$p" in
    "$REPO" | "$REPO"/*) die "$p is inside the repository $REPO; set RPICAMSRC2_ARM_CACHE to a path outside it" ;;
    / | "") die "refusing '$p' as a cache path" ;;
  esac
done

# --- host tools ------------------------------------------------------------------------------
ensure_host_tools() {
  local missing=() p
  for p in "${HOST_PACKAGES[@]}"; do
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

marker_content() { printf 'suite=%s\narch=%s\npackages=%s\n' "$SUITE" "$DEB_ARCH" "${PACKAGES[*]}"; }

# Valid: made by this script for this suite and architecture, with at least the packages of
# PACKAGES (a superset, from an earlier longer list, serves as well).
sysroot_valid() {
  local m=$SYSROOT/$MARKER_REL p
  [[ -f $m && -x $SYSROOT/usr/bin/gst-launch-1.0 ]] || return 1
  grep -qx "suite=$SUITE" "$m" && grep -qx "arch=$DEB_ARCH" "$m" || return 1
  local have=" $(sed -n 's/^packages=//p' "$m") "
  for p in "${PACKAGES[@]}"; do [[ $have == *" $p "* ]] || return 1; done
}

# --- mounts -----------------------------------------------------------------------------------
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

# chroot_run CMD...: CMD inside the (mounted) sysroot, in the repository, clean environment.
chroot_run() {
  # RPICAMSRC2_EMULATED: tests that measure RSS (which under qemu-user includes the emulator's
  # translated code) bound the C heap instead (tests/robustness.rs).
  local -a envs=(HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
    RPICAMSRC2_EMULATED="qemu-user $ARCH")
  local v
  for v in RUST_BACKTRACE RUST_LOG GST_DEBUG GST_DEBUG_FILE RPICAMSRC2_TEST_FRAMES GST_PLUGIN_PATH RPICAMSRC2_V4L2_ABI_PROBE \
    RPICAMSRC2_SOAK_SECS \
    http_proxy https_proxy no_proxy; do
    [[ -n ${!v:-} ]] && envs+=("$v=${!v}")
  done
  chroot "$SYSROOT" /usr/bin/env -i "${envs[@]}" /bin/bash -c 'cd "$1" && shift && exec "$@"' \
    bash "$REPO" "$@"
}

# --- building the sysroot -------------------------------------------------------------------
# No foreign code runs until the files are in place, because emulated dpkg and maintainer scripts
# were the slow part (debootstrap --foreign + apt-get inside: 77.5 min at load 10-19):
# 1. the host's apt, with a private configuration for ARCH (state, lists, archives all inside
#    SYSROOT.new), resolves Priority: required (debootstrap's minbase), apt and PACKAGES and
#    downloads them, checked against the host's Debian archive keyring;
# 2. each package is unpacked natively (dpkg-deb --fsys-tarfile | tar, keeping base-files'
#    merged-/usr symlinks) and registered in the sysroot's dpkg database: its control file with
#    "Status: install ok installed", its control members (md5sums, shlibs, symbols, triggers,
#    maintainer scripts) under var/lib/dpkg/info, its file list (what dpkg-shlibdeps reads for
#    `deb`, and what dpkg and apt need to install the package in `deb`);
# 3. under emulation, only the maintainer scripts whose result is used (dpkg --configure of
#    those packages, left "unpacked" in step 2): base-passwd (/etc/passwd, /etc/group),
#    libc-bin (ld.so.cache for the multiarch library directories) and every package whose
#    postinst registers alternatives (libblas.so.3 and liblapack.so.3, which ffmpeg links, are
#    alternatives; also awk, which, pager...). The other postinsts only build caches nothing
#    here reads (MIME, icons, fonts, certificates); running them all under emulation took
#    17 min at load 12-14. GSettings' schema cache is read (GIO aborts without it): the host
#    compiles it natively (compile_schemas).
SYSROOT_CONFIGURE_ALWAYS=(base-passwd libc-bin)
DEBIAN_KEYRING=${RPICAMSRC2_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}

# apt_for_sysroot DIR ARGS...: the host's apt-get for ARCH, its state inside DIR.
apt_for_sysroot() {
  local dir=$1; shift
  apt-get -o Dir="$dir" -o Dir::State::Status="$dir/var/lib/dpkg/status" \
    -o APT::Architecture="$DEB_ARCH" -o APT::Architectures::="$DEB_ARCH" \
    -o Acquire::Languages=none -o APT::Install-Recommends=false -o Debug::NoLocking=true "$@"
}

# unpack_and_register DIR DEB STATUS: unpacks DEB into DIR and records it in DIR's dpkg
# database with the given status word (installed, unpacked).
unpack_and_register() {
  local dir=$1 deb=$2 state=$3 ctl=$1/.rpicamsrc2-control pkg arch name f b
  rm -rf "$ctl" && mkdir -p "$ctl"
  dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$ctl"
  pkg=$(sed -n 's/^Package: //p' "$ctl/control")
  arch=$(sed -n 's/^Architecture: //p' "$ctl/control")
  name=$pkg
  grep -qx 'Multi-Arch: same' "$ctl/control" && name=$pkg:$arch
  dpkg-deb --fsys-tarfile "$deb" | tar -xv --keep-directory-symlink -C "$dir" |
    sed -e 's|^\./|/|' -e 's|/$||' -e 's|^$|/.|' >"$dir/var/lib/dpkg/info/$name.list"
  for f in "$ctl"/*; do
    b=${f##*/}
    [[ $b == control ]] || cp -p "$f" "$dir/var/lib/dpkg/info/$name.$b"
  done
  { sed "/^Package:/a Status: install ok $state" "$ctl/control"; echo; } >>"$dir/var/lib/dpkg/status"
  rm -rf "$ctl"
  [[ $state == installed ]] || echo "$pkg"
}

build_sysroot() {
  local mirror tmp=$SYSROOT.new t
  mirror=${RPICAMSRC2_DEBIAN_MIRROR:-$(host_mirror)} ||
    die "found no Debian mirror in /etc/apt/sources*; set RPICAMSRC2_DEBIAN_MIRROR"
  [[ -f $DEBIAN_KEYRING ]] ||
    die "no Debian archive keyring at $DEBIAN_KEYRING: run 'apt-get install debian-archive-keyring' or set RPICAMSRC2_DEBIAN_KEYRING"
  [[ -e $tmp ]] && log "$tmp is a sysroot whose build was interrupted: rebuilding it"
  safe_remove "$tmp"
  mkdir -p "$tmp"
  : >"$tmp/$PARTIAL_REL"
  mkdir -p "$tmp"/etc/apt/{apt.conf.d,preferences.d,sources.list.d,trusted.gpg.d} \
    "$tmp"/var/lib/apt/lists/partial "$tmp"/var/cache/apt/archives/partial \
    "$tmp"/var/lib/dpkg/{info,updates,triggers,alternatives}
  : >"$tmp/var/lib/dpkg/status"
  echo "deb [signed-by=$DEBIAN_KEYRING] $mirror $SUITE main" >"$tmp/etc/apt/sources.list"
  t=$SECONDS
  log "resolving and downloading $SUITE $DEB_ARCH packages from $mirror with the host's apt (Priority: required, apt, ${#PACKAGES[@]} packages)"
  { apt_for_sysroot "$tmp" update -q && apt_for_sysroot "$tmp" install -y -q --download-only \
    '?priority(required)' apt "${PACKAGES[@]}"; } >"$tmp.log" 2>&1 ||
    { tail -n 30 "$tmp.log" >&2; die "step 'sysroot: download' failed (log: $tmp.log); check the network and RPICAMSRC2_DEBIAN_MIRROR, then rerun: the half-built sysroot is rebuilt"; }
  local -a debs
  debs=("$tmp"/var/cache/apt/archives/*.deb)
  log "downloaded ${#debs[@]} packages in $((SECONDS - t)) s; unpacking them natively"
  t=$SECONDS
  # Which packages get their postinst run under emulation (see above).
  local -A configure=()
  local p deb
  for p in "${SYSROOT_CONFIGURE_ALWAYS[@]}"; do configure[$p]=1; done
  local -a later=()
  for deb in "${debs[@]}"; do
    p=$(dpkg-deb -f "$deb" Package)
    if [[ -z ${configure[$p]:-} ]] && dpkg-deb -I "$deb" postinst 2>/dev/null | grep -q 'update-alternatives'; then
      configure[$p]=1
    fi
    if [[ -n ${configure[$p]:-} ]]; then
      later+=("$(unpack_and_register "$tmp" "$deb" unpacked)")
    else
      unpack_and_register "$tmp" "$deb" installed
    fi
  done >>"$tmp.log" 2>&1 ||
    { tail -n 30 "$tmp.log" >&2; die "step 'sysroot: unpack' failed in $tmp (log: $tmp.log); rerun: the half-built sysroot is rebuilt"; }
  [[ -L $tmp/bin && -x $tmp/usr/bin/sh ]] ||
    die "step 'sysroot: unpack': $tmp has no merged /usr (base-files' /bin symlink) or no /usr/bin/sh (log: $tmp.log)"
  # The package lists go too: `deb` installs a local package whose dependencies are all there,
  # and with the lists apt under emulation first builds its cache of the whole archive (an
  # apt-get install of one package into an overlay took 12.4 min at load 17 with them, 93 s
  # without).
  rm -f "$tmp/var/cache/apt/archives/"*.deb
  rm -rf "$tmp"/var/lib/apt/lists/* && mkdir -p "$tmp/var/lib/apt/lists/partial"
  log "unpacked in $((SECONDS - t)) s; configuring under emulation: ${later[*]}"
  t=$SECONDS
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
  chmod +x "$tmp/usr/sbin/policy-rc.d"
  (
    mount_sysroot "$tmp"
    chroot "$tmp" /usr/bin/env -i DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin \
      dpkg --configure "${later[@]}"
  ) >>"$tmp.log" 2>&1 ||
    { tail -n 30 "$tmp.log" >&2; die "step 'sysroot: dpkg --configure' failed under $QEMU inside $tmp (log: $tmp.log); rerun: the half-built sysroot is rebuilt"; }
  log "configured in $((SECONDS - t)) s"
  compile_schemas "$tmp"
  marker_content >"$tmp/$MARKER_REL"
  rm -f "$tmp/$PARTIAL_REL"
  safe_remove_ours "$SYSROOT"
  mv -T "$tmp" "$SYSROOT"
  log "sysroot ready at $SYSROOT"
}

# compile_schemas ROOT: GSettings' schema cache, which libglib2.0-0's trigger would build under
# dpkg (not run here: see build_sysroot). Without it GIO aborts a process that asks for a
# setting ("No GSettings schemas are installed on the system"), as GstRTSPServer's client
# tests did under qemu-aarch64. The host's glib-compile-schemas writes it natively: the cache
# (GVDB) records its byte order, and both ABIs here are little-endian like the host.
compile_schemas() {
  local dir=$1/usr/share/glib-2.0/schemas
  [[ -d $dir && ! -f $dir/gschemas.compiled ]] || return 0
  glib-compile-schemas "$dir" ||
    die "step 'sysroot: schemas' failed: glib-compile-schemas $dir (install libglib2.0-bin)"
}

ensure_sysroot() {
  check_root_path "$SYSROOT"
  mkdir -p "$CACHE"
  exec 9>"$SYSROOT.lock"
  # Shared while it is valid (tests may run side by side); exclusive only to rebuild it.
  flock -s 9
  # A sysroot built before compile_schemas was added gets its cache now (the write is atomic).
  sysroot_valid && { compile_schemas "$SYSROOT"; return 0; }
  flock -u 9
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
  local flags="-C link-arg=--sysroot=$SYSROOT -C link-arg=-Wl,-rpath-link,$lib -C link-arg=-Wl,-rpath-link,$SYSROOT/lib/$GNU"
  # 64-bit time_t on armhf: the libc crate's layout of time_t, timeval, off_t... (libc >= 0.2.173
  # reads this cfg in its build script; Cargo.lock has 0.2.191).
  [[ -n $TIME64 ]] && flags+=' --cfg libc_unstable_gnu_time_bits="64"'
  export "CARGO_TARGET_${TRIPLE_UC}_RUSTFLAGS=$flags"
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

# abi_check: the probe of this ARCH's ABI, and the Rust declarations (built for that ABI)
# checked against it by v4l2::sys::tests. The two armhf ABIs are two ARCH names, two builds.
abi_check() {
  local name flags
  case "$ARCH" in
    arm64) name=lp64 flags=() ;;
    armhf) name=time32 flags=(-D_TIME_BITS=32 -U_FILE_OFFSET_BITS) ;;
    armhf-time64) name=time64 flags=(-D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64) ;;
  esac
  local file
  file=$(probe_abi "$name" "${flags[@]}")
  log "V4L2 ABI of $ARCH ($name), from the sysroot's <linux/videodev2.h>: $(tr '\n' ' ' <"$file")"
  local rc=0
  RPICAMSRC2_V4L2_ABI_PROBE=$file cargo_cross test --lib -- --include-ignored v4l2::sys::tests || rc=1
  [[ $ARCH == armhf ]] && log "armhf with 64-bit time_t is its own build: '$0 armhf-time64 abi'"
  return $rc
}

# --- tests under emulation ------------------------------------------------------------------
# The integration test files (tests/NAME.rs) run under emulation: every simulated-camera test.
# Not here: arm_script and trixie_root_script (they drive this machine's root-building scripts,
# not the crate) and libcamera (needs --features libcamera and a libcamera >= 0.4 sysroot).
EMULATION_TEST_FILES=(rpicamsrc2 dualstream rpih264enc pipelines defects stall rtsp_server examples robustness)
# Tests that emulation cannot run, with the reason: listed and counted on every run, never
# skipped silently. One line each: "ARCH FILE TEST REASON"; ARCH is arm64, armhf or any; FILE is
# lib (the unit tests) or a name of EMULATION_TEST_FILES; TEST is a test name (cargo's --skip
# matches it as a substring).
# Measured on 2026-12-02 under qemu-aarch64 on a 2-core host at load 15 to 19 (docs/arm.md):
# they are real-time checks, and emulation is 10 to 100 times slower than a Pi. At load 2 the
# whole of tests/rtsp_server.rs (10/10) and dualstream.rs (12/12), recipe_snapshot and 5 of
# defects.rs's 7 passed under qemu-aarch64: they are run.
EMU_REGISTRY="starts gst-launch-1.0, the server or an example with a private GST_REGISTRY and waits 20 to 60 s for it; a fresh registry scan of the sysroot's plugins took 4 min 44 s under qemu-aarch64"
EMU_ENCODE="waits at most 60 s for a 720p or 1080p H.264 recording (OpenH264, emulated) to end or grow; it did not under qemu-aarch64"
EMU_FRAMES="counts frames or drops within a real-time window; under qemu-aarch64 the emulated capture and rendering deliver too few frames in it"
EMULATION_SKIPS=(
  "any lib camera::sim::tests::basics::frames_are_paced_and_sequenced asserts the simulated camera's 90 fps frame period within 0.2 ms; under emulation it measured 22.6 ms (qemu-arm) and 53.5 ms (qemu-aarch64)"
  "any lib camera::sim::tests::faults::a_stall_freezes_delivery_across_restarts_until_it_ends asserts no frame within 200 ms windows around a 600 ms stall; under qemu-aarch64 a late frame of before the stall arrived in the window"
  "any rpicamsrc2 default_caps_are_1080p30_nv12_rec709_with_metadata asserts a real-time 1080p30 frame interval; rendering 1080p under emulation took 357 ms (qemu-arm) and 370 ms (qemu-aarch64) a frame"
  "any rpicamsrc2 high_rate_jpeg_dump_writes_300_decodable_files_without_drops asserts no drops at 640x480 90 fps; under qemu-arm 1252 of 1553 frames were dropped, under qemu-aarch64 it did not reach EOS in time"
  "armhf rpicamsrc2 control_changes_while_playing_show_within_the_sensor_delay asserts a control shows within the sensor delay in frames; under qemu-arm late frames made it 4 (passes under qemu-aarch64)"
  "any defects nested_arrays_do_not_crash_gst_launch $EMU_REGISTRY (it passes by hand with a warm registry: exit 0 and the warning)"
  "any defects a_lores_branch_that_cannot_be_negotiated_is_refused_alone $EMU_FRAMES (main had no new frame after the unlink)"
  "any stall a_stall_during_an_mp4_recording_leaves_a_whole_file $EMU_ENCODE"
  "any pipelines recipe_decimate_10fps $EMU_ENCODE"
  "any pipelines recipe_hls $EMU_ENCODE"
  "any pipelines recipe_record_and_jpegs $EMU_ENCODE"
  "any pipelines recipe_record_mp4_bitrate $EMU_ENCODE"
  "any pipelines recipe_record_with_lores_analysis $EMU_ENCODE"
  "any pipelines recipe_jpeg_sequence_90fps asserts no frame lost at 90 fps; under qemu-aarch64 most were"
  "any pipelines recipe_rtp_udp $EMU_FRAMES (the receiver decoded 30 of 60 frames)"
  "any pipelines recipe_rtp_low_latency $EMU_FRAMES (its leaky queue let 19 of 60 frames reach the emulated 720p encoder, where the test wants 30; at load 2)"
  "any pipelines recipe_still_during_video counts the lores frames against num-buffers, which counts main's; under qemu-aarch64 main missed a frame that lores got (46 lores frames for 45, twice at load 2) or lores lost frames (at load 4)"
  "any pipelines stills::still_during_video_is_settled_at_2_lux as recipe_still_during_video (46 lores frames for 45 at load 2; 12 frames lost at load 4)"
  "any pipelines recipe_timelapse_jpeg $EMU_FRAMES (9 stills where 3 were due at one a second: the emulated pipeline ran late)"
  "any rpih264enc encode_to_mp4_checked_by_ffprobe $EMU_ENCODE"
  "any rpih264enc recipes_record_every_frame $EMU_ENCODE"
  "any rpih264enc sigint_with_eos_leaves_a_complete_mp4 $EMU_ENCODE"
  "any rpih264enc sigkill_fragmented_mp4_plays_up_to_the_cut $EMU_ENCODE"
  "any rpih264enc v4l2h264enc_recipe_honours_the_downstream_level $EMU_FRAMES (frames dropped while the emulated encoder lagged)"
  "any rtsp_server record_while_serving_survives_sigint $EMU_FRAMES (its RTSP client, jitterbuffer latency 200 ms, decoded 2 of 45 frames within 30 s in one of two runs from nothing on 2026-12-03, at 640x480 with the recording's encoder, muxer and the client's decoder all emulated; it passed in the other)"
  "any examples rust_example_changes_controls_and_reads_metadata $EMU_REGISTRY"
  "any examples rust_example_fails_for_a_camera_that_does_not_exist $EMU_REGISTRY"
  "any examples python_example_changes_controls_and_reads_metadata the sysroot has no python3-gi (its packages are what the build and the other tests need); the Python example runs on the host"
  "any examples python_example_fails_for_a_camera_that_does_not_exist the sysroot has no python3-gi (as above)"
)

# wanted PART: true when `test` runs PART (abi, lib, main-job or a name of
# EMULATION_TEST_FILES): every part, unless ARM_TEST_ONLY lists some (space-separated), for
# rerunning a few after a change. A name that is none of these is refused.
wanted() {
  [[ -z ${ARM_TEST_ONLY:-} ]] && return 0
  [[ " $ARM_TEST_ONLY " == *" $1 "* ]]
}
check_test_only() {
  local part known=" abi lib main-job ${EMULATION_TEST_FILES[*]} "
  for part in ${ARM_TEST_ONLY:-}; do
    [[ $known == *" $part "* ]] ||
      die "ARM_TEST_ONLY names '$part'; the parts of 'test' are:$known"
  done
}

# skips_for FILE: the EMULATION_SKIPS lines of FILE on this ARCH.
skips_for() {
  local line a f
  for line in "${EMULATION_SKIPS[@]}"; do
    read -r a f _ <<<"$line"
    [[ ($a == any || $a == "$ARCH") && $f == "$1" ]] && printf '%s\n' "$line"
  done
}

# skip_args FILE: cargo test's --skip arguments for FILE on this ARCH (one a line).
skip_args() {
  local a f t
  while read -r a f t _; do [[ -n $t ]] && printf -- '--skip\n%s\n' "$t"; done < <(skips_for "$1")
}

# print_skips: "not run under emulation: N tests: name — reason", one line per test.
print_skips() {
  local -a lines=() l
  local f a t reason
  for f in lib "${EMULATION_TEST_FILES[@]}"; do
    while IFS= read -r l; do [[ -n $l ]] && lines+=("$l"); done < <(skips_for "$f")
  done
  log "not run under emulation on $ARCH: ${#lines[@]} tests$( ((${#lines[@]})) && echo ':')"
  for l in "${lines[@]}"; do
    read -r a f t reason <<<"$l"
    log "  $f: $t — $reason"
  done
}

# Cargo's test output of the run goes to $TARGET_DIR/emulated-tests.log too; the summary sums
# libtest's "test result:" lines.
run_tests() {
  local t0=$SECONDS failed=0 name
  local log_file=$TARGET_DIR/emulated-tests.log
  : >"$log_file"
  # tests/robustness.rs's RSS soak: 30 s instead of 120 s under emulation (its RSS bound is
  # the same; the state-cycle and fuzz tests keep their full counts).
  export RPICAMSRC2_SOAK_SECS=${RPICAMSRC2_SOAK_SECS:-30}
  local -a args
  if wanted lib; then
    mapfile -t args < <(skip_args lib)
    log "unit tests under emulation (cargo test --lib)"
    RPICAMSRC2_V4L2_ABI_PROBE= cargo_cross test --lib -- "${args[@]}" 2>&1 | tee -a "$log_file" || failed=1
  fi
  for name in "${EMULATION_TEST_FILES[@]}"; do
    wanted "$name" || continue
    mapfile -t args < <(skip_args "$name")
    log "integration tests/$name.rs under emulation"
    # One test at a time: the emulated tests are CPU-bound, and two at once on a 2-core host
    # starve each other's real-time deadlines (ARM_TEST_THREADS to change).
    cargo_cross test --test "$name" -- --test-threads="${ARM_TEST_THREADS:-1}" "${args[@]}" 2>&1 |
      tee -a "$log_file" || failed=1
  done
  print_skips
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^ignored/) g += $(i-1) } }
    /^test .* \.\.\. FAILED$/ { names = names "\n  " $2 }
    END { printf "arm.sh: %s under emulation: %d passed, %d failed, %d ignored%s\n", arch, p, f, g, (names ? "; failed:" names : "") }' \
    arch="$ARCH" "$log_file" >&2
  log "tests took $((SECONDS - t0)) s (log: $log_file)"
  return $failed
}

# The main job (scripts/main-job.sh) under emulation: a 1080p H.264 MP4 recording and a JPEG
# sequence, checked with ffprobe, all inside the sysroot.
main_job() {
  # Fewer frames than scripts/main-job.sh (300 and 270): 1080p is rendered and encoded at a few
  # frames a second under emulation.
  local frames=${RPICAMSRC2_ARM_MAIN_FRAMES:-60} jpegs=${RPICAMSRC2_ARM_JPEG_FRAMES:-54}
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

# --- Debian package ---------------------------------------------------------------------------
# A binary package in Debian's layout, from the release build: the plugin in the multiarch
# GStreamer directory, the RTSP server in /usr/bin, copyright and changelog.Debian.gz. Depends
# comes from dpkg-shlibdeps reading the sysroot's dpkg database and symbols files: the sysroot's
# library directory is bind-mounted at /usr/lib/TRIPLET in this script's private mount namespace
# only (the host never sees it). Then lintian (no errors), and the package is installed with
# apt into an overlay of the sysroot (under emulation; the sysroot itself is not changed), where
# gst-inspect-1.0 must list the element from the installed file.
DEB_PKG=gstreamer1.0-rpicamsrc2
DEB_MAINTAINER=${RPICAMSRC2_DEB_MAINTAINER:-rpicamsrc2 maintainers <maintainers@rpicamsrc2.example.org>}

deb_version() {
  local v
  v=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1)
  [[ -n $v ]] || die "no version in $REPO/Cargo.toml"
  echo "$v-1"
}

deb_copyright() {
  cat <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: rpicamsrc2
Comment: The binaries link statically the Rust crates listed in the source's Cargo.lock, each
 under its own license (MIT, Apache-2.0 or both for most; see each crate's metadata), and
 Cisco's OpenH264 built from source (BSD-2-Clause).

Files: *
Copyright: 2026 rpicamsrc2 contributors
License: MPL-2.0
 This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0. If a
 copy of the MPL was not distributed with this file, You can obtain one at
 https://mozilla.org/MPL/2.0/.
 .
 On Debian systems, the full text of the Mozilla Public License 2.0 can be found in
 /usr/share/common-licenses/MPL-2.0.
COPYRIGHT
}

# build_deb: prints the path of the .deb it built. Must run in the private mount namespace.
build_deb() {
  [[ -n ${RPICAMSRC2_IN_NS:-} ]] || die "step 'deb' needs a private mount namespace (unshare -m)"
  local version plugin_dir=usr/lib/$GNU/gstreamer-1.0 out=$TARGET_DIR/$RUST_TARGET/$PROFILE
  version=$(deb_version)
  local work=$TARGET_DIR/deb stage doc file
  stage=$work/debian/$DEB_PKG
  doc=$stage/usr/share/doc/$DEB_PKG
  file=$work/${DEB_PKG}_${version}_${DEB_ARCH}.deb
  [[ -d $work ]] && safe_remove "$work"
  mkdir -p "$stage/DEBIAN" "$stage/$plugin_dir" "$stage/usr/bin" "$doc"
  install -m 644 "$out/libgstrpicamsrc2.so" "$stage/$plugin_dir/"
  install -m 755 "$out/rpicam-rtsp-server" "$stage/usr/bin/"
  "$GNU-strip" --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$stage/$plugin_dir/libgstrpicamsrc2.so" "$stage/usr/bin/rpicam-rtsp-server"
  local epoch date
  epoch=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)
  date=$(LC_ALL=C date -u -R -d "@$epoch")
  deb_copyright >"$doc/copyright"
  {
    printf '%s (%s) unstable; urgency=medium\n\n' "$DEB_PKG" "$version"
    printf '  * Built from the rpicamsrc2 sources (git %s) by scripts/arm.sh.\n\n' \
      "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf ' -- %s  %s\n' "$DEB_MAINTAINER" "$date"
  } | gzip -9n >"$doc/changelog.Debian.gz"
  chmod 644 "$doc/copyright" "$doc/changelog.Debian.gz"
  # Depends: dpkg-shlibdeps against the sysroot (see above).
  local depends libdir=/usr/lib/$GNU
  [[ -d $libdir ]] || die "step 'deb': $libdir does not exist on this host (dpkg-shlibdeps sees the sysroot's libraries there); run 'mkdir $libdir' and rerun"
  mkdir -p "$work/debian" && : >"$work/debian/control"
  mount --bind "$SYSROOT$libdir" "$libdir"
  depends=$(cd "$work" && DEB_HOST_ARCH=$DEB_ARCH dpkg-shlibdeps --admindir="$SYSROOT/var/lib/dpkg" -O \
    -e"debian/$DEB_PKG/$plugin_dir/libgstrpicamsrc2.so" -e"debian/$DEB_PKG/usr/bin/rpicam-rtsp-server") ||
    { umount -l "$libdir"; die "step 'deb' failed: dpkg-shlibdeps against $SYSROOT"; }
  umount -l "$libdir"
  depends=${depends#shlibs:Depends=}
  [[ -n $depends ]] || die "step 'deb' failed: dpkg-shlibdeps gave no dependencies"
  cat >"$stage/DEBIAN/control" <<CONTROL
Package: $DEB_PKG
Version: $version
Architecture: $DEB_ARCH
Maintainer: $DEB_MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: $depends
Section: video
Priority: optional
Description: GStreamer source for Raspberry Pi cameras (libcamera stack)
 rpicamsrc2 is a GStreamer live source for Raspberry Pi cameras with
 sensor-mode negotiation, camera controls as properties and per-frame
 metadata, and rpih264enc, an H.264 encoder (the Pi 4's V4L2 encoder or
 OpenH264). This build has the simulated camera only (no libcamera backend).
 .
 Also the rpicam-rtsp-server binary, an RTSP server for the camera.
CONTROL
  (cd "$stage" && find usr -type f | LC_ALL=C sort | xargs md5sum >DEBIAN/md5sums)
  chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"
  SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$stage" "$file" >/dev/null ||
    die "step 'deb' failed: dpkg-deb --build"
  log "built $file"
  log "Depends: $depends"
  echo "$file"
}

lint_deb() {
  local file=$1
  if ! command -v lintian >/dev/null; then
    log "installing lintian on the host (an all/amd64 package)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian >/dev/null; } ||
      die "step 'deb' failed: apt-get install lintian; install it yourself, then rerun"
  fi
  log "lintian $(basename "$file")"
  lintian --fail-on error --tag-display-limit 0 "$file" >&2 ||
    die "step 'deb' failed: lintian reports errors for $file"
}

# try_deb FILE: installs the package with apt inside an overlay of the sysroot (the sysroot is
# the lower, read-only layer and stays as it was), lists the element with gst-inspect-1.0 and
# runs the RTSP server's --help.
try_deb() {
  local file=$1 ov=$TARGET_DIR/deb/overlay name
  name=$(basename "$file")
  mkdir -p "$ov/upper" "$ov/work" "$ov/root"
  do_mount "$ov/root" -t overlay overlay -o "lowerdir=$SYSROOT,upperdir=$ov/upper,workdir=$ov/work"
  local root=$ov/root
  do_mount "$root/proc" -t proc proc
  do_mount "$root/dev" --bind /dev
  # A pseudo-terminal instance of its own: dpkg logs through one ("Can not write log (Is
  # /dev/pts mounted?)" without it).
  do_mount "$root/dev/pts" -t devpts -o newinstance,ptmxmode=0666 devpts
  do_mount "$root/tmp" -t tmpfs -o size=1g tmpfs
  cp "$file" "$root/tmp/"
  log "apt-get install ./$name inside an overlay of $SYSROOT (under emulation)"
  chroot "$root" /usr/bin/env -i DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    apt-get install -y -q --no-install-recommends "/tmp/$name" >&2 ||
    die "step 'deb' failed: apt-get install of the package inside the sysroot overlay"
  local out
  # HOME=/root: the sysroot's registry, warm from the tests (a fresh scan of every plugin takes
  # minutes under emulation); the new plugin file is scanned because it is new.
  out=$(chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root gst-inspect-1.0 rpicamsrc2 2>&1) ||
    die "step 'deb' failed: gst-inspect-1.0 rpicamsrc2 after installing the package: $out"
  grep -q "/usr/lib/$GNU/gstreamer-1.0/libgstrpicamsrc2.so" <<<"$out" ||
    die "step 'deb' failed: gst-inspect-1.0 rpicamsrc2 does not show the installed plugin: $out"
  log "gst-inspect-1.0 rpicamsrc2 in the sysroot: $(grep -m1 'Long-name' <<<"$out" | sed 's/^ *//'), $(grep -m1 'Filename' <<<"$out" | sed 's/^ *//')"
  chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin rpicam-rtsp-server --help >/dev/null ||
    die "step 'deb' failed: rpicam-rtsp-server --help after installing the package"
  unmount_all
  safe_remove "$ov"
}

# --- commands -------------------------------------------------------------------------------
main() {
  case "$CMD" in
    sysroot)
      check_root_path "$SYSROOT"
      ensure_host_tools
      ensure_binfmt
      in_namespace "$ARCH" sysroot "$@"
      ensure_sysroot
      ;;
    build | test | abi | run | deb)
      check_root_path "$SYSROOT"
      ensure_host_tools
      ensure_binfmt
      in_namespace "$ARCH" "$CMD" "$@"
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
          check_test_only
          # The examples too: tests/examples.rs runs the built Rust example.
          cargo_cross build --lib --bins --examples
          log "cross build took $((SECONDS - t0)) s"
          mount_sysroot "$SYSROOT" with-repo
          local rc=0
          if wanted abi; then abi_check || rc=1; fi
          run_tests || rc=1
          if wanted main-job; then main_job || rc=1; fi
          ((rc == 0)) || die "some tests failed under emulation (see above)"
          log "all passed under emulation ($ARCH, $((SECONDS - t0)) s)"
          ;;
        abi)
          mount_sysroot "$SYSROOT" with-repo
          abi_check
          ;;
        deb)
          [[ -z $TIME64 ]] || die "the armhf package is built by '$0 armhf deb'"
          PROFILE=release
          cargo_cross build --lib --bins
          log "release build took $((SECONDS - t0)) s"
          trap unmount_all EXIT
          local file
          file=$(build_deb)
          lint_deb "$file"
          try_deb "$file"
          log "package ready: $file ($((SECONDS - t0)) s)"
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
      check_root_path "$SYSROOT"
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
      check_root_path "$SYSROOT"
      exec 9>"$SYSROOT.lock"
      flock -x 9
      safe_remove_ours "$SYSROOT"
      if [[ -f $SYSROOT.new/$PARTIAL_REL ]]; then safe_remove "$SYSROOT.new"; fi
      rm -f "$SYSROOT.new.log"
      ;;
    "") usage; exit 2 ;;
    *) die "unknown command '$CMD': use sysroot, build, test, abi, deb, run, status or destroy" ;;
  esac
}

main "$@"; exit $?
