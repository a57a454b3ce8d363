# SPDX-License-Identifier: MPL-2.0
# shellcheck shell=bash
#
# Helpers shared by the scripts that build Debian roots with debootstrap (sourced, not run):
# scripts/trixie-root.sh (the libcamera test root) and scripts/arm.sh (the arm64/armhf
# sysroots). Both build a root in DIR.new with a partial stamp in it from its first moment, write
# a marker into it last and move it into place; a path without the marker is not theirs and is
# never deleted.
#
# The sourcing script defines log and die, and sets:
#   MARKER_REL      the marker's path inside a finished root (written last)
#   PARTIAL_REL     the stamp's path inside DIR.new while it is built
#   ROOT_KIND       what the roots are called in messages ("root", "sysroot")
#   ROOT_LABEL      how a root's path is named in messages (e.g. "RPICAMSRC2_TRIXIE_ROOT=/path")
#   ROOT_ELSEWHERE  what to do instead, in messages (e.g. "set RPICAMSRC2_ARM_CACHE to another
#                   directory")

# check_root_path DIR: refuses a DIR that is not ours (a file, or a non-empty directory
# without the marker; an empty directory is fine: the user made a place for it) and a DIR.new
# without the partial stamp. Changes nothing.
check_root_path() {
  local dir=$1
  if [[ -e $dir || -L $dir ]]; then
    [[ -d $dir && ! -L $dir ]] ||
      die "$ROOT_LABEL exists and is not a directory; $ROOT_ELSEWHERE (nothing was changed)"
    if [[ ! -f $dir/$MARKER_REL ]] && [[ -n $(ls -A "$dir" 2>/dev/null) ]]; then
      die "$ROOT_LABEL is a non-empty directory that this script did not make (no $MARKER_REL in it); $ROOT_ELSEWHERE, or remove it yourself (nothing was deleted)"
    fi
  fi
  if [[ -e $dir.new || -L $dir.new ]] && [[ ! -f $dir.new/$PARTIAL_REL ]]; then
    die "$dir.new exists and was not made by this script (no $PARTIAL_REL in it); remove it, or $ROOT_ELSEWHERE (nothing was deleted)"
  fi
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

# safe_remove DIR: deletes DIR, refusing when anything is mounted below it (bind mounts of the
# repository, ~/.cargo or /dev must never be deleted through it).
safe_remove() {
  local dir=$1
  [[ -e $dir ]] || return 0
  if awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    die "$dir has mounts below it; unmount them first (nothing was deleted)"
  fi
  rm -rf --one-file-system "$dir"
}

# safe_remove_ours DIR: deletes DIR only when it is ours (the marker) or an empty directory.
safe_remove_ours() {
  local dir=$1
  [[ -e $dir ]] || return 0
  if [[ -f $dir/$MARKER_REL ]]; then
    safe_remove "$dir"
  elif [[ -d $dir && -z $(ls -A "$dir") ]]; then
    rmdir "$dir"
  else
    die "refusing to delete $dir: not a $ROOT_KIND this script made"
  fi
}

# --- mounts (inside a private mount namespace; a trap unmounts where none could be made) -------
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

# in_namespace ARGS...: runs "$0 ARGS..." again in a private mount namespace, so that mounts
# never leak to the host (once: RPICAMSRC2_IN_NS marks the inner run).
in_namespace() {
  if [[ -z ${RPICAMSRC2_IN_NS:-} ]] && unshare -m --propagation private true 2>/dev/null; then
    RPICAMSRC2_IN_NS=1 exec unshare -m --propagation private bash "$0" "$@"
  fi
}
