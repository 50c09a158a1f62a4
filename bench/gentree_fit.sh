#!/usr/bin/env bash
# Measures generated all-reduce plans run by the plan interpreter (`loom collective bench
# --plan-algorithm`) under Open MPI on this machine, then fits GenModel and alpha-beta-gamma to
# the times (`loom collective fit`): fitted parameters, and the error of each on held-out sizes.
# Usage: bench/gentree_fit.sh        LOOM=path/to/loom (default build/bin/loom), RANKS="4 2",
#   OUT_DIR (default .): the JSON lines go to gentree_fit_<ranks>.jsonl there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
loom="${LOOM:-$root/build/bin/loom}"
out_dir="${OUT_DIR:-.}"
[[ -x "$loom" ]] || { echo "gentree_fit.sh: no loom binary at $loom (build first or set LOOM)" >&2; exit 2; }
mkdir -p "$out_dir"
export OMP_NUM_THREADS=1
plans=()
for name in ring recursive_doubling rabenseifner tree direct double_binary_tree gentree; do
  plans+=(--plan-algorithm "$name")
done
for ranks in ${RANKS:-4 2}; do
  out="$out_dir/gentree_fit_$ranks.jsonl"
  echo "== mpirun -np $ranks loom collective bench (7 plans, 4 KiB to 16 MiB) > $out"
  mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$loom" collective bench --algorithm mpi "${plans[@]}" \
    --min-bytes 4096 --max-bytes 16777216 --factor 2 --json >"$out"
  echo "== loom collective fit --measurements $out"
  "$loom" collective fit --measurements "$out"
done
