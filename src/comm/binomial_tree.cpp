// Binomial reduce and broadcast. Reduce: v receives from v+1, v+2, v+4, ... (while the bit is
// clear in v) and then sends to its parent. Broadcast is the same tree in reverse; a rank posts
// the sends to all its children at once.
#include "comm/binomial_tree.h"

#include "comm/blocks.h"

namespace loom::comm {

void binomial_reduce(Communicator& comm, const void* contribution, void* partial, size_t count, DType dtype,
                     ReduceOp op, int root, int tag) {
  const int p = comm.size();
  const int v = (comm.rank() - root + p) % p;
  const size_t bytes = count * dtype_bytes(dtype);
  const void* mine = contribution;
  if (binomial_has_children(v, p) || v == 0) {
    LOOM_CHECK(partial != nullptr || count == 0, "binomial reduce needs a partial buffer on relative rank {}", v);
    copy_bytes(partial, contribution, bytes);
    mine = partial;
  }
  Scratch incoming(binomial_has_children(v, p) ? bytes : 0);
  for (int mask = 1; mask < p; mask <<= 1) {
    if ((v & mask) != 0) {
      comm.send((v - mask + root) % p, mine, bytes, tag);
      return;
    }
    if (v + mask < p) {
      comm.recv((v + mask + root) % p, incoming.data(), bytes, tag);
      reduce_into(partial, incoming.data(), count, dtype, op);
    }
  }
}

void binomial_broadcast(Communicator& comm, void* data, size_t bytes, int root, int tag) {
  const int p = comm.size();
  const int v = (comm.rank() - root + p) % p;
  int mask = 1;
  while (mask < p) {
    if ((v & mask) != 0) {
      comm.recv((v - mask + root) % p, data, bytes, tag);
      break;
    }
    mask <<= 1;
  }
  std::vector<Pending> sends;
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (v + mask < p) sends.push_back(comm.isend((v + mask + root) % p, data, bytes, tag));
  }
  comm.wait_all(sends);
}

}  // namespace loom::comm
