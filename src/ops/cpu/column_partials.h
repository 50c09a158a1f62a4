// Per-thread partial column sums for row-parallel kernels whose backward also reduces over rows
// (bias, gamma and beta gradients): each thread accumulates the rows it owns into its own slot
// inside the same pass, and the slots are added in thread order afterwards, so the result does
// not depend on timing (only on the thread count).
#pragma once

#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loom::ops::cpu {

class ColumnPartials {
 public:
  explicit ColumnPartials(int64_t cols)
      : cols_(cols), threads_(omp_get_max_threads()), sums_(static_cast<std::size_t>(threads_ * cols), 0.0f) {}

  // The calling thread's slot (call inside the parallel region).
  float* slot() { return sums_.data() + static_cast<int64_t>(omp_get_thread_num()) * cols_; }

  // out[c] = sum over threads of slot[c] (call after the parallel region).
  void reduce_into(float* out) const {
#pragma omp parallel for schedule(static) if (cols_ * threads_ > 65536)
    for (int64_t c = 0; c < cols_; ++c) {
      float total = 0.0f;
      for (int64_t t = 0; t < threads_; ++t) total += sums_[static_cast<std::size_t>(t * cols_ + c)];
      out[c] = total;
    }
  }

 private:
  int64_t cols_;
  int64_t threads_;
  std::vector<float> sums_;
};

}  // namespace loom::ops::cpu
