#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# The VM tier: a qemu guest with a real kernel (Debian trixie's stock linux-image-amd64) and the
# kernel's own test drivers vicodec, vim2m and vimc, built out of tree for that exact kernel.
# The V4L2 code that drives bcm2835-codec on a Pi 4 runs there against real M2M drivers
# (docs/vm.md).
#
# Usage:
#   scripts/vm.sh build            the guest: its root (scripts/trixie-root.sh with the guest's
#                                  packages) and the modules (reused when up to date)
#   scripts/vm.sh run -- CMD...    boot, load the modules, run CMD in the repository inside the
#                                  guest; prints the console and exits with CMD's status
#   scripts/vm.sh test             build the tests in the root, boot, run the V4L2 suite against
#                                  vicodec (single- and multi-planar) and vim2m, and
#                                  v4l2-compliance on each device
#   scripts/vm.sh peers [RUNS]     rpicamsrc2 and libcamerasrc side by side on libcamera's virtual
#                                  camera and on vimc in the guest, RUNS runs each (default 3):
#                                  frames/s, CPU per frame, PLAYING to first buffer, dma-buf
#                                  buffers, copies, caps and crashes (examples/libcamera_bench.rs
#                                  `peer`); the summary goes to the logs directory
#   scripts/vm.sh status           what is built (changes nothing)
#   scripts/vm.sh destroy          remove the guest's root and logs
#
# Environment:
#   RPICAMSRC2_VM_ROOT      the guest's root (default /var/cache/rpicamsrc2/vm-root), a trixie
#                           root made by scripts/trixie-root.sh; never the CI's trixie root.
#   RPICAMSRC2_VM_TIMEOUT   seconds before a guest is killed (default 900); its console log is
#                           kept.
#   RPICAMSRC2_VM_LOGS      console logs and v4l2-compliance outputs (default
#                           /var/cache/rpicamsrc2/vm-logs).
#   RPICAMSRC2_VM_MEM       guest memory (default 2G); RPICAMSRC2_VM_SMP CPUs (default 2).
#   RPICAMSRC2_VM_QEMU      the qemu binary (default qemu-system-x86_64).
#   RPICAMSRC2_TRIXIE_TARGET  cargo target directory for the builds in the root (see
#                           scripts/trixie-root.sh).
#
# The guest boots the root's kernel with no initramfs; the root is its root file system over
# virtio-fs (the host's /usr/lib/qemu/virtiofsd), the repository and the target directory are
# 9p shares at the same paths. Its init (opt/rpicamsrc2/vm-init.sh in the root) mounts the
# kernel file systems, loads the modules, starts udev, runs the command, prints
# "rpicamsrc2-vm: exit status N" and powers off through sysrq. qemu runs under TCG (no KVM here).
# Must run as root.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VMROOT=${RPICAMSRC2_VM_ROOT:-/var/cache/rpicamsrc2/vm-root}
LOGS=${RPICAMSRC2_VM_LOGS:-$(dirname "$VMROOT")/vm-logs}
TIMEOUT=${RPICAMSRC2_VM_TIMEOUT:-900}
MEM=${RPICAMSRC2_VM_MEM:-2G}
SMP=${RPICAMSRC2_VM_SMP:-2}
export RPICAMSRC2_TRIXIE_TARGET=${RPICAMSRC2_TRIXIE_TARGET:-$(dirname "$VMROOT")/target-vm}
TARGET=$RPICAMSRC2_TRIXIE_TARGET
# The guest's packages beyond the trixie root's: the kernel and its headers (the metapackages
# pull the same version), the kernel source (the test drivers are taken from it), module tools,
# udev (libcamera lists only udev-initialised devices), v4l2-compliance, libcamera's IPAs (vimc).
VM_PACKAGES="linux-image-amd64 linux-headers-amd64 linux-source-6.12 xz-utils kmod udev v4l-utils libcamera-ipa"
# What is built, and how: a change here rebuilds the modules.
MODULES_RECIPE="v1 m2m/v4l2-mem2mem vicodec vim2m vimc"
MODULES_MARKER_NAME=rpicamsrc2-vm-modules
INIT_REL=opt/rpicamsrc2/vm-init.sh
JOB_REL=opt/rpicamsrc2/vm-job
QEMU=${RPICAMSRC2_VM_QEMU:-qemu-system-x86_64}
VIRTIOFSD=/usr/lib/qemu/virtiofsd

