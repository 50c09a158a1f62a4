// The analytic compute profile (analytic_profile.h): the GEMMs of each piece with their per-rank
// shapes, and the bytes of each memory-bound kernel as Megatron-LM (2021) runs it, fused where
// Megatron fuses (bias + GeLU, bias + dropout + residual add, scale + mask + softmax). Every count
// says what it reads and writes; docs/analytic-profile.md gathers them with their sources.
#include "planner/analytic_profile.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.h"
#include "nn/model_config.h"

namespace loom::planner {

namespace {

// One dropout mask element: PyTorch's fused dropout keeps a bool per element.
constexpr double kMaskBytes = 1.0;
// One token id (int64), kept by the embedding and by the loss for their backward.
constexpr double kTokenIdBytes = 8.0;
// One fp32 element: the loss's softmax, the fp32 gradient buffer, master weights, Adam moments.
constexpr double kFp32Bytes = 4.0;
// Megatron's vocabulary-parallel cross-entropy after the logits are cast to fp32, per logit: max
// (read 4), subtract the max in place (read 4, write 4), exp in place (8), sum (4), divide by the
// sum in place (8), keeping the softmax for the backward.
constexpr double kCrossEntropyForwardFp32Bytes = 32.0;
// Its backward: the kept softmax times the incoming gradient, in place (read 4, write 4); the
// target's "- 1" touches one logit per token.
constexpr double kCrossEntropyBackwardFp32Bytes = 8.0;
// FlashAttention computes only the tiles on or below the diagonal of a causal mask.
constexpr double kFlashCausalFraction = 0.5;
// FlashAttention's backward recomputes the scores: 5 matmuls for the forward's 2 (Dao 2023 counts
// its backward FLOPs as 2.5x the forward's).
constexpr double kFlashBackwardFlopsRatio = 2.5;
// FlashAttention-2 keeps one fp32 log-sum-exp per query row and head for its backward.
constexpr double kFlashRowStatisticBytes = 4.0;

double ceil_div(int64_t a, int64_t b) {
  return double((a + b - 1) / b);
}

int64_t whole_bytes(double bytes) {
  return int64_t(std::ceil(bytes));
}

double gemm_flops(double count, double m, double n, double k) {
  return 2.0 * count * m * n * k;
}

void check_fraction(double value, const char* name) {
  if (!std::isfinite(value) || value <= 0.0 || value > 1.0)
    throw_user_error("[analytic profile] {}={} must be in (0, 1] (a fraction of the device's peak)", name, value);
}

void check_model(const ModelSpec& m) {
  const std::pair<const char*, int64_t> sizes[] = {{"hidden", m.hidden},         {"heads", m.heads},
                                                   {"kv_heads", m.kv_heads},     {"ffn_hidden", m.ffn_hidden},
                                                   {"vocab_size", m.vocab_size}, {"layers", m.layers}};
  for (const auto& [name, value] : sizes)
    if (value < 1) throw_user_error("[analytic profile] model '{}': {}={} must be >= 1", m.name, name, value);
  if (m.hidden % m.heads != 0)
    throw_user_error("[analytic profile] model '{}': heads={} does not divide hidden={} (valid: {})", m.name, m.heads,
                     m.hidden, fmt::join(nn::divisors(m.hidden), ", "));
  if (m.heads % m.kv_heads != 0)
    throw_user_error("[analytic profile] model '{}': kv_heads={} does not divide heads={} (valid: {})", m.name,
                     m.kv_heads, m.heads, fmt::join(nn::divisors(m.heads), ", "));
  if (m.learned_positions && m.max_positions < 1)
    throw_user_error("[analytic profile] model '{}': max_positions={} must be >= 1 with learned positions", m.name,
                     m.max_positions);
}

}  // namespace

DeviceRates device_rates(const ClusterSpec& cluster, Precision precision) {
  if (!(cluster.memory_bandwidth_bytes_per_s > 0.0))
    throw_user_error(
        "[cluster {}] device.memory_bandwidth_bytes_per_s={} is unknown: the analytic compute profile needs the "
        "device's memory bandwidth in bytes/s (docs/clusters.md)",
        cluster.name.empty() ? "(unnamed)" : cluster.name, cluster.memory_bandwidth_bytes_per_s);
  const double peak =
      precision == Precision::fp32 ? cluster.peak_flops.fp32_flops_per_s : cluster.peak_flops.bf16_flops_per_s;
  return {peak, cluster.memory_bandwidth_bytes_per_s};
}

AnalyticComputeProfile::AnalyticComputeProfile(ModelSpec model, int64_t seq, const ClusterSpec& cluster,
                                               Precision precision, AnalyticConstants constants)
    : model_(std::move(model)),
      seq_(seq),
      precision_(precision),
      rates_(device_rates(cluster, precision)),
      constants_(constants),
      device_name_(cluster.device_name.empty() ? cluster.name : cluster.device_name) {
  check_model(model_);
  if (seq_ < 1) throw_user_error("[analytic profile] seq={} must be >= 1", seq_);
  if (!std::isfinite(rates_.peak_flops_per_s) || rates_.peak_flops_per_s <= 0.0)
    throw_user_error("[analytic profile] peak FLOP/s={} of the device in {} must be > 0", rates_.peak_flops_per_s,
                     precision_name(precision_));
  check_fraction(constants_.gemm_efficiency, "gemm_efficiency");
  check_fraction(constants_.memory_efficiency, "memory_efficiency");
  check_fraction(constants_.flash_attention_forward_efficiency, "flash_attention_forward_efficiency");
  check_fraction(constants_.flash_attention_backward_efficiency, "flash_attention_backward_efficiency");
  if (!std::isfinite(constants_.gemm_small_dim) || constants_.gemm_small_dim < 0.0)
    throw_user_error("[analytic profile] gemm_small_dim={} must be >= 0 (0 disables the small-dimension factor)",
                     constants_.gemm_small_dim);
  switch (constants_.dropout) {
    case DropoutMode::on:
      dropout_ = true;
      break;
    case DropoutMode::off:
      dropout_ = false;
      break;
    case DropoutMode::gpt2_style:
      dropout_ = model_.norm == NormType::layernorm && model_.learned_positions;
      break;
  }
}

double AnalyticComputeProfile::gemm_efficiency(double m, double n, double k) const {
  const double smallest = std::min({m, n, k});
  const double d0 = constants_.gemm_small_dim;
  const double shape = d0 > 0.0 ? smallest / (smallest + d0) : 1.0;
  return constants_.gemm_efficiency * shape;
}

double AnalyticComputeProfile::stream_s(double bytes) const {
  return bytes / (rates_.memory_bandwidth_bytes_per_s * constants_.memory_efficiency);
}

double AnalyticComputeProfile::gemm_s(const Gemm& g) const {
  if (g.count <= 0.0 || g.m <= 0.0 || g.n <= 0.0 || g.k <= 0.0) return 0.0;
  const double compute_s =
      gemm_flops(g.count, g.m, g.n, g.k) / (rates_.peak_flops_per_s * gemm_efficiency(g.m, g.n, g.k));
  // Each operand read once and the product written once: the least traffic a tiled GEMM can have.
  const double bytes = g.count * (g.m * g.k + g.k * g.n + g.m * g.n) * double(element_bytes(precision_));
  return std::max(compute_s, stream_s(bytes));
}

void AnalyticComputeProfile::add_gemm(const Gemm& g, double scale, PieceWork& work) const {
  work.forward_gemm_flops += scale * gemm_flops(g.count, g.m, g.n, g.k);
  work.forward_gemm_s += scale * gemm_s(g);
  // C[m x n] = A[m x k] B[k x n]: dA[m x k] = dC B^T is an (m, k, n) product and dB[k x n] = A^T dC
  // a (k, n, m) one: the same FLOPs each, with a different smallest dimension.
  const Gemm input_gradient{g.count, g.m, g.k, g.n};
  const Gemm weight_gradient{g.count, g.k, g.n, g.m};
  work.backward_gemm_flops += scale * 2.0 * gemm_flops(g.count, g.m, g.n, g.k);
  work.backward_gemm_s += scale * (gemm_s(input_gradient) + gemm_s(weight_gradient));
}

PieceCost AnalyticComputeProfile::cost_of(const PieceWork& work) const {
  PieceCost cost;
  cost.forward_s = work.forward_gemm_s + stream_s(work.forward_stream_bytes);
  cost.backward_s = work.backward_gemm_s + stream_s(work.backward_stream_bytes);
  return cost;
}

void AnalyticComputeProfile::check_samples(double samples, const char* piece) const {
  if (!std::isfinite(samples) || samples < 0.0)
    throw_user_error("[analytic profile] {}: samples={} must be >= 0 and finite", piece, samples);
}

// ---- the transformer block ---------------------------------------------------------------------

namespace {

// The per-rank sizes of a block at TP degree `tp` (Megatron: heads and MLP columns split; a
// key/value head is replicated when there are fewer of them than ranks).
struct BlockShape {
  double s, h, d, heads, q, kv, qkv, ffn;  // per rank: heads, q/kv/qkv widths, ffn width
  double residual;                         // the residual stream's width per token on this rank
  double mlp_in_matrices;                  // 2 with a gate (SwiGLU), else 1

