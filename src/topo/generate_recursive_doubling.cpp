// Recursive doubling: one chunk, the whole vector; in step k rank r exchanges it with r xor 2^k
// and both add what they receive, so after lg p steps every rank holds the sum. A rank count
// that is not a power of two folds its extras in first (power_of_two_fold.h).
#include "topo/generators.h"
#include "topo/plan_builder.h"
#include "topo/power_of_two_fold.h"

namespace loom::topo {

CollectivePlan generate_recursive_doubling(int ranks, int64_t bytes, int element_bytes) {
  CollectivePlan plan = start_plan("recursive_doubling", ranks, bytes, 1, element_bytes);
  const PowerOfTwoFold fold = power_of_two_fold(ranks);
  std::vector<Transfer> transfers;
  int step = add_fold_in(transfers, fold, 0, 1, 0);
  for (int distance = 1; distance < fold.core; distance *= 2, ++step)
    for (int rank = 0; rank < fold.core; ++rank) transfers.push_back({step, rank, rank ^ distance, 0, 1, true});
  add_fold_out(transfers, fold, 0, 1, step);
  append_transfers(plan, std::move(transfers));
  return plan;
}

}  // namespace loom::topo