log() { printf 'vm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (the guest's root is built with debootstrap and chroot)"
case "$VMROOT" in
  "$REPO" | "$REPO"/*) die "RPICAMSRC2_VM_ROOT=$VMROOT is inside the repository; choose a path outside it" ;;
  /var/cache/rpicamsrc2/trixie-root) die "RPICAMSRC2_VM_ROOT must not be the CI's trixie root ($VMROOT): the guest adds a kernel and modules to its root" ;;
esac

trixie_root() { # trixie_root ARGS...: scripts/trixie-root.sh on the guest's root
  RPICAMSRC2_TRIXIE_ROOT=$VMROOT RPICAMSRC2_TRIXIE_EXTRA_PACKAGES=$VM_PACKAGES \
    bash "$REPO/scripts/trixie-root.sh" "$@"
}

# The kernel version of the root's image; dies naming what to install when the image, its
# modules and its headers do not match.
kernel_version() {
  local images=() v
  for v in "$VMROOT"/boot/vmlinuz-*; do [[ -f $v ]] && images+=("${v#"$VMROOT"/boot/vmlinuz-}"); done
  ((${#images[@]} > 0)) || die "no kernel image in $VMROOT/boot: the root lacks linux-image-amd64; run '$0 build' (or 'scripts/trixie-root.sh ensure' with RPICAMSRC2_TRIXIE_EXTRA_PACKAGES=\"$VM_PACKAGES\")"
  ((${#images[@]} == 1)) || die "several kernel images in $VMROOT/boot (${images[*]}): remove the old linux-image packages in the root ('$0 destroy' then '$0 build' rebuilds it)"
  v=${images[0]}
  [[ -d $VMROOT/usr/lib/modules/$v/kernel ]] ||
    die "kernel image $v has no modules in $VMROOT/usr/lib/modules/$v: reinstall linux-image-$v in the root"
  if [[ ! -f $VMROOT/usr/src/linux-headers-$v/Makefile ]]; then
    local have
    have=$(cd "$VMROOT/usr/src" && ls -d linux-headers-*-amd64 2>/dev/null | tr '\n' ' ')
    die "kernel version mismatch: the image is $v but the headers are ${have:-none}; install linux-headers-$v in the root (apt-get install linux-headers-$v, or '$0 destroy' then '$0 build')"
  fi
  echo "$v"
}

modules_marker() { echo "$VMROOT/usr/lib/modules/$1/updates/$MODULES_MARKER_NAME"; }
modules_marker_content() { printf 'kernel=%s\nrecipe=%s\n' "$1" "$MODULES_RECIPE"; }

# Builds vicodec, vim2m, vimc and v4l2-mem2mem (off in Debian's config) out of tree from the
# root's linux-source tarball, for kernel $1, inside the root; installs them to updates/.
build_modules() {
  local ver=$1 src
  src=$(cd "$VMROOT/usr/src" && ls linux-source-*.tar.xz 2>/dev/null | head -n1) ||
    true
  [[ -n $src ]] || die "no linux-source tarball in $VMROOT/usr/src: install linux-source-6.12 in the root"
  local base=${src%.tar.xz}
  local kmajor=${ver%%-*}; kmajor=${kmajor%.*}   # 6.12.57+deb13 -> 6.12
  [[ $base == "linux-source-$kmajor" ]] ||
    die "kernel version mismatch: the image is $ver but the source is $base; install linux-source-$kmajor in the root"
  log "building vicodec, vim2m, vimc and v4l2-mem2mem for $ver from /usr/src/$src"
  mkdir -p "$VMROOT/opt/rpicamsrc2"
  cat >"$VMROOT/opt/rpicamsrc2/vm-modules.sh" <<'EOF'
#!/bin/bash
# Written by scripts/vm.sh: builds the test drivers out of tree (runs inside the root).
set -euo pipefail
ver=$1 src=$2 base=$3
b=/var/tmp/rpicamsrc2-vm-modules
rm -rf "$b"; mkdir -p "$b"; cd "$b"
# Only the test drivers and v4l2-mem2mem.c, not the whole tree.
tar -xJf "/usr/src/$src" --wildcards "$base/drivers/media/test-drivers/vicodec/*" \
  "$base/drivers/media/test-drivers/vimc/*" "$base/drivers/media/test-drivers/vim2m.c" \
  "$base/drivers/media/v4l2-core/v4l2-mem2mem.c"
mkdir m2m
mv "$base/drivers/media/v4l2-core/v4l2-mem2mem.c" m2m/
mv "$base/drivers/media/test-drivers/"{vicodec,vimc,vim2m.c} .
rm -rf "$base"
echo 'obj-m += v4l2-mem2mem.o' >m2m/Kbuild
sed -i 's/obj-\$(CONFIG_[A-Z0-9_]*)/obj-m/' vicodec/Makefile vimc/Makefile
echo 'obj-m += m2m/ vicodec/ vimc/ vim2m.o' >Kbuild
cc=gcc
for c in /usr/bin/gcc-[0-9]*; do [[ -x $c ]] && cc=$c; done
make -s -C "/usr/src/linux-headers-$ver" M="$b" CC="$cc" -j2 modules
dst=/usr/lib/modules/$ver/updates
mkdir -p "$dst"
find "$b" -name '*.ko' -exec cp {} "$dst/" \;
depmod "$ver"
ls "$dst"
EOF
  local t0=$SECONDS
  trixie_root run -- bash /opt/rpicamsrc2/vm-modules.sh "$ver" "$src" "$base" >&2 ||
    die "building the modules failed (output above): check that linux-headers-$ver and linux-source-$kmajor in $VMROOT are the same version"
  local m
  for m in v4l2-mem2mem vicodec vim2m vimc; do
    [[ -f $VMROOT/usr/lib/modules/$ver/updates/$m.ko ]] || die "the build made no $m.ko (output above)"
  done
  modules_marker_content "$ver" >"$(modules_marker "$ver")"
  log "modules built in $((SECONDS - t0)) s"
}

cmd_build() {
  local t0=$SECONDS
  trixie_root ensure
  log "root ready in $((SECONDS - t0)) s"
  local ver
  ver=$(kernel_version)
  if [[ $(cat "$(modules_marker "$ver")" 2>/dev/null) != "$(modules_marker_content "$ver")" ]]; then
    build_modules "$ver"
  else
    log "modules for $ver up to date"
  fi
  write_init
}

# The guest's init: everything between the kernel and the command.
write_init() {
  mkdir -p "$VMROOT/$(dirname "$INIT_REL")"
  cat >"$VMROOT/$INIT_REL" <<'EOF'
#!/bin/bash
# Written by scripts/vm.sh: the guest's init (PID 1). Runs the job, reports, powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
off() { sync; echo o >/proc/sysrq-trigger; sleep 10 2>/dev/null; }
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null || true
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
echo 1 >/proc/sys/kernel/sysrq
# Only critical kernel messages on the console (v4l2-compliance makes drivers log at error
# level by design); the whole kernel log is kept as dmesg.txt beside the console log.
dmesg -n 3
echo "rpicamsrc2-vm: booted in $(cut -d' ' -f1 /proc/uptime) s (kernel $(uname -r))"
job=/opt/rpicamsrc2/vm-job
. "$job/env"
modprobe -a 9p 9pnet_virtio || { echo "rpicamsrc2-vm: error: modprobe 9p failed"; echo "rpicamsrc2-vm: exit status 125"; off; }
mkdir -p "$REPO" "$TARGET"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 repo "$REPO"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=1048576 target "$TARGET"
for m in $MODULES; do
  if ! out=$(modprobe $m 2>&1); then
    echo "rpicamsrc2-vm: error: module load failed: modprobe $m: $out (modules built for another kernel? remove /usr/lib/modules/$(uname -r)/updates in the root, then run scripts/vm.sh build)"
    echo "rpicamsrc2-vm: exit status 125"
    off
  fi
done
/usr/lib/systemd/systemd-udevd --daemon >/dev/null 2>&1 &&
  udevadm trigger --action=add --subsystem-match=media --subsystem-match=video4linux &&
  udevadm settle --timeout=30 || echo "rpicamsrc2-vm: warning: udev did not start"
echo "rpicamsrc2-vm: ready in $(cut -d' ' -f1 /proc/uptime) s"
cd "$REPO"
t0=$(cut -d' ' -f1 /proc/uptime)
bash "$job/cmd.sh" </dev/null
rc=$?
dmesg >"$job/dmesg.txt" 2>&1
echo "rpicamsrc2-vm: command took $(awk -v t0="$t0" '{ printf "%.1f", $1 - t0 }' /proc/uptime) s"
echo "rpicamsrc2-vm: exit status $rc"
off
EOF
  chmod +x "$VMROOT/$INIT_REL"
}

# boot NAME MODULES CMD_SCRIPT_TEXT: boots the guest, runs the script, returns its status.
boot() {
  local name=$1 modules=$2 script=$3
  local ver
  ver=$(kernel_version)
  command -v "$QEMU" >/dev/null ||
    die "$QEMU not found: install qemu-system-x86 (apt-get install qemu-system-x86)"
  [[ -x $VIRTIOFSD ]] || die "$VIRTIOFSD not found: install qemu-system-x86 (bookworm ships virtiofsd in it)"
  [[ $(cat "$(modules_marker "$ver")" 2>/dev/null) == "$(modules_marker_content "$ver")" ]] ||
    die "the modules for $ver are not built: run '$0 build'"
  write_init
  mkdir -p "$LOGS" "$VMROOT/$JOB_REL" "$TARGET"
  exec 8>"$VMROOT.vm.lock"
  flock -x 8 # one guest at a time on this root
  local job=$VMROOT/$JOB_REL
  rm -rf "${job:?}"/*
  printf 'REPO=%q\nTARGET=%q\nMODULES=%q\n' "$REPO" "$TARGET" "$modules" >"$job/env"
  printf '%s\n' "$script" >"$job/cmd.sh"
  local d
  d=$(mktemp -d /tmp/rpicamsrc2-vm.XXXXXX)
  local console=$LOGS/$name-$(date -u +%Y%m%dT%H%M%SZ).log
  "$VIRTIOFSD" --socket-path="$d/vfsd.sock" -o source="$VMROOT" -o cache=auto -o sandbox=chroot \
    >"$d/virtiofsd.log" 2>&1 &
  local vpid=$!
  local i
  for ((i = 0; i < 50; i++)); do [[ -S $d/vfsd.sock ]] && break; sleep 0.1; done
  [[ -S $d/vfsd.sock ]] || { cat "$d/virtiofsd.log" >&2; die "virtiofsd did not start"; }
  log "booting kernel $ver (TCG, $SMP CPUs, $MEM, limit $TIMEOUT s); console: $console"
  local t0=$SECONDS rc=0
  timeout -k 10 "$TIMEOUT" "$QEMU" -accel tcg -cpu max -m "$MEM" -smp "$SMP" \
    -display none -no-reboot -serial stdio -monitor none \
    -object memory-backend-memfd,id=mem,size="$MEM",share=on -numa node,memdev=mem \
    -chardev socket,id=vfs,path="$d/vfsd.sock" -device vhost-user-fs-pci,chardev=vfs,tag=rootfs \
    -virtfs local,path="$REPO",mount_tag=repo,security_model=none,readonly=on \
    -virtfs local,path="$TARGET",mount_tag=target,security_model=none \
    -kernel "$VMROOT/boot/vmlinuz-$ver" \
    -append "console=ttyS0 rootfstype=virtiofs root=rootfs rw init=/$INIT_REL panic=-1 quiet loglevel=4" \
    </dev/null >"$console" 2>&1 &
  local qpid=$!
  tail -n +1 -f --pid=$qpid "$console" 2>/dev/null &
  local tpid=$!
  wait $qpid || rc=$?
  wait $tpid 2>/dev/null || true
  kill "$vpid" 2>/dev/null || true
  wait "$vpid" 2>/dev/null || true
  rm -rf "$d"
  local wall=$((SECONDS - t0))
  if ((rc == 124 || rc == 137)); then
    die "the guest did not finish within $TIMEOUT s and was killed (RPICAMSRC2_VM_TIMEOUT); console log kept: $console"
  fi
  local status
  status=$(sed -n 's/^rpicamsrc2-vm: exit status \([0-9]*\).*/\1/p' "$console" | tail -n1)
  [[ -n $status ]] || die "the guest stopped without reporting an exit status (qemu exit $rc, a kernel panic?); console log kept: $console"
  log "guest wall time $wall s; $(grep -o 'booted in [0-9.]* s' "$console" | head -n1), $(grep -o 'ready in [0-9.]* s' "$console" | head -n1), $(grep -o 'command took [0-9.]* s' "$console" | head -n1)"
  ((status != 125)) || die "the guest could not start the command (see the error above); console log kept: $console"
  return "$status"
}

