// Ring all-reduce: the buffer is cut into p balanced blocks (empty ones when count < p); a
// pipelined ring reduce-scatter leaves rank r owning reduced block r, a pipelined ring
// all-gather hands the blocks round (ring_phases.cpp). Each block is reduced along one chain
// and then copied, so every rank ends bitwise identical.
// Steps: 2(p-1), each in segments of segment_bytes. Bytes sent per rank: 2 n (p-1)/p; bytes
// reduced per rank: n (p-1)/p. Bandwidth-optimal.
#include "comm/allreduce_algorithms.h"
#include "comm/ring_phases.h"

namespace loom::comm {

void all_reduce_ring(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op, size_t segment_bytes) {
  const Blocks blocks = Blocks::balanced(count, comm.size());
  ring_reduce_scatter_in_place(comm, data, blocks, dtype, op, segment_bytes, /*tag_offset=*/0);
  ring_all_gather_in_place(comm, data, blocks, dtype, segment_bytes, /*tag_offset=*/kRingWindow);
}

}  // namespace loom::comm