  BlockShape(const ModelSpec& m, int64_t seq, int tp, bool sequence_parallel)
      : s(double(seq)),
        h(double(m.hidden)),
        d(double(m.head_dim())),
        heads(double(m.heads) / tp),
        q(heads * d),
        kv(ceil_div(m.kv_heads, tp) * d),
        qkv(q + 2.0 * kv),
        ffn(double(m.ffn_hidden) / tp),
        residual(sequence_parallel ? h / tp : h),
        mlp_in_matrices(m.gated_mlp ? 2.0 : 1.0) {}
};

void check_tp(const ModelSpec& model, int tp, const char* what) {
  if (tp < 1 || model.heads % tp != 0)
    throw_user_error("[analytic profile] {}={} does not divide the {} heads of '{}' (valid: {})", what, tp, model.heads,
                     model.name, fmt::join(nn::divisors(model.heads), ", "));
}

}  // namespace

PieceWork AnalyticComputeProfile::block_work(double samples, int tp, bool sequence_parallel) const {
  check_samples(samples, "block");
  check_tp(model_, tp, "tp");
  PieceWork work;
  if (samples == 0.0) return work;
  const BlockShape b(model_, seq_, tp, sequence_parallel);
  // GEMM shapes are those of a micro-batch of max(1, samples) sequences; fewer cost in proportion.
  const double shape_samples = std::max(samples, 1.0);
  const double scale = samples / shape_samples;
  const double tokens = shape_samples * b.s;

  add_gemm({1.0, tokens, b.qkv, b.h}, scale, work);  // fused QKV projection, column-parallel
  if (!constants_.flash_attention) {
    const double batch = shape_samples * b.heads;
    add_gemm({batch, b.s, b.s, b.d}, scale, work);  // scores Q K^T per head: k = head_dim
    add_gemm({batch, b.s, b.d, b.s}, scale, work);  // probabilities x V per head
  } else {
    const double flops = kFlashCausalFraction * 2.0 * gemm_flops(shape_samples * b.heads, b.s, b.s, b.d);
    work.forward_gemm_flops += scale * flops;
    work.forward_gemm_s += scale * flops / (rates_.peak_flops_per_s * constants_.flash_attention_forward_efficiency);
    work.backward_gemm_flops += scale * kFlashBackwardFlopsRatio * flops;
    work.backward_gemm_s += scale * kFlashBackwardFlopsRatio * flops /
                            (rates_.peak_flops_per_s * constants_.flash_attention_backward_efficiency);
  }
  add_gemm({1.0, tokens, b.h, b.q}, scale, work);                  // output projection, row-parallel
  add_gemm({b.mlp_in_matrices, tokens, b.ffn, b.h}, scale, work);  // MLP up (and gate)
  add_gemm({1.0, tokens, b.h, b.ffn}, scale, work);                // MLP down, row-parallel

  // Memory-bound kernels, bytes per token. e: an activation element; r: the residual width (h, or
  // h/tp with sequence parallelism, where norms, dropout and residual adds see 1/tp of the tokens).
  const double e = element_bytes(precision_);
  const double r = b.residual;
  const double mask = dropout_ ? kMaskBytes : 0.0;
  const double scores = constants_.flash_attention ? 0.0 : b.heads * b.s;  // materialised score elements
  const double rotary = model_.learned_positions ? 0.0 : b.q + b.kv;       // rotated q and k elements
  const double dropped = dropout_ ? 2.0 * e + mask : 0.0;                  // dropout: read x, write y and the mask
  const double act_forward = model_.gated_mlp ? 3.0 * e : 2.0 * e;   // SwiGLU reads 2, writes 1; bias+GeLU 1 and 1
  const double act_backward = model_.gated_mlp ? 5.0 * e : 3.0 * e;  // SwiGLU: 3 in, 2 out; GeLU: x, dy in, dx out

  double forward = 0.0;
  forward += 2.0 * 2.0 * e * r;                     // two norms: read x, write y
  if (model_.qkv_bias) forward += 2.0 * e * b.qkv;  // addmm's bias: expanded into the output, read by the GEMM
  forward += 2.0 * e * rotary;                      // rotary on q and k: read, write
  forward += 2.0 * e * scores;                      // fused scale-mask-softmax: read scores, write probabilities
  forward += dropped * scores;                      // dropout on the probabilities
  forward += 2.0 * (3.0 * e + mask) * r;  // (bias +) dropout + residual add, twice: x and residual in, sum out
  forward += act_forward * b.ffn;         // bias + GeLU fused, or SwiGLU
  if (model_.gated_mlp && model_.mlp_bias) forward += 2.0 * 2.0 * e * b.ffn;  // gate and up biases, unfused

  double backward = 0.0;
  backward += 2.0 * (3.0 * e * r + 3.0 * e * r);  // norms: x, dy in, dx out; then dx added to the residual's gradient
  if (model_.qkv_bias) backward += e * b.qkv;     // bias gradients: a sum over tokens reading dy
  if (model_.out_bias) backward += e * r;
  if (model_.mlp_bias) backward += e * r + b.mlp_in_matrices * e * b.ffn;
  backward += 2.0 * e * rotary;                             // rotary backward: read, write
  backward += 3.0 * e * scores;                             // softmax backward: probabilities and dy in, dx out
  backward += dropped * scores;                             // dropout backward: dy and the mask in, dx out
  backward += 2.0 * (dropout_ ? 2.0 * e + mask : 0.0) * r;  // the residual branch's dropout; the sum passes dy on
  backward += act_backward * b.ffn;

  work.forward_stream_bytes = samples * b.s * forward;
  work.backward_stream_bytes = samples * b.s * backward;
  // Each weight gradient the backward produces is added into the fp32 gradient buffer (Megatron's
  // main_grad): read the fresh gradient and the buffer, write the buffer, once per micro-batch.
  const double weights = double(layer_parameter_count(model_)) / tp;
  work.backward_stream_bytes += scale * weights * (e + 2.0 * kFp32Bytes);
  return work;
}

PieceCost AnalyticComputeProfile::block(double samples, int tp, bool sequence_parallel) const {
  const PieceWork work = block_work(samples, tp, sequence_parallel);
  PieceCost cost = cost_of(work);
  if (samples == 0.0) return cost;
  const BlockShape b(model_, seq_, tp, sequence_parallel);
  const double e = element_bytes(precision_);
  const double mask = dropout_ ? kMaskBytes : 0.0;
  const double tokens = samples * b.s;
  const double shared = sequence_parallel ? 1.0 / tp : 1.0;  // what every TP rank holds whole without SP

  // Korthikanti et al. 2022, per token: the two norms' inputs (2 x e*h), the QKV and MLP-up inputs
  // (the norms' outputs, 2 x e*h) and the two dropout masks after the row-parallel GEMMs (2 x h)
  // are whole on every rank without sequence parallelism; q, k, v, the output projection's input
  // and the MLP's intermediates are split by TP; the attention keeps its probabilities, their
  // dropout mask and the dropped probabilities (e + 1 + e per score), or with FlashAttention one
  // fp32 statistic per row and head. For GPT (ffn 4h, no GQA, dropout, e = 2) this is
  // s*b*h*(10 + 24/t + 5*a*s/(h*t)), and 34/t + 5*a*s/(h*t) with sequence parallelism.
  double kept = shared * (2.0 * e * b.h + 2.0 * e * b.h + 2.0 * mask * b.h);
  kept += e * b.q + 2.0 * e * b.kv + e * b.q;          // q, k, v; the output projection's input
  kept += (model_.gated_mlp ? 3.0 : 2.0) * e * b.ffn;  // GeLU in and out; or gate, up and SwiGLU out
  kept += constants_.flash_attention ? kFlashRowStatisticBytes * b.heads
                                     : b.heads * b.s * (e + (dropout_ ? mask + e : 0.0));
  cost.kept_bytes = whole_bytes(tokens * kept);
  // Full recomputation keeps the block's input only (sequence-split with SP).
  cost.recompute_kept_bytes = whole_bytes(tokens * shared * e * b.h);

  // Above that, while the backward runs: the rerun forward's activations when the block is
  // recomputed (kept_bytes: counted whether it is or not, an over-estimate of one block's
  // activations without recomputation), the gradients entering and leaving the block (whole
  // e*h per token: the TP collectives work on the full tensor), the largest intermediate gradients
  // (the attention's: two s x s score gradients, or FlashAttention's fp32 dq accumulator, beside
  // the q, k, v gradients; or the MLP's intermediates), and the largest weight gradient before it
  // is added into the fp32 gradient buffer.
  const double attention_gradients =
      (constants_.flash_attention ? kFlashRowStatisticBytes * b.q : 2.0 * e * b.heads * b.s) + e * b.qkv;
  const double mlp_gradients = (model_.gated_mlp ? 3.0 : 2.0) * e * b.ffn;
  const double gradients = tokens * (2.0 * e * b.h + std::max(attention_gradients, mlp_gradients));
  const double weight_gradient = e * b.h * std::max(b.qkv, b.mlp_in_matrices * b.ffn);
  cost.transient_bytes = whole_bytes(gradients + weight_gradient);
  cost.recompute_transient_bytes = cost.kept_bytes + cost.transient_bytes;  // + the replayed forward
  return cost;
}

// ---- embedding and head ------------------------------------------------------------------------

PieceWork AnalyticComputeProfile::embedding_work(double samples, int vocab_tp) const {
  check_samples(samples, "embedding");
  if (vocab_tp < 1) throw_user_error("[analytic profile] vocab_tp={} must be >= 1", vocab_tp);
  PieceWork work;
  if (samples == 0.0) return work;
  const double scale = samples / std::max(samples, 1.0);
  const double e = element_bytes(precision_);
  const double h = double(model_.hidden);
  const double rows = ceil_div(model_.vocab_size, vocab_tp);
  const double positions = model_.learned_positions ? double(model_.max_positions) : 0.0;
  const double mask = dropout_ ? kMaskBytes : 0.0;
  const double dropped = dropout_ ? 2.0 * e + mask : 0.0;
  const double split = vocab_tp > 1 ? 1.0 : 0.0;

  double forward = 2.0 * e * h;                                        // gather the token's row, write it
  forward += split * 2.0 * e * h;                                      // zero the rows of ids another rank holds
  if (model_.learned_positions) forward += 2.0 * e * h + 3.0 * e * h;  // gather the position's row; add
  forward += dropped * h;                                              // embedding dropout
  double backward = dropped * h;                                       // dropout backward
  backward += split * 2.0 * e * h;                                     // the zeroed rows' gradient
  backward += 3.0 * e * h;                                             // scatter-add dy into the dense table gradient
  if (model_.learned_positions) backward += 3.0 * e * h;               // and into the position table's
  work.forward_stream_bytes = samples * double(seq_) * forward;
  work.backward_stream_bytes = samples * double(seq_) * backward;
  // Per micro-batch: the dense table gradients are zero-filled, then added into the fp32 buffer.
  work.backward_stream_bytes += scale * (rows + positions) * h * (e + e + 2.0 * kFp32Bytes);
  return work;
}

PieceCost AnalyticComputeProfile::embedding(double samples, int vocab_tp) const {
  PieceCost cost = cost_of(embedding_work(samples, vocab_tp));
  if (samples == 0.0) return cost;
  const double e = element_bytes(precision_);
  const double h = double(model_.hidden);
  const double tokens = samples * double(seq_);
  const double rows = ceil_div(model_.vocab_size, vocab_tp);
  const double positions = model_.learned_positions ? double(model_.max_positions) : 0.0;
  // The ids (for the table gradient), the dropout mask, and the out-of-range mask with vocab TP.
  cost.kept_bytes =
      whole_bytes(tokens * (kTokenIdBytes + (dropout_ ? kMaskBytes * h : 0.0) + (vocab_tp > 1 ? kMaskBytes : 0.0)));
  // Forward: the token and position rows before their sum; backward: the dense table gradients.
  cost.transient_bytes = whole_bytes(std::max(2.0 * e * h * tokens, e * h * (rows + positions)));
  return cost;
}

PieceWork AnalyticComputeProfile::head_work(double samples, int vocab_tp) const {
  check_samples(samples, "head");
  if (vocab_tp < 1) throw_user_error("[analytic profile] vocab_tp={} must be >= 1", vocab_tp);
  PieceWork work;
  if (samples == 0.0) return work;
  const double shape_samples = std::max(samples, 1.0);
  const double scale = samples / shape_samples;
  const double e = element_bytes(precision_);
  const double h = double(model_.hidden);
  const double columns = ceil_div(model_.vocab_size, vocab_tp);            // the padded vocabulary's share
  add_gemm({1.0, shape_samples * double(seq_), columns, h}, scale, work);  // logits

  // Mixed precision: the 16-bit logits are cast to fp32 for the loss (read e, write 4) and the
  // loss's gradient back to 16 bits for the GEMM's backward (read 4, write e).
  const double cast = e < kFp32Bytes ? e + kFp32Bytes : 0.0;
  const double forward = 2.0 * e * h + columns * (cast + kCrossEntropyForwardFp32Bytes);  // final norm; loss
  const double backward = 3.0 * e * h + columns * (kCrossEntropyBackwardFp32Bytes + cast);
  work.forward_stream_bytes = samples * double(seq_) * forward;
  work.backward_stream_bytes = samples * double(seq_) * backward;
  // The output matrix's gradient added into the fp32 buffer, once per micro-batch.
  work.backward_stream_bytes += scale * columns * h * (e + 2.0 * kFp32Bytes);
  return work;
}

PieceCost AnalyticComputeProfile::head(double samples, int vocab_tp) const {
  PieceCost cost = cost_of(head_work(samples, vocab_tp));
  if (samples == 0.0) return cost;
  const double e = element_bytes(precision_);
  const double h = double(model_.hidden);
  const double tokens = samples * double(seq_);
  const double columns = ceil_div(model_.vocab_size, vocab_tp);
  // The final norm's input and output (the logits GEMM's input), the loss's fp32 softmax over this
  // rank's logits, and the target ids.
  cost.kept_bytes = whole_bytes(tokens * (2.0 * e * h + kFp32Bytes * columns + kTokenIdBytes));
  // Forward: the 16-bit logits beside their fp32 copy; backward: the logits' 16-bit gradient, the
  // hidden state's gradient, and the output matrix's gradient before it joins the fp32 buffer.
  const double forward = e < kFp32Bytes ? e * columns * tokens : 0.0;
  const double backward = tokens * (e * columns + e * h) + e * columns * h;
  cost.transient_bytes = whole_bytes(std::max(forward, backward));
  return cost;
}

// ---- optimizer ---------------------------------------------------------------------------------

double AnalyticComputeProfile::optimizer_bytes_per_parameter() const {
  // The gradient norm for clipping reads the fp32 gradient (4). Adam (apex's multi-tensor kernel)
  // reads the fp32 weight, gradient, m and v (16) and writes the weight, m and v (12). The
  // gradient buffer is zeroed for the next step (4).
  double bytes = kFp32Bytes + 7.0 * kFp32Bytes + kFp32Bytes;
  // Mixed precision: the fp32 master weight is copied into the 16-bit working weight.
  if (precision_ != Precision::fp32) bytes += kFp32Bytes + element_bytes(precision_);
  // fp16's loss scaling: gradients unscaled in place and checked for inf/nan (read 4, write 4).
  if (precision_ == Precision::fp16) bytes += 2.0 * kFp32Bytes;
  return bytes;
}

double AnalyticComputeProfile::optimizer_s(double parameters) const {
  return stream_s(std::max(0.0, parameters) * optimizer_bytes_per_parameter());
}

std::string AnalyticComputeProfile::source() const {
  return fmt::format(
      "analytic: {} in {}, peak {:.4g} FLOP/s x GEMM efficiency {} (small dimension d0 {}), memory {:.4g} B/s x {}, "
      "{} attention, dropout {}",
      device_name_, precision_name(precision_), rates_.peak_flops_per_s, constants_.gemm_efficiency,
      constants_.gemm_small_dim, rates_.memory_bandwidth_bytes_per_s, constants_.memory_efficiency,
      constants_.flash_attention ? "flash" : "materialised", dropout_ ? "on" : "off");
}

}  // namespace loom::planner
