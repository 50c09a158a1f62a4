#!/usr/bin/env bash
# Failure tests under mpirun -np 3 (issue 3, "Failures"): a rank that skips a collective makes the
# others time out within LOOM_COMM_TIMEOUT_S=2 and end the job, non-zero and well within 30 s, with
# a message naming the operation, the group and the missing rank; a mismatched count under
# LOOM_COMM_CHECK=1 names the differing rank.
# Usage: failure_test.sh MPIEXEC loom_mpi_failure
set -u
mpiexec=$1
program=$2
status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_case() {  # name, expected message pieces..., -- program arguments...
  local name=$1; shift
  local expected=()
  while [[ $1 != -- ]]; do expected+=("$1"); shift; done
  shift
  local start end code
  start=$(date +%s)
  timeout 60 "$mpiexec" --allow-run-as-root --oversubscribe --mca btl ^openib -np 3 "$program" "$@" >"$log" 2>&1
  code=$?
  end=$(date +%s)
  if [[ $code -eq 0 ]]; then
    echo "FAIL $name: the job exited 0"; status=1
  elif [[ $code -eq 124 ]]; then
    echo "FAIL $name: the job hung (killed after 60 s)"; status=1
  elif (( end - start > 30 )); then
    echo "FAIL $name: the job took $((end - start)) s (limit 30 s)"; status=1
  fi
  for piece in "${expected[@]}"; do
    if ! grep -qF -- "$piece" "$log"; then
      echo "FAIL $name: the output does not name '$piece'"; status=1
    fi
  done
  echo "--- $name: exit $code after $((end - start)) s; loom lines:"
  grep '^loom' "$log" || cat "$log"
}

for algorithm in ring shared_memory; do
  LOOM_COMM_TIMEOUT_S=2 run_case "skip ($algorithm)" "loom: rank" "all_reduce($algorithm, 65536 x f32, sum)" \
    "on group 'world'" "waiting for rank 2" -- skip "$algorithm"
done
LOOM_COMM_CHECK=1 LOOM_COMM_TIMEOUT_S=10 run_case "mismatch" "loom: rank" "on group 'world'" "rank 2 called" \
  -- mismatch
exit $status
