// Fused causal attention on the CPU. Each (batch, head) pair is one task; a task walks the query
// rows in blocks of kRowBlock and, since row i sees keys 0..i, a block of rows [i0, i1) needs
// only the first i1 keys: the scores of a block are a [rows, i1] tile in per-thread workspace,
// never the whole T x T matrix, and tiles above the diagonal are never computed. Heads are
// addressed inside [B, T, H, D] through the GEMM row strides (H*D for q, Hkv*D for k and v).
//
// Backward per block, with P recomputed from q, k and the saved log-sum-exp:
//   dV += P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dO * O)) * scale,  dQ = dS K,  dK += dS^T Q.
// dK and dV sum over the query heads of a kv group, so backward tasks are (batch, kv head) pairs
// and each owns its dK and dV slices outright.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/cpu/fast_math.h"
#include "ops/cpu/kernels.h"

namespace loom::ops::cpu {

namespace {

constexpr int64_t kRowBlock = 64;

// Where one head's [T, D] slice starts inside [B, T, H, D] (or [B, T, Hkv, D]), and the row strides.
struct HeadSlices {
  int64_t q_stride;   // H * D
  int64_t kv_stride;  // Hkv * D
  int64_t q_offset(const AttentionShape& s, int64_t b, int64_t h) const {
    return b * s.seq * q_stride + h * s.head_dim;
  }
  int64_t kv_offset(const AttentionShape& s, int64_t b, int64_t kvh) const {
    return b * s.seq * kv_stride + kvh * s.head_dim;
  }
};

// scores[rows, cols] = scale * Q[i0 : i0 + rows] K[0 : cols]^T.
void block_scores(const AttentionShape& s, const HeadSlices& slices, const float* qh, const float* kh, int64_t i0,
                  int64_t rows, int64_t cols, float scale, float* scores) {
  gemm(false, true, rows, cols, s.head_dim, scale, qh + i0 * slices.q_stride, slices.q_stride, kh, slices.kv_stride,
       0.0f, scores, cols);
}

}  // namespace

int64_t attention_workspace_floats(const AttentionShape& shape) {
  return 2 * std::min(kRowBlock, shape.seq) * shape.seq;
}

void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, float* out, float* lse,
                       float* workspace) {
  const HeadSlices slices{s.heads * s.head_dim, s.kv_heads * s.head_dim};
  const int64_t group = s.heads / s.kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  const int64_t per_thread = attention_workspace_floats(s);
#pragma omp parallel
  {
    float* scores = workspace + omp_get_thread_num() * per_thread;
#pragma omp for schedule(static)
    for (int64_t pair = 0; pair < s.batch * s.heads; ++pair) {
      const int64_t b = pair / s.heads;
      const int64_t h = pair % s.heads;
      const float* qh = q + slices.q_offset(s, b, h);
      const float* kh = k + slices.kv_offset(s, b, h / group);
      const float* vh = v + slices.kv_offset(s, b, h / group);
      float* oh = out + slices.q_offset(s, b, h);
      float* lse_h = lse + pair * s.seq;
      for (int64_t i0 = 0; i0 < s.seq; i0 += kRowBlock) {
        const int64_t rows = std::min(kRowBlock, s.seq - i0);
        const int64_t cols = i0 + rows;
        block_scores(s, slices, qh, kh, i0, rows, cols, scale, scores);
        for (int64_t r = 0; r < rows; ++r) {
          float* row = scores + r * cols;
          const int64_t visible = i0 + r + 1;
          float row_max = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : row_max)
          for (int64_t j = 0; j < visible; ++j) row_max = row[j] > row_max ? row[j] : row_max;
          float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
          for (int64_t j = 0; j < visible; ++j) {
            const float e = fast_exp(row[j] - row_max);
            row[j] = e;
            sum += e;
          }
          const float inv_sum = 1.0f / sum;
#pragma omp simd
          for (int64_t j = 0; j < visible; ++j) row[j] *= inv_sum;
          std::fill(row + visible, row + cols, 0.0f);
          lse_h[i0 + r] = row_max + std::log(sum);
        }
        // O[i0 : i0 + rows] = P[rows, cols] V[0 : cols]
        gemm(false, false, rows, s.head_dim, cols, 1.0f, scores, cols, vh, slices.kv_stride, 0.0f,
             oh + i0 * slices.q_stride, slices.q_stride);
      }
    }
  }
}

