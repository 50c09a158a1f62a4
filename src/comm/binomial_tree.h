// Binomial trees rooted at any rank, shared by reduce, broadcast, the tree all-reduce and the
// hierarchical fallback. Ranks are renumbered relative to the root (v = rank - root mod p);
// v's parent is v with its lowest set bit cleared, so the tree has depth ceil(lg p).
#pragma once

#include <cstddef>

#include "comm/communicator.h"

namespace loom::comm {

// Whether relative rank v has children (then it needs a buffer to accumulate into).
inline bool binomial_has_children(int relative_rank, int p) {
  return relative_rank % 2 == 0 && relative_rank + 1 < p;
}

// Reduces every rank's `contribution` to root. `partial` (count elements, may equal
// contribution) accumulates the subtree's result and must be non-null at the root and on ranks
// with children; on the root it ends holding the reduction.
void binomial_reduce(Communicator& comm, const void* contribution, void* partial, size_t count, DType dtype,
                     ReduceOp op, int root, int tag);

// Sends root's `bytes` of data to every rank.
void binomial_broadcast(Communicator& comm, void* data, size_t bytes, int root, int tag);

}  // namespace loom::comm
