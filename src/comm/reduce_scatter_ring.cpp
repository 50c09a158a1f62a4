// Ring reduce-scatter: the send buffer is copied into a work buffer (the ring reduces in place
// and the caller's send buffer is const), the pipelined ring reduce-scatter (ring_phases.cpp)
// leaves rank r holding reduced block r, which is copied out.
// Steps: p-1. Bytes sent per rank: n (p-1)/p for n = p * recv_count elements.
#include "comm/collective_algorithms.h"
#include "comm/ring_phases.h"

namespace loom::comm {

void reduce_scatter_ring(Communicator& comm, const void* send, void* recv, size_t recv_count, DType dtype, ReduceOp op,
                         size_t segment_bytes) {
  const int p = comm.size();
  const size_t block_bytes = recv_count * dtype_bytes(dtype);
  Scratch work(block_bytes * static_cast<size_t>(p));
  copy_bytes(work.data(), send, block_bytes * static_cast<size_t>(p));
  const Blocks blocks = Blocks::uniform(recv_count, p);
  ring_reduce_scatter_in_place(comm, work.data(), blocks, dtype, op, segment_bytes, /*tag_offset=*/0);
  copy_bytes(recv, element(work.data(), blocks.begin(comm.rank()), dtype), block_bytes);
}

}  // namespace loom::comm
