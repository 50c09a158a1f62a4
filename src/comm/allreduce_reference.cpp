// The reference all-reduce, kept plain so the fast algorithms can be checked against it: every
// rank sends its buffer to rank 0, rank 0 reduces them in rank order (x0 op x1 op ... ) and
// sends the result to every rank.
// Steps: 2 (each linear in p at rank 0). Bytes through rank 0: 2 n (p-1).
#include "comm/allreduce_algorithms.h"
#include "comm/blocks.h"

namespace loom::comm {

void all_reduce_reference(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op) {
  const size_t bytes = count * dtype_bytes(dtype);
  if (comm.rank() != 0) {
    comm.send(0, data, bytes, /*tag=*/0);
    comm.recv(0, data, bytes, /*tag=*/1);
    return;
  }
  Scratch incoming(bytes);
  for (int source = 1; source < comm.size(); ++source) {
    comm.recv(source, incoming.data(), bytes, /*tag=*/0);
    reduce_into(data, incoming.data(), count, dtype, op);
  }
  for (int target = 1; target < comm.size(); ++target) comm.send(target, data, bytes, /*tag=*/1);
}

}  // namespace loom::comm
