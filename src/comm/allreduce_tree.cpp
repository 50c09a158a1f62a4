// Tree all-reduce: binomial-tree reduce to rank 0, then binomial broadcast from rank 0 (both in
// binomial_tree.cpp). One rank computes the result, so all ranks agree bitwise.
// Steps: 2 ceil(lg p). Bytes on the critical path: 2 n ceil(lg p); rank 0 reduces n lg p.
#include "comm/allreduce_algorithms.h"
#include "comm/binomial_tree.h"
#include "comm/reduce_kernels.h"

namespace loom::comm {

void all_reduce_tree(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op) {
  binomial_reduce(comm, data, data, count, dtype, op, /*root=*/0, /*tag=*/0);
  binomial_broadcast(comm, data, count * dtype_bytes(dtype), /*root=*/0, /*tag=*/1);
}

}  // namespace loom::comm
