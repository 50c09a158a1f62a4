#!/usr/bin/env bash
# Hybrid-parallel runtime benchmarks (issue targets), each a ratio measured in the same run:
#  1. data-parallel scaling: 2 ranks x 1 thread (half the global batch each) against 1 rank x 1
#     thread, same model, batch and plan format; and the exposed-communication share of the step;
#  2. ZeRO-3 on 2 ranks: parameter + gradient + optimizer-state peak bytes per rank against plain DP;
#  3. pipeline bubble of 1F1B on 2 stages: measured share of the step spent waiting for the other
#     stage against (S-1)/(m+S-1).
#     ZeRO-3 keeps one layer's gathered parameters (and the next, prefetched) and one layer's
#     full gradient whole, so its ratio is about 0.5 + 3 / (4 x layers): it is measured on `tiny`
#     (6 layers) and on a 24-layer model of the same width (zero_model.json, written here).
# Usage: bench/parallel_bench.sh   (LOOM=path/to/loom, STEPS=8, MODEL=tiny, BATCH=16, SEQ=256)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
loom="${LOOM:-$root/build/bin/loom}"
steps="${STEPS:-8}"
model="${MODEL:-tiny}"
batch="${BATCH:-16}"
seq="${SEQ:-256}"
[[ -x "$loom" ]] || { echo "parallel_bench.sh: no loom binary at $loom (build first or set LOOM)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
mpirun_cmd=(mpirun --allow-run-as-root --oversubscribe -x OMP_NUM_THREADS)

# plan NAME WORLD STAGES MICRO SHARDING: a plan file for the model with these degrees.
plan() {
  python3 - "$work/$1.json" "$2" "$3" "$4" "$5" "$batch" "$model" <<'PY'
import json, sys
path, world, stages, micro, sharding, batch, model = sys.argv[1], *map(int, sys.argv[2:7]), sys.argv[7]
layers = json.load(open(model))["layers"] if model.endswith(".json") else {"tiny": 6, "llama-tiny": 4, "gpt-bench": 4}[model]
per = world // stages
plan = {"version": 1, "world_size": world, "global_batch": batch, "micro_batches": micro, "schedule": "1f1b",
        "stages": [{"layers": [s * layers // stages, (s + 1) * layers // stages],
                    "ranks": list(range(s * per, (s + 1) * per))} for s in range(stages)],
        "layer_default": {"sharding": sharding},
        "embedding": {"sharding": sharding}, "head": {"sharding": sharding}}
json.dump(plan, open(path, "w"))
PY
}

# run NAME RANKS [MODEL]: trains with plan NAME, metrics in $work/NAME.jsonl.
run() {
  local args=(train --model "${3:-$model}" --plan "$work/$1.json" --steps "$steps" --seq "$seq" --threads 1
              --metrics "$work/$1.jsonl" --log-every 1000)
  if [[ $2 == 1 ]]; then "$loom" "${args[@]}" >/dev/null; else "${mpirun_cmd[@]}" -np "$2" "$loom" "${args[@]}" >/dev/null; fi
}

plan dp1 1 1 1 0; plan dp2 2 1 1 0; plan zero3 2 1 1 3; plan pp2 2 2 4 0
run dp1 1; run dp2 2; run zero3 2; run pp2 2
deep="$work/zero_model.json"
echo '{"version": 1, "family": "gpt", "vocab_size": 256, "hidden": 256, "layers": 24, "heads": 8, "seq_len": 256}' >"$deep"
model="$deep" plan deep_dp2 2 1 1 0; model="$deep" plan deep_zero3 2 1 1 3
run deep_dp2 2 "$deep"; run deep_zero3 2 "$deep"

python3 - "$work" "$steps" <<'PY'
import json, statistics, sys
work, steps = sys.argv[1], int(sys.argv[2])
def load(name):
    lines = [json.loads(l) for l in open(f"{work}/{name}.jsonl")]
    return [l for l in lines if not l.get("summary")][2:], lines[-1]   # the first two steps warm up
def median(rows, key): return statistics.median(r[key] for r in rows)
dp1, _ = load("dp1"); dp2, dp2_summary = load("dp2"); _, z3_summary = load("zero3"); pp2, _ = load("pp2")
t1, t2 = median(dp1, "step_ms"), median(dp2, "step_ms")
exposed = median(dp2, "exposed_comm_ms") / t2
def states(summary):
    c = summary["peak_mem_by_category"]
    return c["parameters"] + c["gradients"] + c["optimizer_state"]
memory_ratio = states(z3_summary) / states(dp2_summary)
_, deep_dp = load("deep_dp2"); _, deep_z3 = load("deep_zero3")
deep_ratio = states(deep_z3) / states(deep_dp)
bubble = median(pp2, "pipeline_wait_ms") / median(pp2, "step_ms")
theory = (2 - 1) / (4 + 2 - 1)
print("metric                                        measured   target")
print(f"DP scaling, 2 ranks / 1 rank (samples/s)        {t1 / t2:6.2f}x   >= 1.80x   ({t1:.0f} ms vs {t2:.0f} ms per step)")
print(f"DP exposed communication / step                 {exposed:6.3f}    < 0.10")
print(f"ZeRO-3 / DP model states per rank, 6 layers    {memory_ratio:6.3f}    <= 0.55   ({states(z3_summary)/2**20:.1f} vs {states(dp2_summary)/2**20:.1f} MiB)")
print(f"ZeRO-3 / DP model states per rank, 24 layers   {deep_ratio:6.3f}    <= 0.55   ({states(deep_z3)/2**20:.1f} vs {states(deep_dp)/2**20:.1f} MiB)")
print(f"1F1B bubble, 2 stages x 4 micro-batches         {bubble:6.3f}    {theory:.3f} +- 0.05")
print(json.dumps({"dp_scaling": t1 / t2, "dp_exposed_fraction": exposed, "zero3_state_ratio": memory_ratio, "zero3_state_ratio_24_layers": deep_ratio,
                  "bubble_fraction": bubble, "bubble_theory": theory}))
PY
