#!/usr/bin/env bash
# Runs `loom collective bench` under Open MPI with 2 and then 4 ranks on this machine (one
# compute thread per rank), with private buffers and with buffers in the shared segment, and
# prints each table; the JSON lines go to collective_bench_<ranks>[_shared].jsonl in OUT_DIR.
# Usage: bench/collective_bench.sh [extra loom collective bench flags...]
#   LOOM=path/to/loom (default build/bin/loom), OUT_DIR (default .), RANKS="2 4",
#   VARIANTS="private shared", LOOM_COMM_PROFILE=profile.json to make `auto` use a measured
#   profile, MPIRUN_ARGS for more mpirun flags, e.g. "-x MALLOC_MMAP_THRESHOLD_=4294967296
#   -x MALLOC_TRIM_THRESHOLD_=4294967296" to keep malloc from returning large temporaries to the
#   system (MPI_Allreduce and the whole-buffer algorithms allocate one per call; see
#   docs/collectives.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
loom="${LOOM:-$root/build/bin/loom}"
out_dir="${OUT_DIR:-.}"
ranks_list="${RANKS:-2 4}"
variants="${VARIANTS:-private shared}"
read -r -a mpirun_args <<<"${MPIRUN_ARGS:-}"
[[ -x "$loom" ]] || { echo "collective_bench.sh: no loom binary at $loom (build first or set LOOM)" >&2; exit 2; }
mkdir -p "$out_dir"
export OMP_NUM_THREADS=1
for ranks in $ranks_list; do
  for variant in $variants; do
    flags=()
    suffix=""
    if [[ $variant == shared ]]; then
      flags=(--shared-buffers)
      suffix="_shared"
    fi
    echo "== mpirun -np $ranks ${MPIRUN_ARGS:+$MPIRUN_ARGS }loom collective bench ${flags[*]} $*"
    output="$(mpirun --allow-run-as-root --oversubscribe -np "$ranks" -x OMP_NUM_THREADS \
      ${LOOM_COMM_PROFILE:+-x LOOM_COMM_PROFILE} "${mpirun_args[@]}" "$loom" collective bench --json "${flags[@]}" "$@")"
    grep -v '^{' <<<"$output" || true
    grep '^{' <<<"$output" >"$out_dir/collective_bench_${ranks}${suffix}.jsonl" || true
    echo
  done
done
