#!/usr/bin/env bash
# The cost model against measurement on this machine: for plans on 2 and 4 ranks (DP, ZeRO-3,
# TP, PP with both schedules, mixed per-layer strategies, recompute), `loom simulate` with the
# profile `mpirun -np 2 loom profile` measured (2 ranks at once, one per core), against the mean
# step time (first two steps excluded) and the peak memory per rank that `mpirun -np N loom train
# --plan` reports. 4 ranks share the 2 cores: the cost model bounds their step by the cores.
# Targets: step time within 15%, peak memory within 10%. Prints a table, then one JSON line.
# Usage: bench/planner_accuracy.sh   (LOOM=path/to/loom, STEPS=10, MODEL=tiny, BATCH=16, SEQ=128)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
loom="${LOOM:-$root/build/bin/loom}"
steps="${STEPS:-10}"
model="${MODEL:-tiny}"
batch="${BATCH:-16}"
seq="${SEQ:-128}"
[[ -x "$loom" ]] || { echo "planner_accuracy.sh: no loom binary at $loom (build first or set LOOM)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
mpirun_cmd=(mpirun --allow-run-as-root --oversubscribe -x OMP_NUM_THREADS)

# The plans: name world stages micro-batches schedule per-layer strategies (6 layers of tiny).
python3 - "$work" "$batch" <<'PY'
import json, sys
work, batch = sys.argv[1], int(sys.argv[2])
def layer(tp=1, sharding=0, recompute=False, consecutive=True, sp=False):
    return {"tp": tp, "tp_consecutive": consecutive, "sharding": sharding, "recompute": recompute,
            "sequence_parallel": sp}
def plan(name, world, stages, micro, schedule, layers, vocab=(1, 0)):
    per = len(layers) // stages
    size = world // stages
    doc = {"version": 1, "world_size": world, "global_batch": batch, "micro_batches": micro,
           "schedule": schedule,
           "stages": [{"layers": [s * per, (s + 1) * per], "ranks": list(range(s * size, (s + 1) * size))}
                      for s in range(stages)],
           "layers": layers,
           "embedding": {"tp": vocab[0], "sharding": vocab[1]}, "head": {"tp": vocab[0], "sharding": vocab[1]}}
    json.dump(doc, open(f"{work}/{name}.json", "w"))
plan("dp2", 2, 1, 1, "1f1b", [layer()] * 6)
plan("zero3_dp2", 2, 1, 1, "1f1b", [layer(sharding=3)] * 6, (1, 3))
plan("dp2_recompute", 2, 1, 1, "1f1b", [layer(recompute=True)] * 6)
plan("tp2", 2, 1, 1, "1f1b", [layer(tp=2)] * 6, (2, 0))
plan("pp2_1f1b", 2, 2, 4, "1f1b", [layer()] * 6)
plan("pp2_gpipe", 2, 2, 4, "gpipe", [layer()] * 6)
plan("mixed_dp2", 2, 1, 2, "1f1b", [layer(sharding=3), layer(), layer(sharding=2, recompute=True),
                                    layer(sharding=3), layer(), layer(sharding=1)], (1, 2))
plan("dp4", 4, 1, 1, "1f1b", [layer()] * 6)
plan("dp2_tp2", 4, 1, 1, "1f1b", [layer(tp=2)] * 6, (2, 0))
plan("pp2_dp2_zero3_recompute", 4, 2, 4, "1f1b", [layer(sharding=3, recompute=True)] * 6, (1, 3))
plan("hetero_tp_4", 4, 1, 1, "1f1b", [layer(tp=1), layer(tp=2), layer(tp=2, consecutive=False), layer(tp=1),
                                     layer(tp=4), layer(tp=2)], (1, 0))
PY

cores=2
"${mpirun_cmd[@]}" -np "$cores" "$loom" profile --model "$model" --seq "$seq" --out "$work/profile.json" \
  >"$work/profile.log"

run() {  # name ranks
  local name="$1" ranks="$2"
  "$loom" simulate --plan "$work/$name.json" --model "$model" --cluster local --devices-per-node "$ranks" \
    --profile "$work/profile.json" --seq "$seq" --json >"$work/$name.predicted.json"
  "${mpirun_cmd[@]}" -np "$ranks" "$loom" train --model "$model" --plan "$work/$name.json" --steps "$steps" \
    --batch "$batch" --seq "$seq" --threads 1 --metrics "$work/$name.metrics.jsonl" >"$work/$name.log" 2>&1
}
names2="dp2 zero3_dp2 dp2_recompute tp2 pp2_1f1b pp2_gpipe mixed_dp2"
names4="dp4 dp2_tp2 pp2_dp2_zero3_recompute hetero_tp_4"
for name in $names2; do run "$name" 2; done
for name in $names4; do run "$name" 4; done

python3 - "$work" $names2 $names4 <<'PY'
import json, sys
work, names = sys.argv[1], sys.argv[2:]
rows, worst_time, worst_mem = [], 0.0, 0.0
print(f"{'plan':<26} {'ranks':>5} {'pred ms':>9} {'meas ms':>9} {'time err':>9} {'pred MB':>9} {'meas MB':>9} {'mem err':>8}")
for name in names:
    predicted = json.load(open(f"{work}/{name}.predicted.json"))
    lines = [json.loads(l) for l in open(f"{work}/{name}.metrics.jsonl")]
    steps = [l for l in lines if not l.get("summary")][2:]   # the first two steps warm up
    summary = lines[-1]
    measured_ms = sum(l["step_ms"] for l in steps) / len(steps)
    measured_mem = summary["peak_mem_bytes"]
    predicted_mem = predicted["max_peak_mem_bytes"]
    time_err = predicted["step_ms"] / measured_ms - 1
    mem_err = predicted_mem / measured_mem - 1
    worst_time, worst_mem = max(worst_time, abs(time_err)), max(worst_mem, abs(mem_err))
    ranks = summary["ranks"]
    print(f"{name:<26} {ranks:>5} {predicted['step_ms']:>9.1f} {measured_ms:>9.1f} {100*time_err:>+8.1f}% "
          f"{predicted_mem/1e6:>9.1f} {measured_mem/1e6:>9.1f} {100*mem_err:>+7.1f}%")
    rows.append({"plan": name, "ranks": ranks, "predicted_step_ms": predicted["step_ms"], "measured_step_ms": measured_ms,
                 "predicted_peak_mem_bytes": predicted_mem, "measured_peak_mem_bytes": measured_mem})
print(f"largest error: step time {100*worst_time:.1f}% (target 15%), peak memory {100*worst_mem:.1f}% (target 10%)")
print(json.dumps({"benchmark": "planner_accuracy", "largest_time_error": worst_time, "largest_memory_error": worst_mem,
                  "rows": rows}))
PY
