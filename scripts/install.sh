#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# One-command install from source (on a Raspberry Pi, or any Debian machine): builds the plugin
# and the RTSP server in release mode and installs them where GStreamer finds them without
# GST_PLUGIN_PATH. See README.md, "On a Raspberry Pi".
#
# Usage:
#   scripts/install.sh              build, then install for this user:
#                                     ${XDG_DATA_HOME:-~/.local/share}/gstreamer-1.0/plugins/libgstrpicamsrc2.so
#                                     ~/.local/bin/rpicam-rtsp-server
#   scripts/install.sh --system     build, then install for every user (root, or sudo for the
#                                   copy): the plugin into GStreamer's multiarch plugin directory
#                                   (pkg-config --variable=pluginsdir gstreamer-1.0, e.g.
#                                   /usr/lib/aarch64-linux-gnu/gstreamer-1.0), the server into
#                                   /usr/local/bin
#   scripts/install.sh [--system] --uninstall
#                                   remove exactly what the install put there (its manifest)
#   --from DIR                      install the libgstrpicamsrc2.so and rpicam-rtsp-server found
#                                   in DIR instead of building (e.g. target/release)
#
# The libcamera backend is built when pkg-config finds libcamera >= 0.4 (Raspberry Pi OS's
# libcamera-dev); otherwise only the simulated cameras. The build runs as the calling user
# (cargo in PATH; CARGO_TARGET_DIR is honoured). The installed files and the directories the
# install created are listed in a manifest (user: ${XDG_DATA_HOME:-~/.local/share}/rpicamsrc2/
# installed-files; system: /var/lib/rpicamsrc2/installed-files): --uninstall removes those
# files, then those directories if they are empty, then the manifest. A file that a Debian
# package owns (the gstreamer1.0-rpicamsrc2 package, say) is never overwritten.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PLUGIN=libgstrpicamsrc2.so
SERVER=rpicam-rtsp-server

