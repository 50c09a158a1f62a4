// Recursive-doubling all-reduce. After the fold (allreduce_fold.cpp), round k pairs active
// rank i with i xor 2^k; both exchange their whole buffer and reduce, so after lg p' rounds
// every active rank holds the total. Both partners combine the same two partials and the ops
// are commutative, so every rank ends bitwise identical.
// Steps: lg p' (+2 with a fold). Bytes sent per rank: n lg p' (+n with a fold).
#include "comm/allreduce_algorithms.h"
#include "comm/blocks.h"

namespace loom::comm {

void all_reduce_recursive_doubling(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op) {
  const Fold fold(comm);
  fold_in(comm, fold, data, count, dtype, op, /*tag=*/0);
  if (fold.new_rank >= 0 && fold.active > 1) {
    const size_t bytes = count * dtype_bytes(dtype);
    Scratch incoming(bytes);
    for (int distance = 1; distance < fold.active; distance *= 2) {
      const int peer = fold.group_rank(fold.new_rank ^ distance);
      comm.send_recv(peer, data, bytes, peer, incoming.data(), bytes, /*tag=*/2);
      reduce_into(data, incoming.data(), count, dtype, op);
    }
  }
  fold_out(comm, fold, data, count, dtype, /*tag=*/1);
}

}  // namespace loom::comm
