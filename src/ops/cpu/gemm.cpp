// GEMM through oneDNN's sgemm (row-major, any transposition).
#include <oneapi/dnnl/dnnl.h>

#include "core/error.h"
#include "ops/cpu/kernels.h"

namespace loom::ops::cpu {

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C = beta * C; sgemm would do the same, but some builds reject K = 0
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  const dnnl_status_t status = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a,
                                          lda, b, ldb, beta, c, ldc);
  LOOM_CHECK(status == dnnl_success, "dnnl_sgemm(m={}, n={}, k={}) returned status {}", m, n, k,
             static_cast<int>(status));
}

}  // namespace loom::ops::cpu
