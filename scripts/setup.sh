#!/usr/bin/env bash
# Installs the Debian packages Loom needs (skipping those already present) and builds it in
# Release with CMake and Ninja into build/. Usage: scripts/setup.sh [--no-build]
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libdnnl-dev                     # oneDNN: the CPU GEMM
  libopenmpi-dev openmpi-bin      # MPI: the distributed engine
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

if [[ "${1:-}" == "--no-build" ]]; then exit 0; fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$root/build"
