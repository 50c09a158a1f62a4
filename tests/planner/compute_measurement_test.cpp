// A real (small) compute measurement: the structural facts every measurement must show, whatever
// the machine's speed (no timing thresholds): positive times, bytes that grow with the
// micro-batch and shrink with the TP degree, and a recomputed block keeping exactly its input's
// size.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <tuple>

#include "autograd/tape.h"
#include "comm/thread_transport.h"
#include "core/error.h"
#include "core/memory.h"
#include "nn/transformer.h"
#include "parallel/placement.h"
#include "parallel/tensor_parallel.h"
#include "planner/compute_measurement.h"

namespace {

using loom::planner::ComputeMeasurement;
using loom::planner::ComputeMeasurementOptions;
using loom::planner::MeasuredCompute;

loom::nn::ModelConfig small_gpt() {
  loom::nn::ModelConfig config;
  config.name = "small-gpt";
  config.family = loom::nn::ModelFamily::gpt;
  config.vocab_size = 250;  // not a multiple of 4: the vocabulary is padded for vocab_tp 4
  config.hidden = 64;
  config.layers = 2;
  config.heads = 4;
  config.kv_heads = 4;
  config.ffn_hidden = 256;
  config.seq_len = 32;
  return config;
}

ComputeMeasurementOptions quick_options(int max_tp, int max_samples) {
  ComputeMeasurementOptions options;
  options.max_tp = max_tp;
  options.max_samples = max_samples;
  options.repeats = 3;
  options.min_timed_s = 0.02;  // tiny points: more runs, so that one slow run moves no median
  options.optimizer_parameters = 1 << 16;
  return options;
}

TEST(MeasuredComputeRun, DegreesAndSampleCounts) {
  loom::nn::ModelConfig config = small_gpt();
  EXPECT_EQ(loom::planner::block_tp_degrees(config, 8), (std::vector<int>{1, 2, 4}));
  EXPECT_EQ(loom::planner::vocab_tp_degrees(config, 8), (std::vector<int>{1, 2, 4, 8}));
  config.heads = 6;
  config.kv_heads = 6;
  config.hidden = 96;
  config.ffn_hidden = 384;
  EXPECT_EQ(loom::planner::block_tp_degrees(config, 4), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(loom::planner::vocab_tp_degrees(config, 4), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(loom::planner::measured_sample_counts(8), (std::vector<int64_t>{1, 2, 4, 8}));
  EXPECT_EQ(loom::planner::measured_sample_counts(6), (std::vector<int64_t>{1, 2, 4, 6}));
  EXPECT_EQ(loom::planner::measured_sample_counts(1), (std::vector<int64_t>{1}));
}

TEST(MeasuredComputeRun, SmallModelShowsTheStructuralFacts) {
  const loom::nn::ModelConfig config = small_gpt();
  const int64_t seq = 16;
  std::vector<std::string> reported;
  ComputeMeasurementOptions options = quick_options(2, 2);
  int points_begun = 0;
  options.before_point = [&] { ++points_begun; };
  options.on_point = [&](const std::string& piece, const ComputeMeasurement&) { reported.push_back(piece); };
  const MeasuredCompute compute = loom::planner::measure_compute(config, seq, options);

  EXPECT_EQ(compute.seq, seq);
  EXPECT_EQ(compute.model.hidden, config.hidden);
  EXPECT_GE(compute.threads, 1);
  EXPECT_EQ(compute.concurrent_ranks, 1);
  // Blocks: tp 1, tp 2, tp 2 with sequence parallelism, each at 1 and 2 samples; embedding and
  // head at vocab_tp 1 and 2.
  ASSERT_EQ(compute.block.size(), 6u);
  ASSERT_EQ(compute.embedding.size(), 4u);
  ASSERT_EQ(compute.head.size(), 4u);
  EXPECT_EQ(reported.size(), 14u);
  EXPECT_EQ(points_begun, 15);  // and the optimizer
  EXPECT_GT(compute.optimizer_s_per_parameter, 0.0);

  std::map<std::tuple<int, bool, double>, ComputeMeasurement> blocks;
  for (const ComputeMeasurement& m : compute.block) blocks[{m.tp, m.sequence_parallel, m.samples}] = m;
  const int64_t sample_bytes = seq * config.hidden * 4;  // one sequence of the residual stream
  for (const ComputeMeasurement& m : compute.block) {
    SCOPED_TRACE(testing::Message() << "block tp=" << m.tp << " sp=" << m.sequence_parallel
                                    << " samples=" << m.samples);
    EXPECT_GT(m.cost.forward_s, 0.0);
    EXPECT_GT(m.cost.backward_s, 0.0);  // (no ratio: tests never assert on timing)
    EXPECT_GT(m.cost.transient_bytes, 0);
    // A recomputed block keeps its input's size: [B, T, C] floats, T / tp with sequence parallelism.
    const int64_t local_seq_share = m.sequence_parallel ? m.tp : 1;
    EXPECT_EQ(m.cost.recompute_kept_bytes, int64_t(m.samples) * sample_bytes / local_seq_share);
    EXPECT_GT(m.cost.kept_bytes, m.cost.recompute_kept_bytes);
    // A recomputed block's backward holds the replayed forward's activations.
    EXPECT_GE(m.cost.recompute_transient_bytes, m.cost.kept_bytes - m.cost.recompute_kept_bytes);
  }
  for (const auto& [key, m] : blocks) {
    const auto [tp, sp, samples] = key;
    if (samples == 2.0) {
      EXPECT_GT(m.cost.kept_bytes, blocks.at({tp, sp, 1.0}).cost.kept_bytes) << "tp=" << tp << " sp=" << sp;
      EXPECT_GT(m.cost.transient_bytes, blocks.at({tp, sp, 1.0}).cost.transient_bytes);
    }
    if (tp == 2) {
      EXPECT_LT(m.cost.kept_bytes, blocks.at({1, false, samples}).cost.kept_bytes) << "samples=" << samples;
      EXPECT_LT(m.cost.transient_bytes, blocks.at({1, false, samples}).cost.transient_bytes);
    }
    if (sp) {
      EXPECT_LT(m.cost.kept_bytes, blocks.at({tp, false, samples}).cost.kept_bytes);
    }
  }

  for (const auto* list : {&compute.embedding, &compute.head}) {
    for (size_t i = 0; i < list->size(); ++i) {
      const ComputeMeasurement& m = (*list)[i];
      EXPECT_GT(m.cost.forward_s, 0.0);
      EXPECT_GT(m.cost.backward_s, 0.0);
      EXPECT_GT(m.cost.kept_bytes, 0);
      EXPECT_GT(m.cost.transient_bytes, 0);
      EXPECT_EQ(m.cost.recompute_kept_bytes, m.cost.kept_bytes);
      EXPECT_FALSE(m.sequence_parallel);
    }
  }
  // The embedding's output is the first block's whole input.
  for (const ComputeMeasurement& m : compute.embedding) EXPECT_GE(m.cost.kept_bytes, int64_t(m.samples) * sample_bytes);
  // The head keeps at least its logits: samples x seq x (padded vocabulary / vocab_tp) floats.
  for (const ComputeMeasurement& m : compute.head) {
    const int64_t rows = (config.vocab_size + m.tp - 1) / m.tp;
    EXPECT_GE(m.cost.kept_bytes, int64_t(m.samples) * seq * rows * 4) << "vocab_tp=" << m.tp;
  }
}

TEST(MeasuredComputeRun, LlamaBlockWithGroupedQueryAttentionAndSequenceParallelism) {
  loom::nn::ModelConfig config = small_gpt();
  config.family = loom::nn::ModelFamily::llama;
  config.kv_heads = 2;
  config.tie_embeddings = false;
  const ComputeMeasurementOptions options = quick_options(2, 2);
  const ComputeMeasurement plain = loom::planner::measure_block(config, 16, 2, 2, false, options);
  const ComputeMeasurement sp = loom::planner::measure_block(config, 16, 2, 2, true, options);
  EXPECT_EQ(plain.cost.recompute_kept_bytes, 2 * 16 * 64 * 4);
  EXPECT_EQ(sp.cost.recompute_kept_bytes, 2 * 8 * 64 * 4);
  EXPECT_LT(sp.cost.kept_bytes, plain.cost.kept_bytes);
  const ComputeMeasurement head = loom::planner::measure_head(config, 16, 1, 2, options);
  EXPECT_GT(head.cost.kept_bytes, 0);
  // tp=4 does not divide 2 kv heads.
  EXPECT_THROW(loom::planner::measure_block(config, 16, 1, 4, false, options), loom::UserError);
}

// The stand-in hooks allocate what the runtime's do: two ranks (threads) run the real
// TensorParallelComm block in lockstep, and the process's live bytes grow by twice what the
// measurement says one rank keeps.
class KeptBytesMatchTheRuntime : public ::testing::TestWithParam<bool> {};

TEST_P(KeptBytesMatchTheRuntime, OnTwoRanks) {
  const bool sequence_parallel = GetParam();
  const loom::nn::ModelConfig config = small_gpt();
  const int64_t seq = 16, samples = 2;
  const int tp = 2;
  const ComputeMeasurement measured =
      loom::planner::measure_block(config, seq, samples, tp, sequence_parallel, quick_options(tp, 2));

  std::atomic<int64_t> before{0}, after{0};
  loom::comm::ThreadWorld::run(tp, [&](loom::comm::Communicator& group) {
    loom::nn::BlockParameters block;
    for (const loom::nn::ParameterSpec& spec : loom::nn::parameter_specs(config)) {
      if (spec.layer != 0 || spec.member == nullptr) continue;
      const loom::Tensor full = loom::nn::initial_parameter_value(spec, 1);
      const loom::parallel::Placement placement = loom::parallel::block_parameter_placement(config, spec.member);
      const loom::Tensor local = placement.kind == loom::parallel::Placement::Kind::shard
                                     ? loom::parallel::shard_tensor(full, placement, group.rank(), tp)
                                     : full;
      block.*spec.member = loom::autograd::Var::parameter(local, spec.name);
    }
    const int64_t local_seq = sequence_parallel ? seq / tp : seq;
    const loom::Tensor x = loom::Tensor::full({samples, local_seq, config.hidden}, 0.5f);
    const loom::parallel::TensorParallelComm comm(group, sequence_parallel);
    // Once untimed: a collective's first call may set up persistent buffers (shared segments).
    loom::nn::block_forward(config, block, loom::autograd::Var(x), comm);
    group.barrier();
    if (group.rank() == 0) before = loom::MemoryTracker::instance().total_live_bytes();
    group.barrier();
    loom::autograd::Tape tape;
    loom::autograd::Var output;
    {
      loom::autograd::TapeScope scope(tape);
      output = loom::nn::block_forward(config, block, loom::autograd::Var(x, true), comm);
    }
    group.barrier();
    if (group.rank() == 0) after = loom::MemoryTracker::instance().total_live_bytes();
    group.barrier();
  });
  EXPECT_EQ((after - before) / tp, measured.cost.kept_bytes);
}

INSTANTIATE_TEST_SUITE_P(MeasuredComputeRun, KeptBytesMatchTheRuntime, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "SequenceParallel" : "TensorParallel"; });

}  // namespace