log() { printf 'install.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

SYSTEM=
UNINSTALL=
FROM=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --system) SYSTEM=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --from)
      [[ $# -ge 2 ]] || die "--from needs a directory (one with $PLUGIN and $SERVER in it)"
      FROM=$2
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1': use --system, --uninstall, --from DIR or --help" ;;
  esac
  shift
done

SUDO=()
if [[ -n $SYSTEM ]]; then
  [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
  MANIFEST=/var/lib/rpicamsrc2/installed-files
  BIN_DIR=/usr/local/bin
else
  [[ -n ${HOME:-} ]] || die "HOME is not set: the user install goes under ~/.local"
  data=${XDG_DATA_HOME:-$HOME/.local/share}
  MANIFEST=$data/rpicamsrc2/installed-files
  PLUGIN_DIR=$data/gstreamer-1.0/plugins
  BIN_DIR=$HOME/.local/bin
fi
as_owner() { "${SUDO[@]}" "$@"; }

# --- uninstall --------------------------------------------------------------------------------
if [[ -n $UNINSTALL ]]; then
  [[ -f $MANIFEST ]] ||
    die "nothing to uninstall: no manifest at $MANIFEST (was it installed$([[ -n $SYSTEM ]] && echo ' with --system' || echo ' without --system')?)"
  # Files first, then the directories the install created (deepest first), if empty.
  while read -r kind path; do
    [[ $kind == file ]] || continue
    if [[ -f $path || -L $path ]]; then as_owner rm -f -- "$path" && log "removed $path"; fi
  done <"$MANIFEST"
  while read -r kind path; do
    [[ $kind == dir ]] || continue
    [[ -d $path ]] && as_owner rmdir --ignore-fail-on-non-empty -- "$path"
  done < <(tac "$MANIFEST")
  as_owner rm -f -- "$MANIFEST"
  as_owner rmdir --ignore-fail-on-non-empty -- "$(dirname "$MANIFEST")"
  log "uninstalled"
  exit 0
fi

# --- build ------------------------------------------------------------------------------------
if [[ -n $SYSTEM ]]; then
  command -v pkg-config >/dev/null || die "pkg-config not found: run 'sudo apt-get install pkg-config libgstreamer1.0-dev'"
  PLUGIN_DIR=$(pkg-config --variable=pluginsdir gstreamer-1.0) ||
    die "pkg-config does not know gstreamer-1.0: run 'sudo apt-get install libgstreamer1.0-dev'"
fi
if [[ -z $FROM ]]; then
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs), then rerun"
  features=()
  if pkg-config --atleast-version=0.4 libcamera 2>/dev/null; then
    features=(--features libcamera)
    log "libcamera $(pkg-config --modversion libcamera) found: building the libcamera backend"
  else
    log "no libcamera >= 0.4 (pkg-config libcamera): building with the simulated cameras only"
  fi
  log "cargo build --release (several minutes on a Pi)"
  (cd "$REPO" && cargo build --release --locked --lib --bins "${features[@]}") || die "the build failed (see above)"
  FROM=${CARGO_TARGET_DIR:-$REPO/target}/release
fi
for f in "$PLUGIN" "$SERVER"; do
  [[ -f $FROM/$f ]] || die "no $f in $FROM: build it first (cargo build --release) or name the right --from directory"
done

# --- install ----------------------------------------------------------------------------------
[[ -f $MANIFEST ]] && die "already installed (manifest $MANIFEST): run '$0${SYSTEM:+ --system} --uninstall' first"
owned_by_package() { command -v dpkg-query >/dev/null && dpkg-query -S "$1" >/dev/null 2>&1; }
entries=()
# mkdir_recorded DIR: creates DIR and its missing parents, recording the ones it created.
mkdir_recorded() {
  local d=$1 missing=()
  while [[ ! -d $d ]]; do missing=("$d" "${missing[@]}"); d=$(dirname "$d"); done
  for d in "${missing[@]}"; do as_owner mkdir -- "$d" && entries+=("dir $d"); done
}
for pair in "$PLUGIN:$PLUGIN_DIR:644" "$SERVER:$BIN_DIR:755"; do
  IFS=: read -r name dir mode <<<"$pair"
  dest=$dir/$name
  owned_by_package "$dest" &&
    die "$dest belongs to a Debian package ($(dpkg-query -S "$dest" 2>/dev/null | cut -d: -f1)): remove that package first (nothing was installed)"
  [[ -e $dest ]] && die "$dest exists and this script did not install it: remove it yourself first (nothing was installed)"
done
mkdir_recorded "$(dirname "$MANIFEST")"
for pair in "$PLUGIN:$PLUGIN_DIR:644" "$SERVER:$BIN_DIR:755"; do
  IFS=: read -r name dir mode <<<"$pair"
  mkdir_recorded "$dir"
  as_owner install -m "$mode" -- "$FROM/$name" "$dir/$name"
  entries+=("file $dir/$name")
  log "installed $dir/$name"
done
printf '%s\n' "${entries[@]}" | as_owner tee "$MANIFEST" >/dev/null

if command -v gst-inspect-1.0 >/dev/null; then
  if out=$(env -u GST_PLUGIN_PATH gst-inspect-1.0 rpicamsrc2 2>&1) && grep -q "$PLUGIN_DIR/$PLUGIN" <<<"$out"; then
    log "gst-inspect-1.0 rpicamsrc2 finds $PLUGIN_DIR/$PLUGIN"
  else
    log "warning: gst-inspect-1.0 rpicamsrc2 does not find the installed plugin yet: $(head -n 3 <<<"$out")"
  fi
fi
[[ -n $SYSTEM || :$PATH: == *":$BIN_DIR:"* ]] || log "note: $BIN_DIR is not in PATH; add it to run $SERVER by name"
log "done; '$0${SYSTEM:+ --system} --uninstall' removes it"
