// Binomial-tree reduce to root (binomial_tree.cpp). The root accumulates in its recv buffer;
// a rank with children accumulates in scratch; a leaf sends its send buffer as is.
// Steps: ceil(lg p). Bytes on the critical path: n ceil(lg p).
#include "comm/binomial_tree.h"
#include "comm/blocks.h"
#include "comm/collective_algorithms.h"

namespace loom::comm {

void reduce_binomial(Communicator& comm, const void* send, void* recv, size_t count, DType dtype, ReduceOp op,
                     int root) {
  const int p = comm.size();
  const int v = (comm.rank() - root + p) % p;
  const bool accumulates = v != 0 && binomial_has_children(v, p);
  Scratch partial(accumulates ? count * dtype_bytes(dtype) : 0);
  void* into = v == 0 ? recv : (accumulates ? partial.data() : nullptr);
  binomial_reduce(comm, send, into, count, dtype, op, root, /*tag=*/0);
}

}  // namespace loom::comm
