#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The test command: installs what the tests need, then runs every test suite:
# 1. the crate's tests on this machine (simulated cameras, encoder, pipelines);
# 2. the libcamera backend against real libcamera (0.4, virtual camera) inside a Debian trixie
#    root that scripts/trixie-root.sh builds once and reuses;
# 3. the ARM tier: for each architecture of RPICAMSRC2_ARM_TIERS (default "arm64"; "arm64
#    armhf" adds 32-bit, 61.2 min for .ci/run from nothing on 2026-12-03; empty skips the tier), scripts/arm.sh ARCH test: a cross build against a
#    Debian trixie sysroot of that architecture (built once, reused), the V4L2 ABI check, the
#    unit and simulated-camera integration tests under qemu-user, and the main job checked with
#    ffprobe (docs/arm.md).
# `scripts/test.sh vm` runs only the VM tier instead (scripts/vm.sh test, then vm.sh peers, the
# side by side with libcamerasrc; not part of the default run).
#
# It works from nothing (no root, no target directory, an empty CARGO_HOME): crates are fetched
# once on the host, and cargo inside the root runs offline on them. Each step is timed, and a
# failing step is named with its command. Environment: see scripts/trixie-root.sh
# (RPICAMSRC2_TRIXIE_ROOT, RPICAMSRC2_TRIXIE_TARGET); CARGO_HOME and CARGO_TARGET_DIR as usual.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STEPS=()
# step NAME HINT CMD...: runs CMD, records its wall time, and on failure names the step, the
# command and what to try.
step() {
  local name=$1 hint=$2; shift 2
  local t0=$SECONDS rc=0
  echo "test.sh: step '$name': $*" >&2
  "$@" || rc=$?
  STEPS+=("$name $((SECONDS - t0)) s")
  if ((rc != 0)); then
    echo "test.sh: step '$name' failed (exit $rc): $*" >&2
    echo "test.sh: $hint" >&2
    summary
    exit "$rc"
  fi
}
summary() {
  local IFS=';'
  echo "test.sh: wall time per step: ${STEPS[*]}" >&2
}

# On demand only (not in the default run): the VM tier, a real kernel with vicodec, vim2m and
# vimc under qemu (scripts/vm.sh, docs/vm.md).
if [[ ${1:-} == vm ]]; then
  step "vm deps" "apt-get could not install qemu-system-x86: check the network, then rerun." \
    bash scripts/setup-deps.sh qemu-system-x86
  step "vm build" "the guest could not be built: the message above names the failed step and its log." \
    bash scripts/vm.sh build
  step "vm tests" "the VM suite failed: its output is above; the guest's console log is named there." \
    bash scripts/vm.sh test
  step "vm peers" "rpicamsrc2 or libcamerasrc could not be measured in the guest: the console log is named above." \
    bash scripts/vm.sh peers
  summary
  exit 0
fi

step deps "apt-get could not install the Debian packages: check the network and /etc/apt/sources.list, then rerun." \
  bash scripts/setup-deps.sh
step "fetch crates" "cargo could not download the crates: check that this machine reaches the crate registry (network, proxy variables, CA certificates: SSL_CERT_FILE or CARGO_HTTP_CAINFO), then rerun." \
  cargo fetch --locked
step "host tests" "a test failed on the host: its output is above." \
  cargo test --release --locked
step "root build" "the trixie root could not be built: the message above names the failed command and its log." \
  bash scripts/trixie-root.sh ensure
step "root tests" "the libcamera suite failed inside the trixie root: its output is above." \
  bash scripts/trixie-root.sh test
for arch in ${RPICAMSRC2_ARM_TIERS-arm64}; do
  case $arch in
    arm64 | armhf) ;;
    *)
      echo "test.sh: RPICAMSRC2_ARM_TIERS names '$arch'; the ARM tiers are arm64 and armhf" >&2
      exit 2
      ;;
  esac
  step "$arch tests" "the $arch tier failed: scripts/arm.sh names the failed step above; the emulated tests' log is named in its summary line (docs/arm.md)." \
    bash scripts/arm.sh "$arch" test
done
summary
