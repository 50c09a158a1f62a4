// The algorithms behind reduce-scatter, all-gather, broadcast, reduce and all-to-all, one per
// file (the all-reduce ones are in allreduce_algorithms.h). Internal: the public entries in
// collectives.h validate, begin the operation, pick the algorithm by size and divide for avg;
// these reduce avg as a sum. Buffers follow collectives.h.
#pragma once

#include <cstddef>

#include "comm/communicator.h"

namespace loom::comm {

// Ring: p-1 pipelined steps passing partial sums; for large blocks. Bytes sent per rank: n(p-1)/p.
void reduce_scatter_ring(Communicator& comm, const void* send, void* recv, size_t recv_count, DType dtype, ReduceOp op,
                         size_t segment_bytes);
// Pairwise exchange: at step s, send block r+s to rank r+s, receive my block from rank r-s.
// Same bytes as the ring but the steps do not depend on each other; for small blocks.
void reduce_scatter_pairwise(Communicator& comm, const void* send, void* recv, size_t recv_count, DType dtype,
                             ReduceOp op);

// Ring: p-1 pipelined steps, each forwarding the block received in the step before.
void all_gather_ring(Communicator& comm, const void* send, void* recv, size_t send_count, DType dtype,
                     size_t segment_bytes);
// Recursive doubling, p a power of two: lg p exchanges of doubling ranges.
void all_gather_recursive_doubling(Communicator& comm, const void* send, void* recv, size_t send_count, DType dtype);

// Binomial tree from root: ceil(lg p) steps of the whole buffer; for small messages.
void broadcast_binomial(Communicator& comm, void* data, size_t count, DType dtype, int root);
// Pipelined chain root -> root+1 -> ...: segments flow down the chain, so large messages take
// about (p - 1 + n/segment) segment times instead of lg p whole-buffer times.
void broadcast_chain(Communicator& comm, void* data, size_t count, DType dtype, int root, size_t segment_bytes);

// Binomial tree to root: ceil(lg p) steps.
void reduce_binomial(Communicator& comm, const void* send, void* recv, size_t count, DType dtype, ReduceOp op,
                     int root);

// Pairwise exchange: at step s, send block r+s to rank r+s and receive block r-s from rank r-s.
void all_to_all_pairwise(Communicator& comm, const void* send, void* recv, size_t count_per_rank, DType dtype);

}  // namespace loom::comm
