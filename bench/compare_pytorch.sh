#!/usr/bin/env bash
# Runs `loom bench step` and the same model in Debian's PyTorch, one after the other in the same
# run (same threads, same shapes), and prints the tokens/s ratio. Installs python3-torch when
# missing. Usage: bench/compare_pytorch.sh [threads] [pytorch-steps]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads="${1:-2}"
torch_steps="${2:-2}"
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends python3-torch
fi
[[ -x "$root/build/bin/loom" ]] || "$root/scripts/setup.sh"

loom_out="$("$root/build/bin/loom" bench step --threads "$threads")"
echo "$loom_out"
torch_out="$(OMP_NUM_THREADS="$threads" /usr/bin/python3 "$root/bench/pytorch_step.py" --threads "$threads" --steps "$torch_steps")"
echo "$torch_out"
loom_json="$(echo "$loom_out" | tail -n 1)"
torch_json="$(echo "$torch_out" | tail -n 1)"
/usr/bin/python3 - "$loom_json" "$torch_json" <<'PY'
import json, sys
loom, torch = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ratio = loom["tokens_per_s"] / torch["tokens_per_s"]
print(f"loom {loom['tokens_per_s']:.0f} tokens/s, pytorch {torch['tokens_per_s']:.1f} tokens/s: "
      f"ratio {ratio:.1f}x; loom MFU {loom['mfu']:.3f} of a measured {loom['gemm_peak_gflops']:.0f} GFLOP/s GEMM peak")
print(json.dumps({"loom_tokens_per_s": loom["tokens_per_s"], "pytorch_tokens_per_s": torch["tokens_per_s"],
                  "ratio": ratio, "mfu": loom["mfu"], "gemm_peak_gflops": loom["gemm_peak_gflops"]}))
PY
