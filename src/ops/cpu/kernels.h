// CPU kernels of the primitives: raw-pointer functions on contiguous fp32 buffers, OpenMP
// parallel. The primitives in ops/ validate shapes and call these; tests compare them with the
// double-precision references in ops/reference/.
#pragma once

#include <cstdint>

namespace loom::ops::cpu {

// C[m, n] = alpha * op(A) @ op(B) + beta * C, row-major (oneDNN sgemm).
// lda/ldb/ldc are the row strides of A, B and C as stored.
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace loom::ops::cpu
