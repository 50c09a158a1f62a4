// The two halves of every ring algorithm, in place on a buffer cut into comm.size() blocks:
// reduce-scatter (p-1 steps; rank r ends holding the reduction of block r) and all-gather
// (p-1 steps; rank r starts holding block r, every rank ends holding all). Each block travels in
// segments of `segment_bytes` (0: whole blocks), and a segment is forwarded as soon as it has
// arrived (and been reduced), so the steps overlap: a pipelined ring.
#pragma once

#include "comm/blocks.h"
#include "comm/communicator.h"

namespace loom::comm {

// Receives in flight per phase; each phase uses tags [tag_offset, tag_offset + kRingWindow).
inline constexpr int kRingWindow = 4;

void ring_reduce_scatter_in_place(Communicator& comm, void* data, const Blocks& blocks, DType dtype, ReduceOp op,
                                  size_t segment_bytes, int tag_offset);

void ring_all_gather_in_place(Communicator& comm, void* data, const Blocks& blocks, DType dtype, size_t segment_bytes,
                              int tag_offset);

}  // namespace loom::comm
