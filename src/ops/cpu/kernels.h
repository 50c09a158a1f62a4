// CPU kernels of the primitives: raw-pointer functions on contiguous fp32 buffers, OpenMP
// parallel. The primitives in ops/ validate shapes and call these; tests compare them with the
// double-precision references in ops/reference/. Row-wise kernels take the row count and the
// row length ("cols"); an output pointer documented as optional may be null to skip it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom::ops::cpu {

// C[m, n] = alpha * op(A) @ op(B) + beta * C, row-major (oneDNN sgemm).
// lda/ldb/ldc are the row strides of A, B and C as stored. Inside an OpenMP parallel region
// oneDNN runs the call on the calling thread alone.
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// ---- elementwise.cpp --------------------------------------------------------------------------

// y[r, c] = x[r, c] + bias[c].
void bias_add_forward(const float* x, const float* bias, float* y, int64_t rows, int64_t cols);
// sums[c] = sum over r of x[r, c] (the bias gradient).
void column_sum(const float* x, float* sums, int64_t rows, int64_t cols);
// y = a + b.
void add_forward(const float* a, const float* b, float* y, int64_t count);
// GELU, tanh approximation, and its backward dx = dy * gelu'(x).
void gelu_forward(const float* x, float* y, int64_t count);
void gelu_backward(const float* x, const float* dy, float* dx, int64_t count);
// y = silu(gate) * up; the backward writes dgate and dup, either optional.
void swiglu_forward(const float* gate, const float* up, float* y, int64_t count);
void swiglu_backward(const float* gate, const float* up, const float* dy, float* dgate, float* dup, int64_t count);

// ---- layer_norm.cpp ---------------------------------------------------------------------------

// Per row: mean, rstd = 1 / sqrt(var + eps), y = (x - mean) * rstd * gamma + beta.
void layer_norm_forward(const float* x, const float* gamma, const float* beta, float eps, float* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols);
// dx, dgamma and dbeta are each optional.
void layer_norm_backward(const float* x, const float* gamma, const float* mean, const float* rstd, const float* dy,
                         float* dx, float* dgamma, float* dbeta, int64_t rows, int64_t cols);

// ---- rms_norm.cpp -----------------------------------------------------------------------------

// Per row: rstd = 1 / sqrt(mean(x^2) + eps), y = x * rstd * gamma.
void rms_norm_forward(const float* x, const float* gamma, float eps, float* y, float* rstd, int64_t rows, int64_t cols);
// dx and dgamma are each optional.
void rms_norm_backward(const float* x, const float* gamma, const float* rstd, const float* dy, float* dx, float* dgamma,
                       int64_t rows, int64_t cols);

// ---- softmax.cpp ------------------------------------------------------------------------------

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols);
// dx = y * (dy - sum(dy * y)) per row.
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);

// ---- cross_entropy.cpp ------------------------------------------------------------------------

// Writes lse[r] = logsumexp(logits[r]) for every row and returns the sum over rows with
// target >= 0 of lse[r] - logits[r, target[r]] (accumulated in double).
double cross_entropy_forward(const float* logits, const int32_t* targets, float* lse, int64_t rows, int64_t vocab);
// dlogits[r] = (softmax(logits[r]) - onehot(target[r])) * scale; zero for ignored rows.
void cross_entropy_backward(const float* logits, const int32_t* targets, const float* lse, float scale, float* dlogits,
                            int64_t rows, int64_t vocab);

// ---- embedding.cpp ----------------------------------------------------------------------------

// y[i, :] = table[ids[i], :] for `count` ids (already checked to lie in range).
void embedding_forward(const int32_t* ids, const float* table, float* y, int64_t count, int64_t dim);
// dtable = 0, then dtable[ids[i], :] += dy[i, :]. Deterministic: threads own column ranges.
void embedding_backward(const int32_t* ids, const float* dy, float* dtable, int64_t count, int64_t vocab, int64_t dim);

// ---- rotary.cpp -------------------------------------------------------------------------------

// x and y [batch, seq, heads, head_dim]: rotates (x[i], x[i + head_dim/2]) by the angle
// (position_offset + t) * theta^(-2i/head_dim); inverse rotates the other way (the backward).
void rotary_forward(const float* x, float* y, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, float theta,
                    int64_t position_offset, bool inverse);

// ---- attention.cpp ----------------------------------------------------------------------------

struct AttentionShape {
  int64_t batch = 0;
  int64_t seq = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;  // divides heads; query head h reads kv head h / (heads / kv_heads)
  int64_t head_dim = 0;
};

// Floats of workspace one thread needs; callers pass omp_get_max_threads() times this.
int64_t attention_workspace_floats(const AttentionShape& shape);

// q, out [B, T, H, D]; k, v [B, T, Hkv, D]; lse [B, H, T] (log-sum-exp of each score row).
void attention_forward(const AttentionShape& shape, const float* q, const float* k, const float* v, float* out,
                       float* lse, float* workspace);
// Recomputes the probabilities from q, k and lse one block of rows at a time. dq [B, T, H, D],
// dk and dv [B, T, Hkv, D] are each optional (null: not computed).
void attention_backward(const AttentionShape& shape, const float* q, const float* k, const float* v, const float* out,
                        const float* lse, const float* dout, float* dq, float* dk, float* dv, float* workspace);

}  // namespace loom::ops::cpu
