// The non-power-of-two fold shared by recursive doubling and Rabenseifner (as in MPICH): with
// p = p' + r, ranks 0..2r-1 pair up; each even rank sends its whole buffer to its odd partner,
// which reduces it and takes part for both, and gets the result back at the end.
// Cost: two extra messages of n bytes on the critical path.
#include <cstring>

#include "comm/allreduce_algorithms.h"
#include "comm/blocks.h"

namespace loom::comm {

Fold::Fold(const Communicator& comm) {
  const int p = comm.size();
  const int r = comm.rank();
  active = largest_power_of_two_at_most(p);
  extra = p - active;
  if (r < 2 * extra) {
    new_rank = r % 2 == 0 ? -1 : r / 2;
    partner = r % 2 == 0 ? r + 1 : r - 1;
  } else {
    new_rank = r - extra;
  }
}

void fold_in(Communicator& comm, const Fold& fold, void* data, size_t count, DType dtype, ReduceOp op, int tag) {
  if (fold.partner < 0) return;
  const size_t bytes = count * dtype_bytes(dtype);
  if (fold.new_rank < 0) {
    comm.send(fold.partner, data, bytes, tag);
  } else {
    Scratch incoming(bytes);
    comm.recv(fold.partner, incoming.data(), bytes, tag);
    reduce_into(data, incoming.data(), count, dtype, op);
  }
}

void fold_out(Communicator& comm, const Fold& fold, void* data, size_t count, DType dtype, int tag) {
  if (fold.partner < 0) return;
  const size_t bytes = count * dtype_bytes(dtype);
  if (fold.new_rank < 0) {
    comm.recv(fold.partner, data, bytes, tag);
  } else {
    comm.send(fold.partner, data, bytes, tag);
  }
}

}  // namespace loom::comm