# The in-guest suite: the V4L2 tests against vicodec (single-, then multi-planar) and vim2m,
# the destructive one last, then v4l2-compliance on each device.
guest_test_script() {
  local bin=$1 lcbin=$2
  cat <<EOF
set -u
bin=$bin
lcbin=$lcbin
out=/opt/rpicamsrc2/vm-job
fail=0
export RPICAMSRC2_VM=1 RUST_BACKTRACE=1
node() { for d in /sys/class/video4linux/video*; do [ "\$(cat \$d/name)" = "\$1" ] && echo /dev/\${d##*/}; done; }
for mp in 0 1; do
  rmmod vicodec 2>/dev/null; modprobe vicodec multiplanar=\$mp || fail=1
  echo "=== V4L2 suite, vicodec multiplanar=\$mp"
  RPICAMSRC2_VM_MPLANE=\$mp \$bin --ignored --test-threads=1 --nocapture rpih264enc::v4l2::vm_tests \
    --skip vanishing || fail=1
  echo "=== v4l2-compliance vicodec encoder, multiplanar=\$mp"
  v4l2-compliance -d "\$(node stateful-encoder)" >\$out/compliance-vicodec-enc-mp\$mp.txt 2>&1
  tail -n 3 \$out/compliance-vicodec-enc-mp\$mp.txt
done
echo "=== dma-buf heap allocator, and the simulated camera's dma-bufs (sim-memory=dmabuf)"
\$bin --include-ignored --test-threads=1 --nocapture camera::dmaheap camera::sim::tests::memory || fail=1
echo "=== libcamera backend: vimc and the virtual camera, libcamera's dma-buf allocator (tests/vm_libcamera.rs)"
LIBCAMERA_LOG_LEVELS='*:ERROR' \$lcbin --ignored --test-threads=1 --nocapture || fail=1
echo "=== v4l2-compliance vim2m"
v4l2-compliance -d "\$(node vim2m)" >\$out/compliance-vim2m.txt 2>&1; tail -n 3 \$out/compliance-vim2m.txt
echo "=== v4l2-compliance vimc (media controller and every node)"
vimc_media=
for m in /sys/bus/media/devices/media*; do grep -qi vimc \$m/model && vimc_media=/dev/\${m##*/}; done
v4l2-compliance -m "\$vimc_media" >\$out/compliance-vimc.txt 2>&1; tail -n 3 \$out/compliance-vimc.txt
echo "=== V4L2 suite, vicodec vanishing mid-stream (destructive, last)"
RPICAMSRC2_VM_MPLANE=1 \$bin --ignored --test-threads=1 --nocapture rpih264enc::v4l2::vm_tests::vicodec_vanishing || fail=1
exit \$fail
EOF
}

cmd_test() {
  cmd_build
  log "building the tests in the root (cargo test --lib --no-run)"
  local t0=$SECONDS out bin
  out=$(trixie_root run -- cargo test --offline --locked --lib --no-run 2>&1) ||
    { printf '%s\n' "$out" | tail -n 30 >&2; die "building the tests in $VMROOT failed (output above)"; }
  bin=$(printf '%s\n' "$out" | sed -n 's/.*Executable unittests src\/lib.rs (\(.*\))$/\1/p' | tail -n1)
  [[ -n $bin ]] || { printf '%s\n' "$out" | tail -n 10 >&2; die "found no test executable in cargo's output"; }
  log "tests built in $((SECONDS - t0)) s: $bin"
  log "building tests/vm_libcamera.rs in the root (--features libcamera)"
  local lcbin
  t0=$SECONDS
  out=$(trixie_root run -- cargo test --offline --locked --features libcamera --test vm_libcamera --no-run 2>&1) ||
    { printf '%s\n' "$out" | tail -n 30 >&2; die "building tests/vm_libcamera.rs in $VMROOT failed (output above)"; }
  lcbin=$(printf '%s\n' "$out" | sed -n 's/.*Executable tests\/vm_libcamera.rs (\(.*\))$/\1/p' | tail -n1)
  [[ -n $lcbin ]] || { printf '%s\n' "$out" | tail -n 10 >&2; die "found no vm_libcamera test executable in cargo's output"; }
  log "built in $((SECONDS - t0)) s: $lcbin"
  local rc=0
  boot test "9p 9pnet_virtio v4l2-mem2mem vicodec vim2m vimc" "$(guest_test_script "$bin" "$lcbin")" || rc=$?
  local f
  for f in "$VMROOT/$JOB_REL"/compliance-*.txt "$VMROOT/$JOB_REL"/dmesg.txt; do
    [[ -f $f ]] && cp "$f" "$LOGS/" && log "kept $LOGS/$(basename "$f")"
  done
  # The trimmed v4l2-compliance output (docs/vm-compliance.md is made from it).
  for f in "$LOGS"/compliance-*.txt; do
    [[ -f $f && $f != *summary* ]] || continue
    printf '\n## %s\n\n' "$(basename "$f" .txt)"
    grep -E '^(v4l2-compliance |Compliance test for|Grand Total|Total)|Driver name|Card type|Detected|: FAIL|fail:' "$f" | sed 's/^\t*//'
  done >"$LOGS/compliance-summary.txt"
  log "v4l2-compliance summary: $LOGS/compliance-summary.txt"
  return $rc
}

# The in-guest side by side: each source element on each camera, RUNS times, each run its own
# process (so a crash is counted, not fatal); prints the example's `peer` line and the run's exit
# status, which the host summarises (summarise_peers).
guest_peers_script() {
  local bin=$1 runs=$2
  cat <<EOF
set -u
export LIBCAMERA_LOG_LEVELS='*:ERROR' RUST_BACKTRACE=0 GST_REGISTRY=/tmp/peers-registry.bin
for cam in Virtual0 "platform/vimc.0 Sensor B"; do
  # vimc delivers about 1 frame/s under TCG: few frames there.
  case "\$cam" in Virtual0) frames=60 ;; *) frames=4 ;; esac
  for i in \$(seq $runs); do
    for src in rpicamsrc2 libcamerasrc; do
      out=\$(timeout -k 5 180 $bin peer \$src "\$cam" 640 480 \$frames 2>&1)
      st=\$?
      printf '%s\n' "\$out" | grep -E '^peer |rror|egmentation' | tail -n 3
      echo "peer-exit source=\$src camera=\$(echo "\$cam" | tr ' ' _) run=\$i status=\$st"
    done
  done
done
EOF
}

# summarise_peers CONSOLE: per camera and source, the runs that measured, crashed (killed by a
# signal: status above 128, timeout's 124 counted as a failure) or failed otherwise, and the
# medians of the `peer` lines; then rpicamsrc2 / libcamerasrc.
summarise_peers() {
  /usr/bin/python3 - "$1" <<'PY'
import re, statistics, sys
runs, exits = {}, {}
for line in open(sys.argv[1], errors="replace"):
    line = line.strip()
    if line.startswith("peer ") or line.startswith("peer-exit "):
        kv = dict(re.findall(r"(\w+)=(\S+)", line))
        key = (kv["camera"], kv["source"])
        (runs if line.startswith("peer ") else exits).setdefault(key, []).append(kv)
def med(rows, k):
    return statistics.median(float(r[k]) for r in rows) if rows else float("nan")
print("| camera | source | measured / runs | crashed | other failures | frames/s | CPU ms/frame | PLAYING to first buffer ms | dma-buf buffers | copied | caps |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (cam, src), ex in sorted(exits.items()):
    rows = runs.get((cam, src), [])
    crashed = sum(1 for e in ex if int(e["status"]) > 128)
    other = sum(1 for e in ex if 0 < int(e["status"]) <= 128)
    caps = "; ".join(sorted({r["caps"] for r in rows})) or "-"
    dma = ", ".join(sorted({r["dmabuf"] for r in rows})) or "-"
    copied = ", ".join(sorted({r["copied"] for r in rows})) or "-"
    print(f"| {cam} | {src} | {len(rows)} / {len(ex)} | {crashed} | {other} | {med(rows, 'fps'):.2f} | {med(rows, 'cpu_ms'):.2f} | {med(rows, 'first_ms'):.0f} | {dma} | {copied} | {caps} |")
print()
for cam in sorted({c for c, _ in exits}):
    a, b = runs.get((cam, "rpicamsrc2"), []), runs.get((cam, "libcamerasrc"), [])
    if a and b:
        print(f"{cam}: rpicamsrc2 / libcamerasrc: frames/s {med(a, 'fps') / med(b, 'fps'):.2f}x, CPU per frame {med(a, 'cpu_ms') / med(b, 'cpu_ms'):.2f}x, first buffer {med(a, 'first_ms') / med(b, 'first_ms'):.2f}x")
    else:
        print(f"{cam}: no ratio (rpicamsrc2 measured {len(a)}, libcamerasrc {len(b)})")
PY
}

cmd_peers() {
  local runs=${1:-3}
  [[ $runs =~ ^[1-9][0-9]?$ ]] || die "peers: RUNS is '$runs'; give a count from 1 to 99"
  cmd_build
  log "building examples/libcamera_bench.rs in the root (release, --features libcamera)"
  local t0=$SECONDS out bin
  out=$(trixie_root run -- cargo build --offline --locked --release --features libcamera \
    --example libcamera_bench 2>&1) ||
    { printf '%s\n' "$out" | tail -n 30 >&2; die "building the example in $VMROOT failed (output above)"; }
  bin=$TARGET/release/examples/libcamera_bench
  [[ -x $bin ]] || die "the example was built but $bin is missing"
  log "built in $((SECONDS - t0)) s"
  local rc=0
  boot peers "9p 9pnet_virtio vimc" "$(guest_peers_script "$bin" "$runs")" || rc=$?
  local console
  console=$(ls -t "$LOGS"/peers-*.log | head -n1)
  {
    local ver
    ver=$(kernel_version)
    printf 'Run %s (console %s); guest kernel %s under qemu TCG, %s CPUs; libcamera %s, GStreamer %s.\n\n' \
      "$(basename "$console" .log | sed 's/^peers-//')" "$(basename "$console")" "$ver" "$SMP" \
      "$(dpkg-query --admindir="$VMROOT/var/lib/dpkg" -W -f='${Version}' libcamera0.4 2>/dev/null || echo '?')" \
      "$(dpkg-query --admindir="$VMROOT/var/lib/dpkg" -W -f='${Version}' libgstreamer1.0-0 2>/dev/null || echo '?')"
    summarise_peers "$console"
  } | tee "$LOGS/peers-summary.txt"
  log "summary: $LOGS/peers-summary.txt (console: $console)"
  return $rc
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    build) cmd_build ;;
    run | boot)
      [[ ${1:-} == -- ]] && shift
      [[ $# -gt 0 ]] || die "usage: $0 run -- CMD..."
      local script
      script=$(printf '%q ' "$@")
      boot run "9p 9pnet_virtio v4l2-mem2mem vicodec vim2m vimc" "$script"
      ;;
    test) cmd_test ;;
    peers) cmd_peers "$@" ;;
    status)
      trixie_root status
      local ver
      if ver=$(kernel_version 2>/dev/null); then
        if [[ $(cat "$(modules_marker "$ver")" 2>/dev/null) == "$(modules_marker_content "$ver")" ]]; then
          echo "modules: built for $ver"
        else
          echo "modules: missing for $ver ('$0 build' builds them)"
        fi
      else
        echo "kernel: none in $VMROOT ('$0 build')"
      fi
      command -v "$QEMU" >/dev/null && echo "qemu: $($QEMU --version | head -n1)" || echo "qemu: missing (apt-get install qemu-system-x86)"
      ;;
    destroy)
      trixie_root destroy
      rm -rf "$LOGS" "$VMROOT.vm.lock"
      ;;
    *)
      sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      [[ -z $cmd ]] && exit 2
      die "unknown command '$cmd'"
      ;;
  esac
}

main "$@"; exit $?
