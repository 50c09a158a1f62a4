#include "nn/block.h"

#include "autograd/functions.h"
#include "core/error.h"

namespace loom::nn {

namespace af = autograd;

namespace {

Var norm(const ModelConfig& config, const Var& x, const Var& gamma, const Var& beta) {
  return config.family == ModelFamily::gpt ? af::layer_norm(x, gamma, beta, config.norm_eps)
                                           : af::rms_norm(x, gamma, config.norm_eps);
}

// A row-parallel linear: the local product, reduced by the group, then the (unsplit) bias.
Var row_parallel(const BlockComm& comm, const Var& x, const Var& weight, const Var& bias) {
  Var y = comm.leave(af::matmul(x, weight, false, true));
  return bias.defined() ? af::bias_add(y, bias) : y;
}

}  // namespace

Var block_forward(const ModelConfig& config, const BlockParameters& w, const Var& x, const BlockComm& comm) {
  const int64_t degree = comm.degree();
  LOOM_CHECK(config.heads % degree == 0 && config.kv_heads % degree == 0,
             "block: {} heads / {} kv heads cannot be split over {} ranks", config.heads, config.kv_heads, degree);
  const bool gpt = config.family == ModelFamily::gpt;
  const int64_t d = config.head_dim();
  const int64_t heads = config.heads / degree;
  const int64_t kv_heads = config.kv_heads / degree;

  // Attention.
  Var h = comm.enter(norm(config, x, w.norm1_gamma, w.norm1_beta));
  const int64_t batch = h.shape()[0];
  const int64_t seq = h.shape()[1];
  Var qkv = af::linear(h, w.qkv_weight, w.qkv_bias);
  std::vector<Var> pieces = af::split(qkv, {heads * d, kv_heads * d, kv_heads * d});
  Var q = af::reshape(pieces[0], {batch, seq, heads, d});
  Var k = af::reshape(pieces[1], {batch, seq, kv_heads, d});
  Var v = af::reshape(pieces[2], {batch, seq, kv_heads, d});
  if (!gpt) {
    q = af::rotary(q, config.rope_theta);
    k = af::rotary(k, config.rope_theta);
  }
  Var attention = af::reshape(af::causal_attention(q, k, v), {batch, seq, heads * d});
  Var x1 = af::add(x, row_parallel(comm, attention, w.out_weight, w.out_bias));

  // MLP.
  Var h2 = comm.enter(norm(config, x1, w.norm2_gamma, w.norm2_beta));
  Var inner = gpt ? af::gelu(af::linear(h2, w.fc_weight, w.fc_bias))
                  : af::swiglu(af::linear(h2, w.fc_weight, Var()), af::linear(h2, w.up_weight, Var()));
  return af::add(x1, row_parallel(comm, inner, w.proj_weight, w.proj_bias));
}

}  // namespace loom::nn
