// Element type names, sizes and bulk bf16 conversion.
#include "core/dtype.h"

#include "core/error.h"

namespace loom {

size_t dtype_size_bytes(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::bf16: return 2;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u16: return 2;
  }
  LOOM_CHECK(false, "unknown dtype {}", static_cast<int>(dtype));
}

std::string dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::bf16: return "bf16";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u16: return "u16";
  }
  LOOM_CHECK(false, "unknown dtype {}", static_cast<int>(dtype));
}

DType dtype_from_name(const std::string& name) {
  for (DType dtype : {DType::f32, DType::bf16, DType::f64, DType::i32, DType::i64, DType::u16}) {
    if (dtype_name(dtype) == name) return dtype;
  }
  throw_user_error("dtype '{}' is not known (valid: f32, bf16, f64, i32, i64, u16)", name);
}

void convert_f32_to_bf16(const float* src, BFloat16* dst, size_t count) {
#pragma omp parallel for schedule(static) if (count > (1u << 16))
  for (size_t i = 0; i < count; ++i) dst[i] = BFloat16::from_float(src[i]);
}

void convert_bf16_to_f32(const BFloat16* src, float* dst, size_t count) {
#pragma omp parallel for schedule(static) if (count > (1u << 16))
  for (size_t i = 0; i < count; ++i) dst[i] = src[i].to_float();
}

}  // namespace loom
