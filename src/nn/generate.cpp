// Sampling loop.
#include "nn/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/random.h"

namespace loom::nn {

std::vector<int32_t> generate(const TransformerModel& model, const std::vector<int32_t>& prompt,
                              const SampleOptions& options) {
  if (prompt.empty()) throw_user_error("--prompt must not be empty");
  if (options.tokens < 0) throw_user_error("--tokens {} must be >= 0", options.tokens);
  if (options.temperature < 0) throw_user_error("--temperature {} must be >= 0", options.temperature);
  const int64_t vocab = model.config().vocab_size;
  for (int32_t id : prompt) {
    if (id < 0 || id >= vocab) throw_user_error("prompt token {} is outside the vocabulary [0, {})", id, vocab);
  }
  autograd::NoGradScope no_grad;
  Rng rng(options.seed);
  std::vector<int32_t> context = prompt;
  std::vector<int32_t> generated;
  std::vector<float> logits(static_cast<size_t>(vocab));
  std::vector<int32_t> order(static_cast<size_t>(vocab));
  for (int64_t n = 0; n < options.tokens; ++n) {
    const int64_t start = std::max<int64_t>(0, static_cast<int64_t>(context.size()) - model.config().seq_len);
    std::vector<int32_t> window(context.begin() + start, context.end());
    const auto length = static_cast<int64_t>(window.size());
    const Tensor out = model.forward_logits(Tensor::from_ints(window, {1, length})).value();
    const float* last = out.f32() + (length - 1) * vocab;
    std::copy(last, last + vocab, logits.begin());
    int32_t next = 0;
    if (options.temperature == 0.0f) {
      next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    } else {
      std::iota(order.begin(), order.end(), 0);
      const int64_t k = options.top_k > 0 ? std::min(options.top_k, vocab) : vocab;
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
      const float top = logits[size_t(order[0])];
      std::vector<double> weights(static_cast<size_t>(k));
      double total = 0.0;
      for (int64_t i = 0; i < k; ++i) {
        weights[size_t(i)] = std::exp(double(logits[size_t(order[size_t(i)])] - top) / options.temperature);
        total += weights[size_t(i)];
      }
      double draw = rng.uniform() * total;
      int64_t chosen = k - 1;
      for (int64_t i = 0; i < k; ++i) {
        draw -= weights[size_t(i)];
        if (draw < 0) {
          chosen = i;
          break;
        }
      }
      next = order[size_t(chosen)];
    }
    context.push_back(next);
    generated.push_back(next);
  }
  return generated;
}

}  // namespace loom::nn
