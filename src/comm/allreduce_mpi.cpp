// The baseline: the transport's own all-reduce (MPI_Allreduce on the MPI transport). MPI has no
// average, so avg runs as a sum and the dispatcher divides, as for every other algorithm.
// Steps and bytes: whatever the MPI library picks (Open MPI's `tuned` table, REFERENCE.md 5).
#include "comm/allreduce_algorithms.h"

namespace loom::comm {

void all_reduce_mpi(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op) {
  const ReduceOp native_op = op == ReduceOp::avg ? ReduceOp::sum : op;
  if (!comm.transport().native_all_reduce(data, count, dtype, native_op)) {
    throw_user_error("all-reduce algorithm 'mpi' needs the MPI transport (this group runs on {})",
                     comm.transport().kind());
  }
}

}  // namespace loom::comm