void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv, float* workspace) {
  const HeadSlices slices{s.heads * s.head_dim, s.kv_heads * s.head_dim};
  const int64_t group = s.heads / s.kv_heads;
  const int64_t d = s.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int64_t per_thread = attention_workspace_floats(s);
  const bool need_dscores = dq != nullptr || dk != nullptr;
#pragma omp parallel
  {
    float* probs = workspace + omp_get_thread_num() * per_thread;
    float* dscores = probs + per_thread / 2;
#pragma omp for schedule(static)
    for (int64_t pair = 0; pair < s.batch * s.kv_heads; ++pair) {
      const int64_t b = pair / s.kv_heads;
      const int64_t kvh = pair % s.kv_heads;
      const float* kh = k + slices.kv_offset(s, b, kvh);
      const float* vh = v + slices.kv_offset(s, b, kvh);
      float* dkh = dk != nullptr ? dk + slices.kv_offset(s, b, kvh) : nullptr;
      float* dvh = dv != nullptr ? dv + slices.kv_offset(s, b, kvh) : nullptr;
      for (int64_t t = 0; t < s.seq; ++t) {
        if (dkh != nullptr) std::fill(dkh + t * slices.kv_stride, dkh + t * slices.kv_stride + d, 0.0f);
        if (dvh != nullptr) std::fill(dvh + t * slices.kv_stride, dvh + t * slices.kv_stride + d, 0.0f);
      }
      for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
        const float* qh = q + slices.q_offset(s, b, h);
        const float* oh = out + slices.q_offset(s, b, h);
        const float* doh = dout + slices.q_offset(s, b, h);
        float* dqh = dq != nullptr ? dq + slices.q_offset(s, b, h) : nullptr;
        const float* lse_h = lse + (b * s.heads + h) * s.seq;
        for (int64_t i0 = 0; i0 < s.seq; i0 += kRowBlock) {
          const int64_t rows = std::min(kRowBlock, s.seq - i0);
          const int64_t cols = i0 + rows;
          block_scores(s, slices, qh, kh, i0, rows, cols, scale, probs);
          for (int64_t r = 0; r < rows; ++r) {
            float* row = probs + r * cols;
            const int64_t visible = i0 + r + 1;
            const float row_lse = lse_h[i0 + r];
#pragma omp simd
            for (int64_t j = 0; j < visible; ++j) row[j] = fast_exp(row[j] - row_lse);
            std::fill(row + visible, row + cols, 0.0f);
          }
          const float* do_block = doh + i0 * slices.q_stride;
          if (dvh != nullptr) {  // dV[0 : cols] += P^T dO[i0 : i0 + rows]
            gemm(true, false, cols, d, rows, 1.0f, probs, cols, do_block, slices.q_stride, 1.0f, dvh, slices.kv_stride);
          }
          if (!need_dscores) continue;
          // dP[rows, cols] = dO[i0 : i0 + rows] V[0 : cols]^T
          gemm(false, true, rows, cols, d, 1.0f, do_block, slices.q_stride, vh, slices.kv_stride, 0.0f, dscores, cols);
          for (int64_t r = 0; r < rows; ++r) {
            const float* o_row = oh + (i0 + r) * slices.q_stride;
            const float* do_row = do_block + r * slices.q_stride;
            float row_dot = 0.0f;
#pragma omp simd reduction(+ : row_dot)
            for (int64_t e = 0; e < d; ++e) row_dot += do_row[e] * o_row[e];
            const float* p_row = probs + r * cols;
            float* ds_row = dscores + r * cols;
            const int64_t visible = i0 + r + 1;
#pragma omp simd
            for (int64_t j = 0; j < visible; ++j) ds_row[j] = p_row[j] * (ds_row[j] - row_dot) * scale;
            std::fill(ds_row + visible, ds_row + cols, 0.0f);
          }
          if (dqh != nullptr) {  // dQ[i0 : i0 + rows] = dS K[0 : cols]
            gemm(false, false, rows, d, cols, 1.0f, dscores, cols, kh, slices.kv_stride, 0.0f,
                 dqh + i0 * slices.q_stride, slices.q_stride);
          }
          if (dkh != nullptr) {  // dK[0 : cols] += dS^T Q[i0 : i0 + rows]
            gemm(true, false, cols, d, rows, 1.0f, dscores, cols, qh + i0 * slices.q_stride, slices.q_stride, 1.0f, dkh,
                 slices.kv_stride);
          }
        }
      }
    }
  }
}

}  // namespace loom::ops::cpu
