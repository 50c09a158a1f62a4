// Block-wise reduction of many inputs into many outputs; the compiler vectorises the loops
// (built with -O3 -march=native). Integer sums go through unsigned arithmetic so that overflow
// wraps as MPI's does instead of being undefined.
#include "comm/shared_memory_reduce.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace loom::comm {
namespace {

constexpr size_t kBlockElements = 1024;

struct Sum {
  template <typename A>
  static A apply(A a, A b) {
    if constexpr (std::is_integral_v<A>) {
      using U = std::make_unsigned_t<A>;
      return static_cast<A>(static_cast<U>(a) + static_cast<U>(b));
    } else {
      return a + b;
    }
  }
};
struct Max {
  template <typename A>
  static A apply(A a, A b) {
    return a < b ? b : a;
  }
};
struct Min {
  template <typename A>
  static A apply(A a, A b) {
    return b < a ? b : a;
  }
};

// Storage type T, accumulated as A (bf16 -> float, everything else as itself).
template <typename T>
struct Lanes {
  using A = T;
  static void load(const void* from, A* to, size_t n) { std::memcpy(to, from, n * sizeof(T)); }
  static void store(const A* from, void* to, size_t n) { std::memcpy(to, from, n * sizeof(T)); }
  template <typename Op>
  static void combine(A* acc, const void* from, size_t n) {
    const T* in = static_cast<const T*>(from);
    for (size_t i = 0; i < n; ++i) acc[i] = Op::apply(acc[i], in[i]);
  }
  template <typename Op>
  static void combine_two(A* acc, const void* first, const void* second, size_t n) {
    const T* a = static_cast<const T*>(first);
    const T* b = static_cast<const T*>(second);
    for (size_t i = 0; i < n; ++i) acc[i] = Op::apply(a[i], b[i]);
  }
};

template <>
struct Lanes<BFloat16> {
  using A = float;
  static float widen(uint16_t bits) {
    const uint32_t u = static_cast<uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &u, sizeof(value));
    return value;
  }
  static void load(const void* from, A* to, size_t n) {
    const uint16_t* in = static_cast<const uint16_t*>(from);
    for (size_t i = 0; i < n; ++i) to[i] = widen(in[i]);
  }
  static void store(const A* from, void* to, size_t n) { convert_f32_to_bf16(from, static_cast<BFloat16*>(to), n); }
  template <typename Op>
  static void combine(A* acc, const void* from, size_t n) {
    const uint16_t* in = static_cast<const uint16_t*>(from);
    for (size_t i = 0; i < n; ++i) acc[i] = Op::apply(acc[i], widen(in[i]));
  }
  template <typename Op>
  static void combine_two(A* acc, const void* first, const void* second, size_t n) {
    const uint16_t* a = static_cast<const uint16_t*>(first);
    const uint16_t* b = static_cast<const uint16_t*>(second);
    for (size_t i = 0; i < n; ++i) acc[i] = Op::apply(widen(a[i]), widen(b[i]));
  }
};

template <typename T, typename Op>
void reduce_blocks(const void* const* inputs, int input_count, void* const* outputs, int output_count, size_t count,
                   bool average, int group_size) {
  using L = Lanes<T>;
  using A = typename L::A;
  alignas(64) A acc[kBlockElements];
  const A divisor = static_cast<A>(group_size);
  for (size_t begin = 0; begin < count; begin += kBlockElements) {
    const size_t n = std::min(kBlockElements, count - begin);
    const size_t offset = begin * sizeof(T);
    // Accumulate in `acc`, which aliases nothing: outputs may be inputs, read before written.
    if (input_count == 1) {
      L::load(static_cast<const char*>(inputs[0]) + offset, acc, n);
    } else {
      L::template combine_two<Op>(acc, static_cast<const char*>(inputs[0]) + offset,
                                  static_cast<const char*>(inputs[1]) + offset, n);
    }
    for (int k = 2; k < input_count; ++k) L::template combine<Op>(acc, static_cast<const char*>(inputs[k]) + offset, n);
    if (average) {
      for (size_t i = 0; i < n; ++i) acc[i] = acc[i] / divisor;
    }
    for (int j = 0; j < output_count; ++j) L::store(acc, static_cast<char*>(outputs[j]) + offset, n);
  }
}

template <typename T>
void reduce_typed(const void* const* inputs, int input_count, void* const* outputs, int output_count, size_t count,
                  ReduceOp op, int group_size) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg:
      reduce_blocks<T, Sum>(inputs, input_count, outputs, output_count, count, op == ReduceOp::avg, group_size);
      return;
    case ReduceOp::max:
      reduce_blocks<T, Max>(inputs, input_count, outputs, output_count, count, false, 1);
      return;
    case ReduceOp::min:
      reduce_blocks<T, Min>(inputs, input_count, outputs, output_count, count, false, 1);
      return;
  }
}

}  // namespace

void reduce_many(const void* const* inputs, int input_count, void* const* outputs, int output_count, size_t count,
                 DType dtype, ReduceOp op, int group_size) {
  LOOM_CHECK(input_count >= 1 && output_count >= 1, "reduce of {} inputs into {} outputs", input_count, output_count);
  switch (dtype) {
    case DType::f32:
      return reduce_typed<float>(inputs, input_count, outputs, output_count, count, op, group_size);
    case DType::f64:
      return reduce_typed<double>(inputs, input_count, outputs, output_count, count, op, group_size);
    case DType::i32:
      return reduce_typed<int32_t>(inputs, input_count, outputs, output_count, count, op, group_size);
    case DType::i64:
      return reduce_typed<int64_t>(inputs, input_count, outputs, output_count, count, op, group_size);
    case DType::bf16:
      return reduce_typed<BFloat16>(inputs, input_count, outputs, output_count, count, op, group_size);
    default:
      throw_user_error("all-reduce of {} is not supported (valid: f32, bf16, f64, i32, i64)", dtype_name(dtype));
  }
}

}  // namespace loom::comm
