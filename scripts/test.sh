#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds (Release) and runs ctest; then
# builds again with AddressSanitizer and UBSan and runs the unit tests under them.
# LOOM_SKIP_SANITIZE=1 skips the sanitizer pass (for a quick local run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
ctest --test-dir "$root/build" --output-on-failure --timeout 900 -j 2

if [[ "${LOOM_SKIP_SANITIZE:-0}" != "1" ]]; then
  echo "test: sanitizer pass (address, undefined)"
  cmake -S "$root" -B "$root/build-sanitize" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLOOM_SANITIZE=address,undefined -DLOOM_BUILD_BENCH=OFF -DLOOM_CUDA=OFF >/dev/null
  cmake --build "$root/build-sanitize"
  # MPI's own allocations are reported as leaks by LeakSanitizer: the MPI tests run in the
  # Release pass above; here the unit tests (thread transport included) run.
  ctest --test-dir "$root/build-sanitize" --output-on-failure --timeout 900 -j 2 -E "mpi"
fi
