// The MPI tests' reference: MPI_Allreduce on the same group and data.
#include "reference.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <random>

#include "comm/collective_values.h"
#include "comm/mpi_transport.h"

namespace loom::comm::testing {
namespace {

template <typename T>
void divide(std::vector<char>& data, size_t count, int size) {
  T* values = reinterpret_cast<T*>(data.data());
  for (size_t i = 0; i < count; ++i) values[i] /= static_cast<T>(size);
}

}  // namespace

MPI_Comm mpi_comm_of(Communicator& comm) {
  return dynamic_cast<MpiTransport&>(comm.transport()).comm();
}

std::vector<char> random_elements(size_t count, DType dtype, int rank, uint64_t seed) {
  std::vector<char> data(count * dtype_size_bytes(dtype));
  std::mt19937_64 generator(seed * 1000003u + static_cast<uint64_t>(rank) * 7919u + 17u);
  std::uniform_real_distribution<double> real(-1.0, 1.0);
  std::uniform_int_distribution<int> integer(-1000, 1000);
  for (size_t i = 0; i < count; ++i) {
    switch (dtype) {
      case DType::f32:
        reinterpret_cast<float*>(data.data())[i] = static_cast<float>(real(generator));
        break;
      case DType::bf16:
        reinterpret_cast<BFloat16*>(data.data())[i] = BFloat16::from_float(static_cast<float>(real(generator)));
        break;
      case DType::f64:
        reinterpret_cast<double*>(data.data())[i] = real(generator);
        break;
      case DType::i32:
        reinterpret_cast<int32_t*>(data.data())[i] = integer(generator);
        break;
      case DType::i64:
        reinterpret_cast<int64_t*>(data.data())[i] = int64_t{integer(generator)} * 1000000007;
        break;
      default:
        break;
    }
  }
  return data;
}

std::vector<char> expected_all_reduce(Communicator& comm, const std::vector<char>& input, size_t count, DType dtype,
                                      ReduceOp op) {
  const MPI_Comm mpi = mpi_comm_of(comm);
  const MPI_Op mpi_op = op == ReduceOp::max ? MPI_MAX : op == ReduceOp::min ? MPI_MIN : MPI_SUM;
  const int n = static_cast<int>(count);
  std::vector<char> result(input.size());
  switch (dtype) {
    case DType::f32:
      MPI_Allreduce(input.data(), result.data(), n, MPI_FLOAT, mpi_op, mpi);
      break;
    case DType::f64:
      MPI_Allreduce(input.data(), result.data(), n, MPI_DOUBLE, mpi_op, mpi);
      break;
    case DType::i32:
      MPI_Allreduce(input.data(), result.data(), n, MPI_INT32_T, mpi_op, mpi);
      break;
    case DType::i64:
      MPI_Allreduce(input.data(), result.data(), n, MPI_INT64_T, mpi_op, mpi);
      break;
    case DType::bf16: {
      std::vector<float> wide(count), reduced(count);
      convert_bf16_to_f32(reinterpret_cast<const BFloat16*>(input.data()), wide.data(), count);
      MPI_Allreduce(wide.data(), reduced.data(), n, MPI_FLOAT, mpi_op, mpi);
      if (op == ReduceOp::avg)
        for (float& v : reduced) v /= static_cast<float>(comm.size());
      convert_f32_to_bf16(reduced.data(), reinterpret_cast<BFloat16*>(result.data()), count);
      return result;
    }
    default:
      break;
  }
  if (op == ReduceOp::avg) {
    switch (dtype) {
      case DType::f32:
        divide<float>(result, count, comm.size());
        break;
      case DType::f64:
        divide<double>(result, count, comm.size());
        break;
      case DType::i32:
        divide<int32_t>(result, count, comm.size());
        break;
      case DType::i64:
        divide<int64_t>(result, count, comm.size());
        break;
      default:
        break;
    }
  }
  return result;
}

std::string compare_all_reduce(const void* actual, const std::vector<char>& expected, size_t count, DType dtype,
                               ReduceOp op, int group_size) {
  const bool exact = dtype == DType::i32 || dtype == DType::i64 || op == ReduceOp::max || op == ReduceOp::min;
  // Inputs lie in [-1, 1]; sums in another order differ by a few roundings of partial sums.
  const double tolerance = dtype == DType::f32    ? 1e-6 * group_size
                           : dtype == DType::f64  ? 1e-13 * group_size
                           : dtype == DType::bf16 ? 2e-2 * group_size
                                                  : 0.0;
  for (size_t i = 0; i < count; ++i) {
    const double got = element(actual, i, dtype);
    const double want = element(expected.data(), i, dtype);
    const bool same = exact ? (dtype == DType::i64 ? static_cast<const int64_t*>(actual)[i] ==
                                                         reinterpret_cast<const int64_t*>(expected.data())[i]
                                                   : got == want)
                            : std::abs(got - want) <= tolerance;
    if (!same) {
      return fmt::format("element {} of {}: got {}, expected {} ({} {})", i, count, got, want, dtype_name(dtype),
                         reduce_op_name(op));
    }
  }
  return "";
}

}  // namespace loom::comm::testing
