// Reduction kernels: one template loop per (type, op), written so the compiler vectorises it,
// split across OpenMP threads only for large buffers (small ones would pay more to start the
// team than they save, and collectives call these on pipeline segments).
#include "comm/reduce_kernels.h"

#include <cstdint>
#include <cstring>

namespace loom::comm {
namespace {

// Below this many bytes of dst a single thread does the work.
constexpr size_t kParallelBytes = size_t{4} << 20;

struct Sum {
  template <typename T>
  static T apply(T a, T b) {
    return a + b;
  }
};
struct Max {
  template <typename T>
  static T apply(T a, T b) {
    return b > a ? b : a;
  }
};
struct Min {
  template <typename T>
  static T apply(T a, T b) {
    return b < a ? b : a;
  }
};

template <typename T, typename Op>
void reduce_loop(T* __restrict dst, const T* __restrict src, size_t count) {
  const bool parallel = count * sizeof(T) >= kParallelBytes;
#pragma omp parallel for simd schedule(static) if (parallel)
  for (size_t i = 0; i < count; ++i) dst[i] = Op::template apply<T>(dst[i], src[i]);
}

// bf16 <-> fp32 without branches so the loop vectorises; matches BFloat16::from_float
// (round to nearest even, NaN kept quiet).
inline float bf16_bits_to_float(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &u, sizeof(value));
  return value;
}

inline uint16_t float_to_bf16_bits(float value) {
  uint32_t u;
  std::memcpy(&u, &value, sizeof(u));
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  return static_cast<uint16_t>(nan ? ((u >> 16) | 0x0040u) : rounded);
}

template <typename Op>
void reduce_loop_bf16(uint16_t* __restrict dst, const uint16_t* __restrict src, size_t count) {
  const bool parallel = count * sizeof(uint16_t) >= kParallelBytes;
#pragma omp parallel for simd schedule(static) if (parallel)
  for (size_t i = 0; i < count; ++i) {
    dst[i] = float_to_bf16_bits(Op::template apply<float>(bf16_bits_to_float(dst[i]), bf16_bits_to_float(src[i])));
  }
}

template <typename Op>
void reduce_dtype(void* dst, const void* src, size_t count, DType dtype) {
  switch (dtype) {
    case DType::f32:
      return reduce_loop<float, Op>(static_cast<float*>(dst), static_cast<const float*>(src), count);
    case DType::f64:
      return reduce_loop<double, Op>(static_cast<double*>(dst), static_cast<const double*>(src), count);
    case DType::i32:
      return reduce_loop<int32_t, Op>(static_cast<int32_t*>(dst), static_cast<const int32_t*>(src), count);
    case DType::i64:
      return reduce_loop<int64_t, Op>(static_cast<int64_t*>(dst), static_cast<const int64_t*>(src), count);
    case DType::u16:
      return reduce_loop<uint16_t, Op>(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), count);
    case DType::bf16:
      return reduce_loop_bf16<Op>(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), count);
  }
  LOOM_CHECK(false, "reduce_into: unknown dtype {}", static_cast<int>(dtype));
}

template <typename T>
void divide_loop(T* data, size_t count, T divisor) {
  const bool parallel = count * sizeof(T) >= kParallelBytes;
#pragma omp parallel for simd schedule(static) if (parallel)
  for (size_t i = 0; i < count; ++i) data[i] = static_cast<T>(data[i] / divisor);
}

}  // namespace

size_t dtype_bytes(DType dtype) {
  return dtype_size_bytes(dtype);
}

void reduce_into(void* dst, const void* src, size_t count, DType dtype, ReduceOp op) {
  if (count == 0) return;
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg:
      return reduce_dtype<Sum>(dst, src, count, dtype);
    case ReduceOp::max:
      return reduce_dtype<Max>(dst, src, count, dtype);
    case ReduceOp::min:
      return reduce_dtype<Min>(dst, src, count, dtype);
  }
  LOOM_CHECK(false, "reduce_into: unknown reduce op {}", static_cast<int>(op));
}

void finish_average(void* data, size_t count, DType dtype, int ranks) {
  LOOM_CHECK(ranks >= 1, "average over {} ranks", ranks);
  if (count == 0 || ranks == 1) return;
  switch (dtype) {
    case DType::f32:
      return divide_loop(static_cast<float*>(data), count, static_cast<float>(ranks));
    case DType::f64:
      return divide_loop(static_cast<double*>(data), count, static_cast<double>(ranks));
    case DType::i32:
      return divide_loop(static_cast<int32_t*>(data), count, static_cast<int32_t>(ranks));
    case DType::i64:
      return divide_loop(static_cast<int64_t*>(data), count, static_cast<int64_t>(ranks));
    case DType::u16:
      return divide_loop(static_cast<uint16_t*>(data), count, static_cast<uint16_t>(ranks));
    case DType::bf16: {
      auto* bits = static_cast<uint16_t*>(data);
      const float divisor = static_cast<float>(ranks);
      const bool parallel = count * sizeof(uint16_t) >= kParallelBytes;
#pragma omp parallel for simd schedule(static) if (parallel)
      for (size_t i = 0; i < count; ++i) bits[i] = float_to_bf16_bits(bf16_bits_to_float(bits[i]) / divisor);
      return;
    }
  }
  LOOM_CHECK(false, "finish_average: unknown dtype {}", static_cast<int>(dtype));
}

}  // namespace loom::comm
