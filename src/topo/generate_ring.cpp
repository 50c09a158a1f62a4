// Ring all-reduce: p chunks, a reduce-scatter then an all-gather around ranks 0, 1, ..., p - 1;
// every step each rank sends one chunk to its successor and receives one from its predecessor.
#include <numeric>

#include "topo/generators.h"
#include "topo/plan_builder.h"
#include "topo/ring_phases.h"

namespace loom::topo {

CollectivePlan generate_ring(int ranks, int64_t bytes, int element_bytes) {
  CollectivePlan plan = start_plan("ring", ranks, bytes, ranks, element_bytes);
  std::vector<int> members(static_cast<size_t>(ranks));
  std::iota(members.begin(), members.end(), 0);
  std::vector<Transfer> transfers;
  const int step = add_ring_reduce_scatter(transfers, members, 0, 1, 0);
  add_ring_all_gather(transfers, members, 0, 1, step);
  append_transfers(plan, std::move(transfers));
  return plan;
}

}  // namespace loom::topo
