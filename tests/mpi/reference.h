// Helpers of the MPI tests: random per-rank data of every dtype, the expected all-reduce computed
// by MPI_Allreduce itself on the same group, and a comparison that is exact for integers and
// within rounding for floating types.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace loom::comm::testing {

inline const std::vector<DType>& all_dtypes() {
  static const std::vector<DType> dtypes{DType::f32, DType::bf16, DType::f64, DType::i32, DType::i64};
  return dtypes;
}
inline const std::vector<ReduceOp>& all_ops() {
  static const std::vector<ReduceOp> ops{ReduceOp::sum, ReduceOp::avg, ReduceOp::max, ReduceOp::min};
  return ops;
}

// The MPI communicator under a Communicator of the MPI transport.
MPI_Comm mpi_comm_of(Communicator& comm);

// `count` random elements, different on every rank and for every seed: floats in [-1, 1),
// integers in [-1000, 1000].
std::vector<char> random_elements(size_t count, DType dtype, int rank, uint64_t seed);

// The all-reduce of `input` over `comm` by MPI_Allreduce (bf16 through fp32, avg as a sum
// divided by the group size, integers truncating).
std::vector<char> expected_all_reduce(Communicator& comm, const std::vector<char>& input, size_t count, DType dtype,
                                      ReduceOp op);

// Empty when `actual` matches `expected`; else the first mismatch, described.
std::string compare_all_reduce(const void* actual, const std::vector<char>& expected, size_t count, DType dtype,
                               ReduceOp op, int group_size);

}  // namespace loom::comm::testing
