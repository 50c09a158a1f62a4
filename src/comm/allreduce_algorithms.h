// The all-reduce algorithms, one per file (docs/collectives.md gives steps and bytes on the
// wire for each). Internal: the public entry is all_reduce() in collectives.h, which validates,
// begins the operation (fresh tags), resolves `automatic` and divides for avg. Each algorithm
// reduces `count` elements of `data` in place across comm's ranks; avg is reduced as a sum.
// Every rank ends with bitwise the same result.
#pragma once

#include <cstddef>

#include "comm/communicator.h"

namespace loom::comm {

// Pipelined ring: reduce-scatter then all-gather, blocks cut into `segment_bytes` pieces.
void all_reduce_ring(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op, size_t segment_bytes);
// lg p exchanges of the whole buffer; extra ranks of a non-power-of-two group fold in first.
void all_reduce_recursive_doubling(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op);
// Recursive-halving reduce-scatter + recursive-doubling all-gather, with the same fold.
void all_reduce_rabenseifner(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op);
// Binomial-tree reduce to rank 0, then binomial broadcast.
void all_reduce_tree(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op);
// Intra-node reduce-scatter, inter-node all-reduce of the shard, intra-node all-gather.
void all_reduce_hierarchical(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op,
                             size_t segment_bytes);
// GenTree's plan for the group's node layout (group_topology.h), generated once per size and
// dtype and run by the plan interpreter (plan_interpreter.h).
void all_reduce_gentree(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op);
// The transport's own all-reduce (MPI_Allreduce); UserError on a transport without one.
void all_reduce_mpi(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op);
// Textbook: gather to rank 0, reduce in rank order, send the result to every rank.
void all_reduce_reference(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op);

// Recursive doubling / Rabenseifner on groups that are not a power of two: the first 2r ranks
// (r = p - p') pair up, even ranks hand their data to the odd partner and sit out.
struct Fold {
  explicit Fold(const Communicator& comm);
  int extra = 0;      // r: ranks folded away
  int active = 0;     // p' = p - r, a power of two
  int new_rank = -1;  // rank among the active ones; -1 for a folded-away rank
  int partner = -1;   // the odd partner of a folded-away rank, or the even one of an odd rank < 2r
  // The group rank of active rank `new_rank`.
  int group_rank(int active_rank) const { return active_rank < extra ? 2 * active_rank + 1 : active_rank + extra; }
};

// Fold step (call before the algorithm): even ranks < 2r send, odd ranks < 2r receive and reduce.
void fold_in(Communicator& comm, const Fold& fold, void* data, size_t count, DType dtype, ReduceOp op, int tag);
// Unfold step (call after): odd ranks < 2r send the result back to their even partner.
void fold_out(Communicator& comm, const Fold& fold, void* data, size_t count, DType dtype, int tag);

}  // namespace loom::comm
