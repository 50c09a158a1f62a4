// The shared_memory all-reduce: one node's ranks reduce through a shared segment instead of
// sending messages. Each byte moves as few times as possible: a rank copies into its staging
// slot only the parts of a chunk that others reduce, reduces its own part straight from its
// buffer and the peers' slots, and copies the others' reduced parts back. Chunks are small enough
// to stay in cache and pipelined through several slots. Buffers that already lie in a shared
// buffer of the group (shared_buffer.h) skip the copies: every rank reduces its part across all
// slices and writes the result into all of them.
#pragma once

#include <cstddef>

#include "comm/communicator.h"

namespace loom::comm {

// In place, over a group on one node (UserError otherwise); avg is reduced as a sum (the
// dispatcher divides). Either every rank's `data` lies in its part of the same shared buffer, at
// the same offset, or no rank's does. Synchronisation is by counters in the segment, without MPI
// calls; a wait beyond comm.timeout() fails the communicator, naming the ranks that did not arrive.
void all_reduce_shared_memory(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op);

// The bytes of shared memory one rank holds, from its first shared_memory all-reduce on a group
// until the group ends: the staging slots and control words of its slice (counted as
// communication memory).
size_t shared_memory_staging_bytes();

}  // namespace loom::comm
