// Element types. fp32 is the compute type; bf16 is a storage type converted to and from fp32
// (round to nearest even), used for reduced-precision storage and communication.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace loom {

enum class DType : uint8_t { f32, bf16, f64, i32, i64, u16 };

size_t dtype_size_bytes(DType dtype);
std::string dtype_name(DType dtype);
DType dtype_from_name(const std::string& name);  // throws UserError for an unknown name

// bfloat16: the upper 16 bits of an IEEE fp32.
struct BFloat16 {
  uint16_t bits = 0;

  static BFloat16 from_float(float value) {
    uint32_t u;
    std::memcpy(&u, &value, sizeof(u));
    BFloat16 result;
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) {
      result.bits = static_cast<uint16_t>((u >> 16) | 0x0040u);  // keep NaN a (quiet) NaN
      return result;
    }
    const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
    result.bits = static_cast<uint16_t>((u + rounding) >> 16);
    return result;
  }

  float to_float() const {
    const uint32_t u = static_cast<uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &u, sizeof(value));
    return value;
  }
};

// Bulk conversions (vectorised by the compiler; used for storage and communication).
void convert_f32_to_bf16(const float* src, BFloat16* dst, size_t count);
void convert_bf16_to_f32(const BFloat16* src, float* dst, size_t count);

}  // namespace loom
