// Plan builder: transfers in, both sides of every message out, in step order.
#include "topo/plan_builder.h"

#include <algorithm>

#include "core/error.h"

namespace loom::topo {

CollectivePlan start_plan(const std::string& algorithm, int ranks, int64_t bytes, int chunks, int element_bytes) {
  if (ranks < 1) throw_user_error("[{}] ranks={} must be >= 1", algorithm, ranks);
  if (element_bytes < 1) throw_user_error("[{}] element_bytes={} must be >= 1", algorithm, element_bytes);
  if (bytes < 0 || bytes % element_bytes != 0)
    throw_user_error("[{}] bytes={} must be a non-negative multiple of element_bytes={}", algorithm, bytes,
                     element_bytes);
  CollectivePlan plan;
  plan.algorithm = algorithm;
  plan.ranks = ranks;
  plan.element_bytes = element_bytes;
  plan.chunk_bytes = even_chunks(bytes, chunks, element_bytes);
  plan.ops.resize(size_t(ranks));
  return plan;
}

void append_transfers(CollectivePlan& plan, std::vector<Transfer> transfers) {
  std::stable_sort(transfers.begin(), transfers.end(),
                   [](const Transfer& a, const Transfer& b) { return a.step < b.step; });
  for (const Transfer& t : transfers) {
    plan.ops[size_t(t.from)].push_back({PlanOpKind::send, t.from_buffer, t.step, t.to, t.first_chunk, t.chunk_count});
    plan.ops[size_t(t.to)].push_back({t.reduce ? PlanOpKind::recv_reduce : PlanOpKind::recv, t.to_buffer, t.step,
                                      t.from, t.first_chunk, t.chunk_count});
  }
}

}  // namespace loom::topo
