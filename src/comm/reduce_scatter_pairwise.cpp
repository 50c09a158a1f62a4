// Pairwise-exchange reduce-scatter: rank r starts from its own block r; at step s = 1..p-1 it
// sends block r+s to rank r+s and reduces block r as sent by rank r-s.
// Steps: p-1 (independent of each other). Bytes sent per rank: n (p-1)/p.
#include "comm/blocks.h"
#include "comm/collective_algorithms.h"

namespace loom::comm {

void reduce_scatter_pairwise(Communicator& comm, const void* send, void* recv, size_t recv_count, DType dtype,
                             ReduceOp op) {
  const int p = comm.size();
  const int r = comm.rank();
  const size_t block_bytes = recv_count * dtype_bytes(dtype);
  copy_bytes(recv, element(send, static_cast<size_t>(r) * recv_count, dtype), block_bytes);
  Scratch incoming(block_bytes);
  for (int step = 1; step < p; ++step) {
    const int to = (r + step) % p;
    const int from = (r - step + p) % p;
    comm.send_recv(to, element(send, static_cast<size_t>(to) * recv_count, dtype), block_bytes, from, incoming.data(),
                   block_bytes, /*tag=*/0);
    reduce_into(recv, incoming.data(), recv_count, dtype, op);
  }
}

}  // namespace loom::comm
