// Direct all-reduce: p chunks, chunk r owned by rank r. Step 0: every rank sends every other
// rank that rank's chunk, and each rank adds the p - 1 pieces of its own chunk in; step 1: every
// rank sends its complete chunk to everyone. Two steps, fan-in p - 1.
#include "topo/generators.h"
#include "topo/plan_builder.h"

namespace loom::topo {

CollectivePlan generate_direct(int ranks, int64_t bytes, int element_bytes) {
  CollectivePlan plan = start_plan("direct", ranks, bytes, ranks, element_bytes);
  std::vector<Transfer> transfers;
  transfers.reserve(size_t(ranks) * size_t(ranks - 1) * 2);
  for (int step = 0; step < 2; ++step) {
    const bool reduce = step == 0;
    for (int from = 0; from < ranks; ++from)
      for (int offset = 1; offset < ranks; ++offset) {
        // Rotated order: in a step, rank r's k-th message goes to r + k, spreading the incast.
        const int to = (from + offset) % ranks;
        transfers.push_back({step, from, to, reduce ? to : from, 1, reduce});
      }
  }
  append_transfers(plan, std::move(transfers));
  return plan;
}

}  // namespace loom::topo
