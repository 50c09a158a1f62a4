// Binomial tree: the whole vector (one chunk) reduced to rank 0 along a binomial tree, then
// broadcast back along the same tree. In reduce step k the ranks whose lowest set bit is 2^k
// send to rank - 2^k, so ceil(lg p) steps gather everything; the broadcast runs them backwards.
#include "topo/generators.h"
#include "topo/plan_builder.h"

namespace loom::topo {

CollectivePlan generate_binomial_tree(int ranks, int64_t bytes, int element_bytes) {
  CollectivePlan plan = start_plan("tree", ranks, bytes, 1, element_bytes);
  int levels = 0;
  while ((1 << levels) < ranks) ++levels;
  std::vector<Transfer> transfers;
  for (int k = 0; k < levels; ++k) {
    const int distance = 1 << k;
    for (int rank = distance; rank < ranks; rank += 2 * distance)
      transfers.push_back({k, rank, rank - distance, 0, 1, true});
  }
  for (int k = levels - 1; k >= 0; --k) {
    const int distance = 1 << k;
    const int step = levels + (levels - 1 - k);
    for (int rank = distance; rank < ranks; rank += 2 * distance)
      transfers.push_back({step, rank - distance, rank, 0, 1, false});
  }
  append_transfers(plan, std::move(transfers));
  return plan;
}

}  // namespace loom::topo
