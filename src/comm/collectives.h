// The collectives: free functions on a communicator with an options struct (algorithm, reduce
// op, timeout). Buffers are raw memory of `count` elements of `dtype`; bf16 is reduced in fp32.
// Every rank of the group must call the same collective with the same count, dtype and options
// (LOOM_COMM_CHECK=1 verifies it before each call). options.algorithm applies to all_reduce; the
// other collectives pick their algorithm by size (collective_algorithms.h). avg divides once,
// after the reduction; integers truncate toward zero. Size-1 groups and count 0 are valid.
#pragma once

#include <cstddef>

#include "comm/communicator.h"

namespace loom::comm {

// In place: every rank ends with the reduction of all ranks' buffers.
void all_reduce(Communicator& comm, void* data, size_t count, DType dtype, const CollectiveOptions& options = {});

// send holds size() * recv_count elements; rank r receives the reduction of block r. send and
// recv must not overlap.
void reduce_scatter(Communicator& comm, const void* send, void* recv, size_t recv_count, DType dtype,
                    const CollectiveOptions& options = {});

// recv holds size() * send_count elements: block r is rank r's send buffer. send may be this
// rank's own block of recv (in place); otherwise they must not overlap.
void all_gather(Communicator& comm, const void* send, void* recv, size_t send_count, DType dtype,
                const CollectiveOptions& options = {});

// In place: every rank ends with root's buffer.
void broadcast(Communicator& comm, void* data, size_t count, DType dtype, int root,
               const CollectiveOptions& options = {});

// root's recv receives the reduction; recv is ignored on other ranks (may be null there). recv
// may equal send.
void reduce(Communicator& comm, const void* send, void* recv, size_t count, DType dtype, int root,
            const CollectiveOptions& options = {});

// send and recv hold size() * count_per_rank elements: block j of rank i goes to block i of rank j.
// send and recv must not overlap.
void all_to_all(Communicator& comm, const void* send, void* recv, size_t count_per_rank, DType dtype,
                const CollectiveOptions& options = {});

}  // namespace loom::comm
