// Plan builder: the generators describe an all-reduce as transfers (one message: a send on one
// rank and its receive on another, both at one step) and the builder writes both sides into the
// plan, in step order. Writing both sides of a message at once is what keeps the k-th send a -> b
// meeting the k-th receive on b from a, however a generator interleaves its phases.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topo/collective_plan.h"

namespace loom::topo {

struct Transfer {
  int32_t step = 0;
  int32_t from = 0;
  int32_t to = 0;
  int32_t first_chunk = 0;
  int32_t chunk_count = 1;
  bool reduce = false;  // the receive is recv_reduce, else recv
  PlanBuffer from_buffer = PlanBuffer::data;
  PlanBuffer to_buffer = PlanBuffer::data;
};

// A plan with no operations yet: `ranks` empty op lists, the buffer cut into `chunks` even chunks.
// UserError (naming `algorithm`) unless ranks >= 1, element_bytes >= 1 and bytes is a
// non-negative multiple of element_bytes.
CollectivePlan start_plan(const std::string& algorithm, int ranks, int64_t bytes, int chunks, int element_bytes);

// Appends every transfer's send and receive, sorted by step (stable: transfers of one step keep
// their order). Transfers must not start before a step the plan already holds for their ranks.
void append_transfers(CollectivePlan& plan, std::vector<Transfer> transfers);

}  // namespace loom::topo
