// Binomial-tree broadcast (binomial_tree.cpp): relative rank v receives from v minus its lowest
// set bit, then sends to v + 2^k for each lower bit k.
// Steps: ceil(lg p). Bytes on the critical path: n ceil(lg p).
#include "comm/binomial_tree.h"
#include "comm/collective_algorithms.h"
#include "comm/reduce_kernels.h"

namespace loom::comm {

void broadcast_binomial(Communicator& comm, void* data, size_t count, DType dtype, int root) {
  binomial_broadcast(comm, data, count * dtype_bytes(dtype), root, /*tag=*/0);
}

}  // namespace loom::comm
