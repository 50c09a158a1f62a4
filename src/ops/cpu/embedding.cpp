// Embedding gather and its scatter-add backward. The backward splits the columns among the
// threads rather than the ids: rows that share an id then never race, and every gradient row
// accumulates its ids in the same order whatever the thread count.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "ops/cpu/kernels.h"

namespace loom::ops::cpu {

void embedding_forward(const int32_t* ids, const float* table, float* y, int64_t count, int64_t dim) {
#pragma omp parallel for schedule(static) if (count * dim > 16384)
  for (int64_t i = 0; i < count; ++i) {
    std::memcpy(y + i * dim, table + static_cast<int64_t>(ids[i]) * dim, static_cast<size_t>(dim) * sizeof(float));
  }
}

void embedding_backward(const int32_t* ids, const float* dy, float* dtable, int64_t count, int64_t vocab, int64_t dim) {
#pragma omp parallel if (vocab * dim > 16384 || count * dim > 16384)
  {
    const int64_t threads = omp_get_num_threads();
    const int64_t thread = omp_get_thread_num();
    // Column ranges rounded to 16 floats (one cache line) so threads never share a line.
    const int64_t chunk = ((dim + threads - 1) / threads + 15) / 16 * 16;
    const int64_t begin = std::min(dim, thread * chunk);
    const int64_t end = std::min(dim, begin + chunk);
    if (begin < end) {
      for (int64_t v = 0; v < vocab; ++v) {
        std::memset(dtable + v * dim + begin, 0, static_cast<size_t>(end - begin) * sizeof(float));
      }
      for (int64_t i = 0; i < count; ++i) {
        float* target = dtable + static_cast<int64_t>(ids[i]) * dim;
        const float* source = dy + i * dim;
#pragma omp simd
        for (int64_t c = begin; c < end; ++c) target[c] += source[c];
      }
    }
  }
}

}  // namespace loom::ops::cpu
