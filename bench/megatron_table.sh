#!/usr/bin/env bash
# The cost model against published runs: `loom simulate` on every row of the Megatron-LM A100
# table (REFERENCE.md section 4: Narayanan et al. 2021, GPT on DGX A100 80 GB, vocabulary 51,200,
# sequence 2,048, mixed precision, full recompute, t = min(8, t*p), p = t*p / t, micro-batch 1),
# with the dgx-a100-80g preset and the analytic profile's default constants (none fitted per
# row). Prints predicted and published TFLOP/s per GPU and their ratio, then one JSON line.
# Usage: bench/megatron_table.sh   (LOOM=path/to/loom)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
loom="${LOOM:-$root/build/bin/loom}"
[[ -x "$loom" ]] || { echo "megatron_table.sh: no loom binary at $loom (build first or set LOOM)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name hidden layers heads t*p gpus batch published_tflops
rows="1.7B 2304 24 24 1 32 512 137
3.6B 3072 30 32 2 64 512 138
7.5B 4096 36 32 4 128 512 142
18B 6144 40 48 8 256 1024 135
39B 8192 48 64 16 512 1536 138
76B 10240 60 80 32 1024 1792 140
145B 12288 80 96 64 1536 2304 148
310B 16384 96 128 128 1920 2160 155
530B 20480 105 128 280 2520 2520 163
1T 25600 128 160 512 3072 3072 163"

printf '%-6s %4s %4s %5s %6s %10s %10s %7s %9s\n' model t p dp batch predicted published ratio "step s"
results=()
worst=0
while read -r name hidden layers heads tp_pp gpus batch published; do
  t=$((tp_pp < 8 ? tp_pp : 8))
  p=$((tp_pp / t))
  dp=$((gpus / tp_pp))
  config="$work/$name.json"
  # A GPT-2 style config (LayerNorm, GELU, learned positions, tied embeddings), as Megatron-LM's GPT.
  printf '{"model_type": "gpt2", "n_layer": %d, "n_embd": %d, "n_head": %d, "vocab_size": 51200, "n_positions": 2048, "tie_word_embeddings": true}\n' \
    "$layers" "$hidden" "$heads" >"$config"
  json="$("$loom" simulate --model "$config" --cluster dgx-a100-80g --tp "$t" --pp "$p" --dp "$dp" \
    --batch "$batch" --seq 2048 --recompute full --precision fp16 --json)"
  read -r predicted step_ms < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["tflops_per_device"], d["step_ms"])' "$json")
  ratio=$(python3 -c "print(f'{$predicted / $published:.3f}')")
  printf '%-6s %4d %4d %5d %6d %10.1f %10d %7s %9.2f\n' "$name" "$t" "$p" "$dp" "$batch" "$predicted" "$published" "$ratio" \
    "$(python3 -c "print($step_ms / 1000)")"
  results+=("{\"model\": \"$name\", \"predicted_tflops\": $predicted, \"published_tflops\": $published, \"ratio\": $ratio}")
  worst=$(python3 -c "print(max($worst, abs($ratio - 1)))")
done <<<"$rows"
echo "largest error: $(python3 -c "print(f'{100 * $worst:.1f}%')") (target: within 15% on every row)"
(IFS=,; echo "{\"benchmark\": \"megatron_table\", \"largest_error\": $worst, \"rows\": [${results[*]}]}")
