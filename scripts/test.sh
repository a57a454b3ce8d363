#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The test command: installs what the tests need, then runs every test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-deps.sh
cargo test --release
