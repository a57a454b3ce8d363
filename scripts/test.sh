#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The test command: installs what the tests need, then runs every test suite:
# 1. the crate's tests on this machine (simulated cameras, encoder, pipelines);
# 2. the libcamera backend against real libcamera (0.4, virtual camera) inside a Debian trixie
#    root that scripts/trixie-root.sh builds once and reuses.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-deps.sh
cargo test --release
bash scripts/trixie-root.sh test
