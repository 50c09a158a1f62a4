#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds (Release) and runs ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
ctest --test-dir "$root/build" --output-on-failure --timeout 900 -j 2
