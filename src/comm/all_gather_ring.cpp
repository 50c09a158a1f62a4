// Ring all-gather: rank r places its block at r in the output, then the pipelined ring
// all-gather (ring_phases.cpp) hands every block round.
// Steps: p-1. Bytes sent per rank: n (p-1)/p for n = p * send_count elements.
#include "comm/collective_algorithms.h"
#include "comm/ring_phases.h"

namespace loom::comm {

void all_gather_ring(Communicator& comm, const void* send, void* recv, size_t send_count, DType dtype,
                     size_t segment_bytes) {
  const Blocks blocks = Blocks::uniform(send_count, comm.size());
  char* mine = element(recv, blocks.begin(comm.rank()), dtype);
  copy_bytes(mine, send, send_count * dtype_bytes(dtype));
  ring_all_gather_in_place(comm, recv, blocks, dtype, segment_bytes, /*tag_offset=*/0);
}

}  // namespace loom::comm
