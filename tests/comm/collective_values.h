// Values for the collective tests: what each rank contributes, as integers exactly representable
// in every dtype (bf16 included, at every partial sum), so that sum, avg, max and min over p
// ranks have closed forms and results are compared exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <omp.h>

#include "comm/thread_transport.h"
#include "comm/types.h"
#include "core/dtype.h"

namespace loom::comm::testing {

// Element i of a buffer of `dtype`, as a double (exact for the test values).
inline double element(const void* data, size_t i, DType dtype) {
  switch (dtype) {
    case DType::f32:
      return static_cast<const float*>(data)[i];
    case DType::bf16:
      return static_cast<const BFloat16*>(data)[i].to_float();
    case DType::f64:
      return static_cast<const double*>(data)[i];
    case DType::i32:
      return static_cast<const int32_t*>(data)[i];
    case DType::i64:
      return static_cast<double>(static_cast<const int64_t*>(data)[i]);
    default:
      return 0;
  }
}

// Rank r contributes x(r, i) = k r + (i mod m) - c at index i; c > 0 makes some values negative
// (avg of integers must truncate toward zero). Per dtype, k, m, c keep every partial sum exact.
struct Contribution {
  int64_t k, m, c;
};

inline Contribution contribution_of(DType dtype) {
  switch (dtype) {
    case DType::bf16:
      return {1, 4, 2};  // |partial sums| <= 136 over 16 ranks: exact in bf16
    case DType::f32:
      return {3, 11, 5};
    case DType::f64:
      return {int64_t{1} << 20, 13, 6};
    case DType::i32:
      return {100000, 17, 8};
    case DType::i64:
      return {int64_t{1} << 33, 19, 9};  // beyond 32 bits
    default:
      return {1, 3, 1};
  }
}

inline int64_t contribution(DType dtype, int rank, size_t i) {
  const Contribution c = contribution_of(dtype);
  return c.k * rank + static_cast<int64_t>(i % static_cast<size_t>(c.m)) - c.c;
}

// Closed forms over ranks 0..p-1 at index i (sum and avg in double for the float formula).
inline int64_t closed_sum(DType dtype, int p, size_t i) {
  const Contribution c = contribution_of(dtype);
  return c.k * p * (p - 1) / 2 + p * (static_cast<int64_t>(i % static_cast<size_t>(c.m)) - c.c);
}
inline int64_t closed_max(DType dtype, int p, size_t i) {
  return contribution(dtype, p - 1, i);
}
inline int64_t closed_min(DType dtype, int /*p*/, size_t i) {
  return contribution(dtype, 0, i);
}

// A data-movement pattern: distinct-looking values per (rank, index), exact in the dtype.
inline int64_t pattern(DType dtype, int rank, size_t i) {
  const auto index = static_cast<int64_t>(i);
  switch (dtype) {
    case DType::bf16:
      return (rank * 37 + index) % 255 - 127;
    case DType::f32:
      return (rank * 1048583 + index) % 16777213;
    case DType::i32:
      return (rank * 16777259 + index) % 2147483629;
    default:
      return rank * (int64_t{1} << 36) + index;
  }
}

template <typename T>
T from_integer(int64_t value) {
  if constexpr (std::is_same_v<T, BFloat16>) {
    return BFloat16::from_float(static_cast<float>(value));
  } else {
    return static_cast<T>(value);
  }
}

template <typename T>
double to_double(T value) {
  if constexpr (std::is_same_v<T, BFloat16>) {
    return value.to_float();
  } else {
    return static_cast<double>(value);
  }
}

template <typename T>
bool same(T a, T b) {
  if constexpr (std::is_same_v<T, BFloat16>) {
    return a.bits == b.bits;
  } else {
    return a == b;
  }
}

// The expected all-reduce of x over p ranks at index i.
template <typename T>
T expected_reduction(DType dtype, ReduceOp op, int p, size_t i) {
  switch (op) {
    case ReduceOp::sum:
      return from_integer<T>(closed_sum(dtype, p, i));
    case ReduceOp::max:
      return from_integer<T>(closed_max(dtype, p, i));
    case ReduceOp::min:
      return from_integer<T>(closed_min(dtype, p, i));
    case ReduceOp::avg: {
      const int64_t sum = closed_sum(dtype, p, i);
      if constexpr (std::is_same_v<T, BFloat16>) {
        return BFloat16::from_float(static_cast<float>(sum) / static_cast<float>(p));
      } else if constexpr (std::is_floating_point_v<T>) {
        return static_cast<T>(sum) / static_cast<T>(p);
      } else {
        return static_cast<T>(sum / p);  // truncates toward zero
      }
    }
  }
  return T{};
}

// Calls f.template operator()<T>() with the C++ type of `dtype`.
template <typename F>
void visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32:
      return f.template operator()<float>();
    case DType::bf16:
      return f.template operator()<BFloat16>();
    case DType::f64:
      return f.template operator()<double>();
    case DType::i32:
      return f.template operator()<int32_t>();
    case DType::i64:
      return f.template operator()<int64_t>();
    default:
      throw std::runtime_error("no test type for " + dtype_name(dtype));
  }
}

// "" when got == expected(i) for every i, else a line naming the first differing index.
template <typename T, typename Expected>
std::string first_mismatch(const std::vector<T>& got, Expected expected) {
  for (size_t i = 0; i < got.size(); ++i) {
    const T want = expected(i);
    if (!same(got[i], want)) {
      return fmt::format("index {} of {}: got {} expected {}", i, got.size(), to_double(got[i]), to_double(want));
    }
  }
  return "";
}

inline const std::vector<DType>& test_dtypes() {
  static const std::vector<DType> dtypes{DType::f32, DType::bf16, DType::f64, DType::i32, DType::i64};
  return dtypes;
}
inline const std::vector<ReduceOp>& test_ops() {
  static const std::vector<ReduceOp> ops{ReduceOp::sum, ReduceOp::avg, ReduceOp::max, ReduceOp::min};
  return ops;
}
// Odd and prime rank counts, a power of two, and 13 and 16 beyond one byte of ranks.
inline const std::vector<int>& test_rank_counts() {
  static const std::vector<int> ranks{1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16};
  return ranks;
}
inline const std::vector<size_t>& small_counts() {
  static const std::vector<size_t> counts{0, 1, 7, 1000};
  return counts;
}
inline constexpr size_t kLargeCount = size_t{1} << 20;

// ThreadWorld::run with one OpenMP thread per rank: the rank threads already fill the cores, and
// an OpenMP team inside each (reductions of large buffers) would only oversubscribe them.
inline void run_ranks(int ranks, const std::function<void(Communicator&)>& fn, int ranks_per_node = 0) {
  ThreadWorld::run(
      ranks,
      [&](Communicator& comm) {
        omp_set_num_threads(1);
        fn(comm);
      },
      ranks_per_node);
}

}  // namespace loom::comm::testing
