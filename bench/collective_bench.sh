#!/usr/bin/env bash
# Runs `loom collective bench` under Open MPI with 2 and then 4 ranks on this machine (one
# compute thread per rank), with private buffers and with buffers in the shared segment, and
# prints each table; the JSON lines go to collective_bench_<ranks>[_shared].jsonl in OUT_DIR.
# Usage: bench/collective_bench.sh [extra loom collective bench flags...]
#   LOOM=path/to/loom (default build/bin/loom), OUT_DIR (default .), RANKS="2 4",
#   LOOM_COMM_PROFILE=profile.json to make `auto` use a measured profile.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
loom="${LOOM:-$root/build/bin/loom}"
out_dir="${OUT_DIR:-.}"
ranks_list="${RANKS:-2 4}"
[[ -x "$loom" ]] || { echo "collective_bench.sh: no loom binary at $loom (build first or set LOOM)" >&2; exit 2; }
mkdir -p "$out_dir"
export OMP_NUM_THREADS=1
for ranks in $ranks_list; do
  for variant in private shared; do
    flags=()
    suffix=""
    if [[ $variant == shared ]]; then
      flags=(--shared-buffers)
      suffix="_shared"
    fi
    echo "== mpirun -np $ranks loom collective bench ${flags[*]} $*"
    output="$(mpirun --allow-run-as-root --oversubscribe -np "$ranks" -x OMP_NUM_THREADS \
      ${LOOM_COMM_PROFILE:+-x LOOM_COMM_PROFILE} "$loom" collective bench --json "${flags[@]}" "$@")"
    grep -v '^{' <<<"$output" || true
    grep '^{' <<<"$output" >"$out_dir/collective_bench_${ranks}${suffix}.jsonl" || true
    echo
  done
done
