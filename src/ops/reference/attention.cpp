// Reference causal attention (the whole T x T score matrix per head, masked to -infinity above
// the diagonal, softmax, times V) and rotary embedding.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/reference/reference.h"

namespace loom::ops::reference {

Values causal_attention(const Values& q, const Values& k, const Values& v, int64_t batch, int64_t seq, int64_t heads,
                        int64_t kv_heads, int64_t head_dim) {
  auto q_at = [&](int64_t b, int64_t t, int64_t h, int64_t d) {
    return q[static_cast<size_t>(((b * seq + t) * heads + h) * head_dim + d)];
  };
  auto kv_index = [&](int64_t b, int64_t t, int64_t h, int64_t d) {
    return static_cast<size_t>(((b * seq + t) * kv_heads + h) * head_dim + d);
  };
  const int64_t group = heads / kv_heads;
  const double scale = 1.0 / std::sqrt(double(head_dim));
  Values out(q.size(), 0.0);
  Values scores(static_cast<size_t>(seq * seq));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kvh = h / group;
      for (int64_t i = 0; i < seq; ++i) {
        for (int64_t j = 0; j < seq; ++j) {
          double dot = 0.0;
          for (int64_t d = 0; d < head_dim; ++d) dot += q_at(b, i, h, d) * k[kv_index(b, j, kvh, d)];
          scores[static_cast<size_t>(i * seq + j)] = j <= i ? dot * scale : -std::numeric_limits<double>::infinity();
        }
      }
      for (int64_t i = 0; i < seq; ++i) {
        double row_max = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < seq; ++j) row_max = std::max(row_max, scores[static_cast<size_t>(i * seq + j)]);
        double sum = 0.0;
        for (int64_t j = 0; j < seq; ++j) sum += std::exp(scores[static_cast<size_t>(i * seq + j)] - row_max);
        for (int64_t j = 0; j < seq; ++j) {
          const double p = std::exp(scores[static_cast<size_t>(i * seq + j)] - row_max) / sum;
          for (int64_t d = 0; d < head_dim; ++d) {
            out[static_cast<size_t>(((b * seq + i) * heads + h) * head_dim + d)] += p * v[kv_index(b, j, kvh, d)];
          }
        }
      }
    }
  }
  return out;
}

Values rotary(const Values& x, int64_t batch, int64_t seq, int64_t heads, int64_t head_dim, double theta,
              int64_t position_offset) {
  Values y(x.size());
  const int64_t half = head_dim / 2;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < seq; ++t) {
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t base = ((b * seq + t) * heads + h) * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const double angle = double(position_offset + t) * std::pow(theta, -2.0 * double(i) / double(head_dim));
          const double first = x[static_cast<size_t>(base + i)];
          const double second = x[static_cast<size_t>(base + i + half)];
          y[static_cast<size_t>(base + i)] = first * std::cos(angle) - second * std::sin(angle);
          y[static_cast<size_t>(base + i + half)] = first * std::sin(angle) + second * std::cos(angle);
        }
      }
    }
  }
  return y;
}

}  // namespace loom::ops::reference
