// The analytic compute profile against hand-computed values: a tiny block's GEMM time with the
// efficiencies at 1 and its memory-bound time with an unbounded peak, Korthikanti et al.'s
// activation formula on the GPT-3 175B shape, tensor and sequence parallelism, recomputation,
// the backward/forward ratio and efficiency growing with the model. Pure functions: no timing.
#include "planner/analytic_profile.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>

#include "core/error.h"
#include "planner/cluster.h"
#include "planner/model_spec.h"

namespace loom::planner {
namespace {

// A GPT-2-style spec (LayerNorm, learned positions, biases everywhere, GeLU MLP).
ModelSpec gpt_spec(int64_t hidden, int64_t heads, int64_t layers, int64_t vocab, int64_t positions) {
  ModelSpec spec;
  spec.name = "gpt-test";
  spec.family = "gpt2";
  spec.layers = layers;
  spec.hidden = hidden;
  spec.heads = heads;
  spec.kv_heads = heads;
  spec.ffn_hidden = 4 * hidden;
  spec.vocab_size = vocab;
  spec.max_positions = positions;
  spec.norm = NormType::layernorm;
  spec.qkv_bias = spec.out_bias = spec.mlp_bias = true;
  spec.learned_positions = true;
  return spec;
}

// h = 64, a = 4 (head_dim 16), ffn 256, vocab 100, s = 8.
ModelSpec tiny_spec() {
  return gpt_spec(64, 4, 2, 100, 8);
}

// A device with the given bf16 peak and memory bandwidth.
ClusterSpec device(double peak_flops_per_s, double bandwidth_bytes_per_s) {
  ClusterSpec cluster = cluster_preset("dgx-a100-80g");
  cluster.peak_flops.bf16_flops_per_s = peak_flops_per_s;
  cluster.memory_bandwidth_bytes_per_s = bandwidth_bytes_per_s;
  return cluster;
}

// Every efficiency 1 and no small-dimension factor: time is work over the raw rates.
AnalyticConstants ideal_constants() {
  AnalyticConstants c;
  c.gemm_efficiency = 1.0;
  c.gemm_small_dim = 0.0;
  c.memory_efficiency = 1.0;
  return c;
}

void expect_relative(double actual, double expected, double tolerance = 1e-9) {
  EXPECT_NEAR(actual, expected, tolerance * std::abs(expected)) << "expected " << expected;
}

TEST(AnalyticProfile, TinyBlockForwardIsItsGemmFlopsOverThePeak) {
  // Memory 1e30 B/s: only the GEMMs' compute counts.
  const AnalyticComputeProfile profile(tiny_spec(), 8, device(1e12, 1e30), Precision::bf16, ideal_constants());
  // Per sequence (8 tokens), 2*m*n*k each:
  //   QKV     [8 x 64] x [64 x 192]          2*8*192*64   = 196,608
  //   scores  4 heads x [8 x 16] x [16 x 8]  4*2*8*8*16   =   8,192
  //   context 4 heads x [8 x 8] x [8 x 16]   4*2*8*16*8   =   8,192
  //   out     [8 x 64] x [64 x 64]           2*8*64*64    =  65,536
  //   MLP up  [8 x 64] x [64 x 256]          2*8*256*64   = 262,144
  //   MLP down [8 x 256] x [256 x 64]        2*8*64*256   = 262,144
  //                                                total   802,816
  const PieceWork work = profile.block_work(1.0, 1, false);
  EXPECT_DOUBLE_EQ(work.forward_gemm_flops, 802816.0);
  EXPECT_DOUBLE_EQ(work.backward_gemm_flops, 2.0 * 802816.0);
  // The same count as the model's FLOPs per token (without the LM head).
  const ModelSpec spec = tiny_spec();
  EXPECT_DOUBLE_EQ(work.forward_gemm_flops, 8.0 * (forward_flops_per_token(spec, 8) - 2.0 * 64 * 100) / 2.0);

  const PieceCost one = profile.block(1.0, 1, false);
  expect_relative(one.forward_s, 802816.0 / 1e12);
  expect_relative(one.backward_s, 2.0 * 802816.0 / 1e12);  // same efficiency everywhere: exactly 2x
  const PieceCost four = profile.block(4.0, 1, false);
  expect_relative(four.forward_s, 4.0 * 802816.0 / 1e12);
  // TP 2 halves every GEMM.
  const PieceCost tp2 = profile.block(1.0, 2, false);
  expect_relative(tp2.forward_s, 401408.0 / 1e12);
  expect_relative(tp2.backward_s, 2.0 * 401408.0 / 1e12);
}

TEST(AnalyticProfile, TinyBlockMemoryBytesAreCountedByHand) {
  // Peak 1e30 FLOP/s, memory 1e9 B/s: every kernel costs its bytes. bf16 (2-byte activations),
  // dropout on (GPT-2 style), TP 1, one sequence of 8 tokens.
  const AnalyticComputeProfile profile(tiny_spec(), 8, device(1e30, 1e9), Precision::bf16, ideal_constants());
  ASSERT_TRUE(profile.dropout());
  // Memory-bound forward, per token:
  //   two LayerNorms        2 * (2 + 2) * 64        =  512
  //   QKV bias (addmm)      2 * 2 * 192             =  768
  //   softmax               2 * 2 * (4 heads * 8)   =  128
  //   attention dropout     (2 + 2 + 1) * 32        =  160
  //   bias+dropout+residual 2 * (3 * 2 + 1) * 64    =  896
  //   bias + GeLU           2 * 2 * 256             = 1024
  //                                          total    3488 bytes, x 8 tokens = 27,904
  // GEMM operands and products, 2 bytes each:
  //   QKV (8*64 + 64*192 + 8*192) * 2 = 28,672; scores 4 * (8*16 + 16*8 + 8*8) * 2 = 2,560;
  //   context 4 * (8*8 + 8*16 + 8*16) * 2 = 2,560; out (8*64 + 64*64 + 8*64) * 2 = 10,240;
  //   MLP up (8*64 + 64*256 + 8*256) * 2 = 37,888; MLP down (8*256 + 256*64 + 8*64) * 2 = 37,888
  //                                          total 119,808
  const PieceWork work = profile.block_work(1.0, 1, false);
  EXPECT_DOUBLE_EQ(work.forward_stream_bytes, 27904.0);
  expect_relative(work.forward_gemm_s, 119808.0 / 1e9);
  expect_relative(profile.block(1.0, 1, false).forward_s, (27904.0 + 119808.0) / 1e9);
  // Backward, per token:
  //   LayerNorms and residual-gradient sums  2 * (3*2*64 + 3*2*64)  = 1536
  //   bias gradients  QKV 2*192 + out 2*64 + MLP (2*64 + 2*256)     = 1152
  //   softmax 3 * 2 * 32 = 192; attention dropout 5 * 32 = 160
  //   residual-branch dropouts 2 * 5 * 64 = 640; GeLU 3 * 2 * 256 = 1536
  //                                          total 5216, x 8 tokens = 41,728
  // plus the weight gradients into the fp32 buffer: 49,984 parameters x (2 + 4 + 4) = 499,840.
  EXPECT_EQ(layer_parameter_count(tiny_spec()), 49984);
  EXPECT_DOUBLE_EQ(work.backward_stream_bytes, 41728.0 + 499840.0);
}

TEST(AnalyticProfile, KorthikantiActivationsForGpt3) {
  // GPT-3 175B (Korthikanti et al. 2022, table 3): h = 12288, a = 96, s = 2048, t = 8, b = 1.
  // s*b*h = 25,165,824; 5*a*s/(h*t) = 10.
  const AnalyticComputeProfile profile(gpt_spec(12288, 96, 96, 51200, 2048), 2048, cluster_preset("dgx-a100-80g"),
                                       Precision::bf16);
  const double sbh = 2048.0 * 12288.0;
  // Tensor parallel: s*b*h*(10 + 24/t + 5as/(ht)) = 25,165,824 * 23 = 578,813,952 bytes.
  const PieceCost tp = profile.block(1.0, 8, false);
  EXPECT_EQ(tp.kept_bytes, 578813952);
  EXPECT_EQ(tp.kept_bytes, int64_t(sbh * (10.0 + 24.0 / 8.0 + 10.0)));
  // Sequence parallel: s*b*h*(34/t + 5as/(ht)) = 25,165,824 * 14.25 = 358,612,992 bytes.
  const PieceCost sp = profile.block(1.0, 8, true);
  EXPECT_EQ(sp.kept_bytes, 358612992);
  // No parallelism: s*b*h*(34 + 5as/h) = 25,165,824 * 114.
  EXPECT_EQ(profile.block(1.0, 1, false).kept_bytes, int64_t(sbh * 114.0));
  // Micro-batch 2 holds twice as much.
  EXPECT_EQ(profile.block(2.0, 8, false).kept_bytes, 2 * 578813952LL);
  // Full recomputation keeps the block input, 2*s*b*h (/t with sequence parallelism).
  EXPECT_EQ(tp.recompute_kept_bytes, 50331648);
  EXPECT_EQ(sp.recompute_kept_bytes, 6291456);
  // The backward of a recomputed block holds its rerun activations and more.
  EXPECT_GT(tp.recompute_transient_bytes, tp.kept_bytes);
  EXPECT_EQ(tp.recompute_transient_bytes, tp.kept_bytes + tp.transient_bytes);
}

TEST(AnalyticProfile, Fp32DoublesTheSixteenBitTermsButNotTheMasks) {
  const ModelSpec spec = gpt_spec(12288, 96, 96, 51200, 2048);
  const ClusterSpec a100 = cluster_preset("dgx-a100-80g");
  const AnalyticComputeProfile bf16(spec, 2048, a100, Precision::bf16);
  const AnalyticComputeProfile fp32(spec, 2048, a100, Precision::fp32);
  // Masks at t = 8: two of h per token (not split) and a*s^2*b/t for the attention probabilities:
  // s*b*h*(2 + 2) bytes. Everything else doubles: 2 * 23 - 4 = 42.
  const double sbh = 2048.0 * 12288.0;
  EXPECT_EQ(fp32.block(1.0, 8, false).kept_bytes, int64_t(sbh * 42.0));
  EXPECT_EQ(fp32.block(1.0, 8, false).recompute_kept_bytes, 2 * bf16.block(1.0, 8, false).recompute_kept_bytes);
}

TEST(AnalyticProfile, FlashAttentionDropsTheScoreTerm) {
  AnalyticConstants flash;
  flash.flash_attention = true;
  const ModelSpec spec = gpt_spec(12288, 96, 96, 51200, 2048);
  const AnalyticComputeProfile materialised(spec, 2048, cluster_preset("dgx-a100-80g"), Precision::bf16);
  const AnalyticComputeProfile fused(spec, 2048, cluster_preset("dgx-a100-80g"), Precision::bf16, flash);
  // s*b*h*(10 + 24/t) plus one fp32 log-sum-exp per row and head: 4 * (96/8) * 2048.
  const double sbh = 2048.0 * 12288.0;
  EXPECT_EQ(fused.block(1.0, 8, false).kept_bytes, int64_t(sbh * 13.0) + 4 * 12 * 2048);
  // No score bytes; the causal half of the score FLOPs, 2.5x of them in the backward.
  const PieceWork m = materialised.block_work(1.0, 8, false);
  const PieceWork f = fused.block_work(1.0, 8, false);
  const double score_flops = 2.0 * 2.0 * 12.0 * 2048.0 * 2048.0 * 128.0;  // both batched GEMMs, 12 heads
  EXPECT_DOUBLE_EQ(m.forward_gemm_flops - f.forward_gemm_flops, 0.5 * score_flops);
  EXPECT_DOUBLE_EQ(m.backward_gemm_flops - f.backward_gemm_flops, 2.0 * score_flops - 2.5 * 0.5 * score_flops);
  EXPECT_LT(f.forward_stream_bytes, m.forward_stream_bytes);
  EXPECT_LT(fused.block(1.0, 8, false).forward_s, materialised.block(1.0, 8, false).forward_s);
}

TEST(AnalyticProfile, SequenceParallelSplitsNormsAndResiduals) {
  const AnalyticComputeProfile profile(gpt_spec(4096, 32, 36, 51200, 2048), 2048, cluster_preset("dgx-a100-80g"),
                                       Precision::bf16);
  const PieceWork plain = profile.block_work(1.0, 4, false);
  const PieceWork sp = profile.block_work(1.0, 4, true);
  EXPECT_DOUBLE_EQ(sp.forward_gemm_flops, plain.forward_gemm_flops);  // the GEMMs are the same
  EXPECT_LT(sp.forward_stream_bytes, plain.forward_stream_bytes);
  EXPECT_LT(sp.backward_stream_bytes, plain.backward_stream_bytes);
  EXPECT_LT(profile.block(1.0, 4, true).kept_bytes, profile.block(1.0, 4, false).kept_bytes);
}

TEST(AnalyticProfile, TensorParallelHalvesTheWork) {
  const AnalyticComputeProfile profile(gpt_spec(8192, 64, 48, 51200, 2048), 2048, cluster_preset("dgx-a100-80g"),
                                       Precision::bf16);
  const PieceWork t4 = profile.block_work(1.0, 4, true);
  const PieceWork t8 = profile.block_work(1.0, 8, true);
  EXPECT_DOUBLE_EQ(t8.forward_gemm_flops, 0.5 * t4.forward_gemm_flops);
  EXPECT_DOUBLE_EQ(t8.backward_gemm_flops, 0.5 * t4.backward_gemm_flops);
  // With sequence parallelism everything is split: activations halve exactly.
  EXPECT_EQ(2 * profile.block(1.0, 8, true).kept_bytes, profile.block(1.0, 4, true).kept_bytes);
  // Time a little over half: smaller GEMMs run less efficiently.
  const double ratio = profile.block(1.0, 8, true).forward_s / profile.block(1.0, 4, true).forward_s;
  EXPECT_GT(ratio, 0.5);
  EXPECT_LT(ratio, 0.6);
}

TEST(AnalyticProfile, BackwardIsTwoToThreeTimesTheForwardOnLargeShapes) {
  // Megatron-LM's 7.5B to 530B shapes at s = 2048. (At h = 2304 the ratio is just under 2: the
  // materialised attention is memory bound there, and its backward moves about 1.5x the bytes of
  // its forward, not 2x.)
  const ClusterSpec a100 = cluster_preset("dgx-a100-80g");
  for (const auto& [hidden, heads, tp] : {std::tuple{4096, 32, 4}, {8192, 64, 8}, {12288, 96, 8}, {20480, 128, 8}}) {
    const AnalyticComputeProfile profile(gpt_spec(hidden, heads, 24, 51200, 2048), 2048, a100, Precision::bf16);
    const PieceCost cost = profile.block(1.0, tp, false);
    const double ratio = cost.backward_s / cost.forward_s;
    EXPECT_GT(ratio, 2.0) << hidden;
    EXPECT_LT(ratio, 3.0) << hidden;
  }
}

TEST(AnalyticProfile, EfficiencyRisesWithHiddenSize) {
  AnalyticConstants constants;
  const AnalyticComputeProfile small(tiny_spec(), 8, cluster_preset("dgx-a100-80g"), Precision::bf16, constants);
  // The GEMM factor: 0.8 * d / (d + 64) on the smallest dimension.
  EXPECT_DOUBLE_EQ(small.gemm_efficiency(2048, 4096, 64), 0.8 * 0.5);
  EXPECT_DOUBLE_EQ(small.gemm_efficiency(4096, 4096, 4096), 0.8 * 4096.0 / 4160.0);
  EXPECT_LT(small.gemm_efficiency(2048, 2048, 128), small.gemm_efficiency(2048, 2048, 256));

  // The whole block's achieved fraction of the peak (forward + backward model FLOPs over time).
  double previous = 0.0;
  for (int64_t hidden : {1024, 2048, 4096, 8192, 16384}) {
    const ModelSpec spec = gpt_spec(hidden, hidden / 128, 24, 51200, 2048);
    const AnalyticComputeProfile profile(spec, 2048, cluster_preset("dgx-a100-80g"), Precision::bf16);
    const PieceCost cost = profile.block(1.0, 1, false);
    const double flops = 3.0 * profile.block_work(1.0, 1, false).forward_gemm_flops;
    const double fraction = flops / ((cost.forward_s + cost.backward_s) * 312e12);
    EXPECT_GT(fraction, previous) << hidden;
    EXPECT_LT(fraction, 0.8) << hidden;
    previous = fraction;
  }
}

TEST(AnalyticProfile, FractionalSamplesScaleLinearlyAndZeroCostsNothing) {
  const AnalyticComputeProfile profile(gpt_spec(2304, 24, 24, 51200, 2048), 2048, cluster_preset("dgx-a100-80g"),
                                       Precision::bf16);
  const PieceCost one = profile.block(1.0, 1, false);
  const PieceCost half = profile.block(0.5, 1, false);
  expect_relative(half.forward_s, 0.5 * one.forward_s);
  expect_relative(half.backward_s, 0.5 * one.backward_s);
  EXPECT_EQ(half.kept_bytes, one.kept_bytes / 2);
  EXPECT_EQ(profile.block(0.0, 1, false), PieceCost{});
  EXPECT_EQ(profile.head(0.0, 1), PieceCost{});
  EXPECT_EQ(profile.embedding(0.0, 1), PieceCost{});
  // A larger micro-batch is no less efficient per sequence.
  EXPECT_LE(profile.block(4.0, 1, false).forward_s, 4.0 * one.forward_s);
}

TEST(AnalyticProfile, HeadCostsTheLogitsAndKeepsThemInFp32) {
  const AnalyticComputeProfile profile(tiny_spec(), 8, device(1e12, 1e30), Precision::bf16, ideal_constants());
  // Logits [8 x 64] x [64 x 100]: 2*8*100*64 = 102,400 FLOPs forward, twice that backward.
  const PieceWork work = profile.head_work(1.0, 1);
  EXPECT_DOUBLE_EQ(work.forward_gemm_flops, 102400.0);
  EXPECT_DOUBLE_EQ(work.backward_gemm_flops, 204800.0);
  expect_relative(profile.head(1.0, 1).forward_s, 102400.0 / 1e12);
  // Kept per token: the norm's input and output (2 * 2 * 64), the fp32 softmax (4 * 100 / vocab_tp),
  // the target id (8).
  EXPECT_EQ(profile.head(1.0, 1).kept_bytes, 8 * (256 + 400 + 8));
  EXPECT_EQ(profile.head(1.0, 2).kept_bytes, 8 * (256 + 200 + 8));
  EXPECT_DOUBLE_EQ(profile.head_work(1.0, 2).forward_gemm_flops, 51200.0);
  // Cross-entropy per logit: cast to fp32 (2 + 4) and 32 bytes of fp32 passes; the final norm 2*2*64.
  EXPECT_DOUBLE_EQ(work.forward_stream_bytes, 8.0 * (256.0 + 100.0 * 38.0));
}

TEST(AnalyticProfile, EmbeddingIsMemoryBound) {
  const AnalyticComputeProfile profile(tiny_spec(), 8, device(1e12, 1e9), Precision::bf16, ideal_constants());
  const PieceWork work = profile.embedding_work(1.0, 1);
  EXPECT_DOUBLE_EQ(work.forward_gemm_flops, 0.0);
  // Per token: the token row gathered (2 * 2 * 64), the position row gathered and added
  // ((2 + 3) * 2 * 64), dropout ((2 + 2 + 1) * 64): 256 + 640 + 320 = 1216 bytes.
  EXPECT_DOUBLE_EQ(work.forward_stream_bytes, 8.0 * 1216.0);
  expect_relative(profile.embedding(1.0, 1).forward_s, 8.0 * 1216.0 / 1e9);
  // The backward writes the dense table gradients: it costs more than the forward.
  EXPECT_GT(profile.embedding(1.0, 1).backward_s, profile.embedding(1.0, 1).forward_s);
  // Kept: the ids (8 bytes) and the dropout mask (64) per token.
  EXPECT_EQ(profile.embedding(1.0, 1).kept_bytes, 8 * (8 + 64));
}

TEST(AnalyticProfile, OptimizerStreamsItsStateOnce) {
  const ClusterSpec a100 = cluster_preset("dgx-a100-80g");
  const ModelSpec spec = tiny_spec();
  // Norm 4 + Adam 28 + zeroing 4 = 36; mixed precision + the 16-bit copy (4 + 2); fp16 + unscaling 8.
  EXPECT_DOUBLE_EQ(AnalyticComputeProfile(spec, 8, a100, Precision::fp32).optimizer_bytes_per_parameter(), 36.0);
  EXPECT_DOUBLE_EQ(AnalyticComputeProfile(spec, 8, a100, Precision::bf16).optimizer_bytes_per_parameter(), 42.0);
  EXPECT_DOUBLE_EQ(AnalyticComputeProfile(spec, 8, a100, Precision::fp16).optimizer_bytes_per_parameter(), 50.0);
  const AnalyticComputeProfile profile(spec, 8, a100, Precision::bf16);
  expect_relative(profile.optimizer_s(1e9), 1e9 * 42.0 / (2.039e12 * 0.8));
  EXPECT_DOUBLE_EQ(profile.optimizer_s(0.0), 0.0);
}

TEST(AnalyticProfile, DropoutFollowsTheFamilyUnlessSet) {
  const ClusterSpec a100 = cluster_preset("dgx-a100-80g");
  ModelSpec llama = tiny_spec();
  llama.family = "llama";
  llama.norm = NormType::rmsnorm;
  llama.learned_positions = false;
  llama.gated_mlp = true;
  llama.qkv_bias = llama.out_bias = llama.mlp_bias = false;
  EXPECT_TRUE(AnalyticComputeProfile(tiny_spec(), 8, a100, Precision::bf16).dropout());
  EXPECT_FALSE(AnalyticComputeProfile(llama, 8, a100, Precision::bf16).dropout());
  AnalyticConstants on;
  on.dropout = DropoutMode::on;
  EXPECT_TRUE(AnalyticComputeProfile(llama, 8, a100, Precision::bf16, on).dropout());
  // SwiGLU keeps gate, up and their product: 3 * e * ffn per token instead of GeLU's 2.
  const AnalyticComputeProfile profile(llama, 8, a100, Precision::bf16);
  // Per token: norm inputs and outputs 4 * 2 * 64, q k v 3 * 2 * 64, out-proj input 2 * 64,
  // SwiGLU 3 * 2 * 256, probabilities 2 * 4 * 8 (no dropout).
  EXPECT_EQ(profile.block(1.0, 1, false).kept_bytes, 8 * (512 + 384 + 128 + 1536 + 64));
}

TEST(AnalyticProfile, BadInputsNameTheField) {
  const ClusterSpec a100 = cluster_preset("dgx-a100-80g");
  ClusterSpec unknown = a100;
  unknown.memory_bandwidth_bytes_per_s = 0.0;
  try {
    AnalyticComputeProfile(tiny_spec(), 8, unknown, Precision::bf16);
    ADD_FAILURE() << "no UserError for an unknown memory bandwidth";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("device.memory_bandwidth_bytes_per_s"), std::string::npos);
  }
  const AnalyticComputeProfile profile(tiny_spec(), 8, a100, Precision::bf16);
  try {
    profile.block(1.0, 3, false);
    ADD_FAILURE() << "no UserError for tp=3 with 4 heads";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("tp=3"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("valid: 1, 2, 4"), std::string::npos) << error.what();
  }
  EXPECT_THROW(profile.block(-1.0, 1, false), UserError);
  EXPECT_THROW(profile.head(1.0, 0), UserError);
  AnalyticConstants bad;
  bad.gemm_efficiency = 1.5;
  EXPECT_THROW(AnalyticComputeProfile(tiny_spec(), 8, a100, Precision::bf16, bad), UserError);
  EXPECT_THROW(AnalyticComputeProfile(tiny_spec(), 0, a100, Precision::bf16), UserError);
  EXPECT_NE(profile.source().find("A100"), std::string::npos) << profile.source();
}

}  // namespace
}  // namespace loom::planner
