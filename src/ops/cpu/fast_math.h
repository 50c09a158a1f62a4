// Inline math for the CPU kernels, written in plain arithmetic so that GCC vectorises the loops
// that call it: libm's expf is an opaque scalar call unless -ffast-math is on, and exp is the
// inner operation of softmax, cross-entropy, attention, GELU and SiLU.
#pragma once

#include <bit>
#include <cstdint>

namespace loom::ops::cpu {

// e^x in fp32, relative error below 1e-7. x = n ln2 + r with |r| <= ln2/2; e^r by a degree-7
// Taylor polynomial (truncation below 1e-8); 2^n assembled in the exponent bits, whose field is
// clamped at 0 so that results below about e^-87.7 are 0; above 88 the result saturates.
// Written for GCC's vectoriser: n is rounded by adding and subtracting 1.5 * 2^23 (floorf has no
// masked vector form), and the underflow clamp is on the integer exponent, since a clamp of the
// float n lets jump threading duplicate the polynomial for each clamped path.
inline float fast_exp(float x) {
  x = x > 88.0f ? 88.0f : x;
  x = x < -100.0f ? -100.0f : x;
  constexpr float kRoundingShift = 12582912.0f;  // 1.5 * 2^23: the sum's ulp is 1
  const float n = (x * 1.44269504088896341f + kRoundingShift) - kRoundingShift;
  // ln2 in two parts: n * 0.693359375 is exact for |n| <= 256.
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t biased_exponent = static_cast<int32_t>(n) + 127;
  biased_exponent = biased_exponent < 0 ? 0 : biased_exponent;
  return p * std::bit_cast<float>(biased_exponent << 23);
}

// 1 / (1 + e^-x), without cancellation at either end.
inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

}  // namespace loom::ops::cpu
