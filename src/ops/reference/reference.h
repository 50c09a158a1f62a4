// Plain double-precision reference forwards of every primitive, for tests: obviously correct
// loops over std::vector<double> with explicit shapes, nothing fused, nothing skipped. Row-major
// throughout; "rows" folds every leading dimension. The fast kernels in ops/cpu/ are checked
// against these, and the gradient tests take finite differences of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loom::ops::reference {

using Values = std::vector<double>;

// C[m, n] = op(A) @ op(B); A is stored [m, k] (or [k, m] when transposed), B [k, n] (or [n, k]).
Values matmul(const Values& a, const Values& b, int64_t m, int64_t n, int64_t k, bool transpose_a, bool transpose_b);
// y[r, c] = x[r, c] + bias[c].
Values bias_add(const Values& x, const Values& bias, int64_t rows, int64_t cols);
Values add(const Values& a, const Values& b);
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
Values gelu(const Values& x);
// silu(gate) * up.
Values swiglu(const Values& gate, const Values& up);
Values layer_norm(const Values& x, const Values& gamma, const Values& beta, int64_t rows, int64_t cols, double eps);
Values rms_norm(const Values& x, const Values& gamma, int64_t rows, int64_t cols, double eps);
Values softmax(const Values& x, int64_t rows, int64_t cols);
// q [B, T, H, D], k and v [B, T, Hkv, D] -> [B, T, H, D]; the full T x T scores with a causal mask.
Values causal_attention(const Values& q, const Values& k, const Values& v, int64_t batch, int64_t seq, int64_t heads,
                        int64_t kv_heads, int64_t head_dim);
// x [B, T, H, D]: pairs (i, i + D/2) rotated by (position_offset + t) * theta^(-2i/D).
Values rotary(const Values& x, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, double theta,
              int64_t position_offset);
// table [V, C]; y[i] = table[ids[i]].
Values embedding(const std::vector<int32_t>& ids, const Values& table, int64_t dim);
// Mean over rows with target >= 0 of logsumexp(logits[r]) - logits[r, target[r]] (0 if none).
double cross_entropy(const Values& logits, const std::vector<int32_t>& targets, int64_t rows, int64_t vocab);
// The last dimension of x [rows, cols] cut into consecutive pieces of the given widths.
std::vector<Values> split(const Values& x, int64_t rows, int64_t cols, const std::vector<int64_t>& sizes);

}  // namespace loom::ops::reference
