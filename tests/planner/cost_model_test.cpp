// The planner's cost model against numbers worked out by hand: a closed-form compute profile
// (every piece's time and memory a line in the number of samples) and one set of link
// parameters, so each expected step time and peak memory below is a short sum. Covers one
// rank, data parallelism with its overlapped gradient all-reduce, the ZeRO stages' memory and
// traffic, Megatron tensor parallelism, the pipeline's makespan and micro-batches in flight,
// the model FLOP count against Megatron-LM's formula, and the link parameters of a cluster.
#include "planner/cost_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

namespace loom::planner {
namespace {

using parallel::LayerStrategy;
using parallel::ParallelPlan;
using parallel::PipelineSchedule;
using parallel::StagePlan;
using parallel::VocabStrategy;

// A compute profile in closed form. A block of `samples` sequences at TP degree t: forward
// a * samples / t, backward twice that; it keeps (split / t + replicated) bytes per sample
// (sequence parallelism splits the replicated part too), or only its input when recomputed,
// and needs a fixed transient. The embedding and the head scale the same way with their
// vocabulary-parallel degree. The optimizer costs a fixed time per parameter.
class LinearProfile : public ComputeProfile {
 public:
  double block_forward_s = 1e-3;  // per sample
  double block_split_bytes = 100000.0;
  double block_replicated_bytes = 20000.0;
  double input_bytes = 16.0 * 64.0 * 4.0;  // seq x hidden x fp32, per sample
  int64_t block_transient_bytes = 50000;
  double embedding_forward_s = 1e-4;
  double embedding_backward_s = 2e-4;
  double embedding_kept_bytes = 1000.0;
  int64_t embedding_transient_bytes = 3000;
  double head_forward_s = 3e-4;
  double head_kept_bytes = 8000.0;
  double head_transient_bytes = 40000.0;
  double optimizer_s_per_parameter = 1e-8;

  PieceCost block(double samples, int tp, bool sequence_parallel) const override {
    PieceCost cost;
    cost.forward_s = block_forward_s * samples / tp;
    cost.backward_s = 2.0 * cost.forward_s;
    cost.kept_bytes = int64_t(samples * (block_split_bytes / tp +
                                         (sequence_parallel ? block_replicated_bytes / tp : block_replicated_bytes)));
    cost.recompute_kept_bytes = int64_t(samples * input_bytes / (sequence_parallel ? tp : 1));
    cost.transient_bytes = block_transient_bytes;
    return cost;
  }
  PieceCost embedding(double samples, int vocab_tp) const override {
    PieceCost cost;
    cost.forward_s = embedding_forward_s * samples / vocab_tp;
    cost.backward_s = embedding_backward_s * samples / vocab_tp;
    cost.kept_bytes = int64_t(embedding_kept_bytes * samples);
    cost.transient_bytes = embedding_transient_bytes;
    return cost;
  }
  PieceCost head(double samples, int vocab_tp) const override {
    PieceCost cost;
    cost.forward_s = head_forward_s * samples / vocab_tp;
    cost.backward_s = 2.0 * cost.forward_s;
    cost.kept_bytes = int64_t(head_kept_bytes * samples / vocab_tp);
    cost.transient_bytes = int64_t(head_transient_bytes * samples / vocab_tp);
    return cost;
  }
  double optimizer_s(double parameters) const override { return optimizer_s_per_parameter * parameters; }
  std::string source() const override { return "linear test profile"; }
};

// 4 layers, hidden 64, 4 heads, ffn 256, vocabulary 128, LayerNorm, rotary positions.
ModelSpec small_model(bool tied) {
  ModelSpec model;
  model.name = "cost-model-test";
  model.layers = 4;
  model.hidden = 64;
  model.heads = 4;
  model.kv_heads = 4;
  model.ffn_hidden = 256;
  model.vocab_size = 128;
  model.max_positions = 16;
  model.tie_embeddings = tied;
  return model;
}

// Parameters, by hand: a block has QKV 64 x 192, output 64 x 64, MLP 2 x 64 x 256 and two
// LayerNorms (gamma, beta); the table is 128 x 64; the final LayerNorm 2 x 64.
constexpr double kLayerParameters = 64.0 * 192.0 + 64.0 * 64.0 + 2.0 * 64.0 * 256.0 + 2.0 * 2.0 * 64.0;  // 49408
constexpr double kTableParameters = 128.0 * 64.0;
constexpr double kFinalNormParameters = 2.0 * 64.0;
constexpr int64_t kSeq = 16;
constexpr double kAlpha = 1e-5;
constexpr double kBeta = 3e-8;
constexpr double kGamma = 1e-9;

comm::CommProfile one_link(double alpha, double beta, double gamma) {
  comm::CommProfile links;
  links.source = "test";
  comm::GroupParameters group;
  group.ranks = 4;
  group.link = {alpha, beta, gamma};
  links.intra_node.push_back(group);
  return links;
}

CostInputs make_inputs(bool tied, std::shared_ptr<const ComputeProfile> profile = std::make_shared<LinearProfile>(),
                       const comm::CommProfile& links = one_link(kAlpha, kBeta, kGamma)) {
  CostInputs inputs;
  inputs.model = small_model(tied);
  inputs.cluster.name = "test";
  inputs.cluster.nodes = 1;
  inputs.cluster.devices_per_node = 4;
  inputs.cluster.device_memory_bytes = int64_t{1} << 30;
  inputs.cluster.peak_flops.fp32_flops_per_s = 1e12;
  inputs.training.global_batch = 2;
  inputs.training.seq = kSeq;
  inputs.training.precision = Precision::fp32;
  inputs.training.optimizer = Optimizer::adamw;
  inputs.links = links;
  inputs.compute = std::move(profile);
  return inputs;
}

// A one-stage plan over `ranks` with every layer and the vocabulary pieces as given.
ParallelPlan one_stage_plan(int ranks, int64_t batch, int micro_batches, const LayerStrategy& layer,
                            const VocabStrategy& vocab = {}) {
  ParallelPlan plan;
  plan.world_size = ranks;
  plan.global_batch = batch;
  plan.micro_batches = micro_batches;
  StagePlan stage;
  stage.first_layer = 0;
  stage.last_layer = 4;
  for (int r = 0; r < ranks; ++r) stage.ranks.push_back(r);
  plan.stages.push_back(stage);
  plan.layers.assign(4, layer);
  plan.embedding = vocab;
  plan.head = vocab;
  return plan;
}

// The all-reduce time `auto` would give on `ranks` ranks of one node: the least over the
// algorithms available there (not hierarchical, which needs two nodes; not shared memory, which
// this transport lacks; mpi is never chosen).
double cheapest_all_reduce_s(int ranks, double bytes, const comm::CommProfile& links) {
  const comm::GroupShape shape{ranks, ranks, 1};
  double best = std::numeric_limits<double>::infinity();
  for (comm::AllReduceAlgorithm algorithm :
       {comm::AllReduceAlgorithm::ring, comm::AllReduceAlgorithm::recursive_doubling,
        comm::AllReduceAlgorithm::rabenseifner, comm::AllReduceAlgorithm::tree})
    best = std::min(best, comm::all_reduce_time_s(algorithm, shape, size_t(bytes), links));
  return best;
}

void expect_relative(double actual, double expected, double tolerance = 1e-12) {
  EXPECT_NEAR(actual, expected, tolerance * std::abs(expected)) << "expected " << expected;
}

TEST(PlannerCostModel, SingleRankStepIsComputePlusOptimizerAndMemoryIsSixteenBytesPerParameter) {
  const LinearProfile p;
  for (bool tied : {true, false}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    const CostInputs inputs = make_inputs(tied);
    const Prediction prediction = evaluate_plan(inputs, one_stage_plan(1, 2, 1, LayerStrategy{}));
    // Two samples on one rank, one micro-batch.
    const double samples = 2.0;
    const double embedding_s = (p.embedding_forward_s + p.embedding_backward_s) * samples;
    const double layers_s = 4.0 * 3.0 * p.block_forward_s * samples;
    const double head_s = 3.0 * p.head_forward_s * samples;
    const double parameters =
        4.0 * kLayerParameters + kTableParameters + kFinalNormParameters + (tied ? 0.0 : kTableParameters);
    const double optimizer_s = p.optimizer_s_per_parameter * parameters;
    expect_relative(prediction.step_ms, 1e3 * (embedding_s + layers_s + head_s + optimizer_s));
    expect_relative(prediction.pipeline_ms, 1e3 * (embedding_s + layers_s + head_s));

    // fp32 AdamW: 4 (weights) + 4 (gradients) + 8 (two moments) bytes per parameter.
    ASSERT_EQ(prediction.stages.size(), 1u);
    const StageBreakdown& stage = prediction.stages[0];
    EXPECT_EQ(stage.parameter_bytes, int64_t(4.0 * parameters));
    EXPECT_EQ(stage.gradient_bytes, int64_t(4.0 * parameters));
    EXPECT_EQ(stage.optimizer_bytes, int64_t(8.0 * parameters));
    const double kept =
        samples * (p.embedding_kept_bytes + 4.0 * (p.block_split_bytes + p.block_replicated_bytes) + p.head_kept_bytes);
    EXPECT_EQ(stage.activation_bytes, int64_t(kept));
    // The largest transient: the head's logits (80,000) over a block's 50,000 and the embedding's 3,000.
    EXPECT_EQ(stage.transient_bytes, int64_t(p.head_transient_bytes * samples));
    EXPECT_EQ(prediction.peak_mem_bytes, int64_t(16.0 * parameters + kept + p.head_transient_bytes * samples));
    EXPECT_EQ(stage.in_flight, 1);
    EXPECT_TRUE(prediction.fits);
    expect_relative(prediction.samples_per_s, 2.0 / (prediction.step_ms / 1e3));
    expect_relative(prediction.tokens_per_s, prediction.samples_per_s * double(kSeq));
  }
}

TEST(PlannerCostModel, MicroBatchesRepeatTheComputeAndRecomputeReplaysTheForward) {
  const LinearProfile p;
  const CostInputs inputs = make_inputs(false);
  LayerStrategy recompute;
  recompute.recompute = true;
  // Four samples in two micro-batches of two: each piece runs twice on half the batch.
  const Prediction prediction = evaluate_plan(inputs, one_stage_plan(1, 4, 2, recompute));
  const double samples = 2.0;
  const double per_micro_batch = (p.embedding_forward_s + p.embedding_backward_s) * samples +
                                 4.0 * 4.0 * p.block_forward_s * samples + 3.0 * p.head_forward_s * samples;
  const double parameters = 4.0 * kLayerParameters + 2.0 * kTableParameters + kFinalNormParameters;
  expect_relative(prediction.step_ms, 1e3 * (2.0 * per_micro_batch + p.optimizer_s_per_parameter * parameters));
  // A recomputed block keeps its input only; one micro-batch in flight on one stage.
  const double kept = samples * (p.embedding_kept_bytes + 4.0 * p.input_bytes + p.head_kept_bytes);
  EXPECT_EQ(prediction.stages[0].activation_bytes, int64_t(kept));
  EXPECT_EQ(prediction.stages[0].in_flight, 1);
}

TEST(PlannerCostModel, DataParallelAllReduceHidesBehindTheBackwardExceptTheFirstPiece) {
  const LinearProfile p;
  const comm::CommProfile links = one_link(kAlpha, kBeta, kGamma);
  for (bool tied : {true, false}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    const CostInputs inputs = make_inputs(tied);
    // Four samples over two replicas: two samples each, one micro-batch.
    const Prediction prediction = evaluate_plan(inputs, one_stage_plan(2, 4, 1, LayerStrategy{}));
    const double samples = 2.0;
    // Pieces in order (embedding first), their backward and the gradient bytes they all-reduce.
    const double head_parameters = kFinalNormParameters + (tied ? 0.0 : kTableParameters);
    struct Piece {
      double forward_s, backward_s, gradient_bytes;
    };
    std::vector<Piece> pieces{
        {p.embedding_forward_s * samples, p.embedding_backward_s * samples, 4.0 * kTableParameters}};
    for (int l = 0; l < 4; ++l)
      pieces.push_back({p.block_forward_s * samples, 2.0 * p.block_forward_s * samples, 4.0 * kLayerParameters});
    pieces.push_back({p.head_forward_s * samples, 2.0 * p.head_forward_s * samples, 4.0 * head_parameters});
    double compute_s = 0.0, comm_s = 0.0, exposed_s = 0.0;
    int hidden_pieces = 0, exposed_pieces = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
      const double all_reduce = cheapest_all_reduce_s(2, pieces[i].gradient_bytes, links);
      compute_s += pieces[i].forward_s + pieces[i].backward_s;
      comm_s += all_reduce;
      // The first piece's reduction is launched last, after every backward: nothing hides it.
      const double exposed = i == 0 ? all_reduce : std::max(0.0, all_reduce - pieces[i].backward_s);
      exposed_s += exposed;
      if (i > 0) ++(exposed > 0.0 ? exposed_pieces : hidden_pieces);
    }
    // The instance exercises both sides of the max: the blocks' all-reduces (~6 ms) outlast
    // their backwards (4 ms); the head's (at most ~1 ms) hides behind its 1.2 ms.
    EXPECT_EQ(exposed_pieces, 4);
    EXPECT_EQ(hidden_pieces, 1);
    const double parameters = 4.0 * kLayerParameters + kTableParameters + head_parameters;
    const double optimizer_s = p.optimizer_s_per_parameter * parameters;  // sharding 0: the whole model
    expect_relative(prediction.step_ms, 1e3 * (compute_s + exposed_s + optimizer_s));
    expect_relative(prediction.stages[0].grad_comm_ms, 1e3 * comm_s);
    expect_relative(prediction.stages[0].grad_exposed_ms, 1e3 * exposed_s);
    expect_relative(prediction.stages[0].update_ms, 1e3 * optimizer_s);
  }
}

TEST(PlannerCostModel, DataParallelAllReduceIsTheCheapestAlgorithm) {
  // Ring (2 alpha + n beta + n gamma / 2) wins on a block's 197,632 gradient bytes; recursive
  // doubling (alpha + n (beta + gamma)) on the 512 bytes of the tied head's LayerNorm.
  const comm::CommProfile links = one_link(kAlpha, kBeta, kGamma);
  const double block_bytes = 4.0 * kLayerParameters;
  expect_relative(cheapest_all_reduce_s(2, block_bytes, links),
                  2.0 * kAlpha + block_bytes * kBeta + block_bytes * kGamma / 2.0);
  const double norm_bytes = 4.0 * kFinalNormParameters;
  expect_relative(cheapest_all_reduce_s(2, norm_bytes, links), kAlpha + norm_bytes * (kBeta + kGamma));
  const CostInputs inputs = make_inputs(true);
  const StageContext stage{{0, 1}, 4.0, 1};
  expect_relative(layer_cost(inputs, stage, LayerStrategy{}).grad_comm_s,
                  2.0 * kAlpha + block_bytes * kBeta + block_bytes * kGamma / 2.0);
  expect_relative(head_cost(inputs, stage, VocabStrategy{}, false).grad_comm_s, kAlpha + norm_bytes * (kBeta + kGamma));
}

TEST(PlannerCostModel, ZeroStagesDivideStateOverTheDataParallelGroup) {
  const LinearProfile p;
  const CostInputs inputs = make_inputs(false);
  const comm::CommProfile& links = inputs.links;
  const comm::GroupShape pair{2, 2, 1};
  const double parameter_bytes = 4.0 * kLayerParameters;  // fp32 weights; gradients the same
  const double moment_bytes = 8.0 * kLayerParameters;
  const StageContext stage{{0, 1}, 4.0, 2};  // two micro-batches of four samples
  const double backward_s = 2.0 * p.block_forward_s * 2.0;
  for (int sharding = 0; sharding <= 3; ++sharding) {
    SCOPED_TRACE("sharding " + std::to_string(sharding));
    LayerStrategy strategy;
    strategy.sharding = sharding;
    const LayerCost cost = layer_cost(inputs, stage, strategy);
    // ZeRO-1: optimizer state / d; ZeRO-2: + gradients / d; ZeRO-3: + parameters / d.
    EXPECT_EQ(cost.optimizer_bytes, int64_t(sharding >= 1 ? moment_bytes / 2.0 : moment_bytes));
    EXPECT_EQ(cost.gradient_bytes, int64_t(sharding >= 2 ? parameter_bytes / 2.0 : parameter_bytes));
    EXPECT_EQ(cost.parameter_bytes, int64_t(sharding >= 3 ? parameter_bytes / 2.0 : parameter_bytes));
    // Transient: ZeRO-3 holds the gathered layer and the prefetched next one (2 x its parameter
    // bytes); ZeRO-2 and 3 hold two full gradients waiting for their reduce-scatters (this
    // layer's and the one before) and the reduced half.
    const double gradient_bytes = parameter_bytes;
    const double transient = double(p.block_transient_bytes) + (sharding >= 3 ? 2.0 * parameter_bytes : 0.0) +
                             (sharding >= 2 ? 2.0 * gradient_bytes + gradient_bytes / 2.0 : 0.0);
    EXPECT_EQ(cost.transient_bytes, int64_t(transient));
    // Gradient traffic: one all-reduce per step, or one reduce-scatter per micro-batch.
    if (sharding >= 2) {
      const double one = comm::reduce_scatter_time_s(pair, size_t(parameter_bytes), links);
      expect_relative(cost.grad_comm_s, 2.0 * one);
      expect_relative(cost.grad_exposed_s, 2.0 * std::max(0.0, one - backward_s));
    } else {
      const double all_reduce = cheapest_all_reduce_s(2, parameter_bytes, links);
      expect_relative(cost.grad_comm_s, all_reduce);
      expect_relative(cost.grad_exposed_s, std::max(0.0, all_reduce - backward_s));
    }
    // The update runs on the shard; ZeRO-1 and 2 then all-gather the parameters.
    const double optimizer_s =
        p.optimizer_s_per_parameter * (sharding >= 1 ? kLayerParameters / 2.0 : kLayerParameters);
    const double gather_s = comm::all_gather_time_s(pair, size_t(parameter_bytes), links);
    expect_relative(cost.update_s, optimizer_s + (sharding == 1 || sharding == 2 ? gather_s : 0.0));
    // ZeRO-3's gathers hide behind the compute of the piece before (forward 2 ms here, the
    // gather ~3 ms): the rest is exposed in the forward and in the backward (4 ms: hidden).
    const double forward_s = p.block_forward_s * 2.0;
    const double exposed_forward = sharding == 3 ? std::max(0.0, gather_s - forward_s) : 0.0;
    const double exposed_backward = sharding == 3 ? std::max(0.0, gather_s - backward_s) : 0.0;
    expect_relative(cost.forward_s, forward_s + exposed_forward);
    expect_relative(cost.backward_s, backward_s + exposed_backward);
    if (sharding == 3) {
      EXPECT_GT(exposed_forward, 0.0);
      EXPECT_EQ(exposed_backward, 0.0);
    }
  }
  // The stage total over a whole plan is the sum of the pieces' state.
  LayerStrategy zero3;
  zero3.sharding = 3;
  const Prediction prediction = evaluate_plan(inputs, one_stage_plan(2, 8, 2, zero3, VocabStrategy{1, true, 3}));
  const double parameters = 4.0 * kLayerParameters + 2.0 * kTableParameters + kFinalNormParameters;
  EXPECT_EQ(
      prediction.stages[0].parameter_bytes + prediction.stages[0].gradient_bytes + prediction.stages[0].optimizer_bytes,
      int64_t(16.0 * parameters / 2.0));
}

TEST(PlannerCostModel, TensorParallelRunsTwoAllReducesEachWay) {
  const LinearProfile p;
  const CostInputs inputs = make_inputs(false);
  // Two ranks in one TP group: the whole micro-batch of 2 samples, half of each matmul.
  const StageContext stage{{0, 1}, 2.0, 1};
  const double samples = 2.0;
  const double bytes = samples * double(kSeq) * 64.0 * 4.0;  // 8,192 activation bytes
  const double all_reduce = cheapest_all_reduce_s(2, bytes, inputs.links);
  const double forward = p.block_forward_s * samples / 2.0;
  LayerStrategy tp2;
  tp2.tp = 2;
  LayerCost cost = layer_cost(inputs, stage, tp2);
  expect_relative(cost.forward_s, forward + 2.0 * all_reduce);
  expect_relative(cost.backward_s, 2.0 * forward + 2.0 * all_reduce);
  expect_relative(cost.tp_comm_s, 4.0 * all_reduce);
  // A TP group of the whole stage: no data-parallel peers, half the parameters each.
  EXPECT_EQ(cost.grad_comm_s, 0.0);
  EXPECT_EQ(cost.parameter_bytes, int64_t(4.0 * kLayerParameters / 2.0));
  EXPECT_EQ(cost.kept_bytes, int64_t(samples * (p.block_split_bytes / 2.0 + p.block_replicated_bytes)));

  // Recompute replays the forward and its two all-reduces before the backward.
  tp2.recompute = true;
  cost = layer_cost(inputs, stage, tp2);
  expect_relative(cost.forward_s, forward + 2.0 * all_reduce);
  expect_relative(cost.backward_s, 2.0 * forward + forward + 4.0 * all_reduce);
  expect_relative(cost.tp_comm_s, 6.0 * all_reduce);
  EXPECT_EQ(cost.kept_bytes, int64_t(samples * p.input_bytes));

  // Sequence parallel: an all-gather and a reduce-scatter in place of each all-reduce.
  tp2.recompute = false;
  tp2.sequence_parallel = true;
  cost = layer_cost(inputs, stage, tp2);
  const comm::GroupShape pair{2, 2, 1};
  const double gather_scatter = comm::all_gather_time_s(pair, size_t(bytes), inputs.links) +
                                comm::reduce_scatter_time_s(pair, size_t(bytes), inputs.links);
  expect_relative(cost.forward_s, forward + 2.0 * gather_scatter);
  expect_relative(cost.backward_s, 2.0 * forward + 2.0 * gather_scatter);
  EXPECT_EQ(cost.kept_bytes, int64_t(samples * (p.block_split_bytes + p.block_replicated_bytes) / 2.0));
}

TEST(PlannerCostModel, VocabularyParallelHeadSumsThreeFloatsPerTokenAndTheInputGradient) {
  const LinearProfile p;
  const CostInputs inputs = make_inputs(false);
  const StageContext stage{{0, 1}, 2.0, 1};
  const double tokens = 2.0 * double(kSeq);
  const LayerCost head = head_cost(inputs, stage, VocabStrategy{2, true, 0}, true);
  const double forward_comm = 3.0 * cheapest_all_reduce_s(2, tokens * 4.0, inputs.links);
  const double backward_comm = cheapest_all_reduce_s(2, tokens * 64.0 * 4.0, inputs.links);
  expect_relative(head.forward_s, p.head_forward_s * 2.0 / 2.0 + forward_comm);
  expect_relative(head.backward_s, 2.0 * p.head_forward_s * 2.0 / 2.0 + backward_comm);
  // Half the table (64 rows of 64) and the whole final norm on each rank.
  EXPECT_EQ(head.parameter_bytes, int64_t(4.0 * (64.0 * 64.0 + kFinalNormParameters)));
  const LayerCost embedding = embedding_cost(inputs, stage, VocabStrategy{2, true, 0});
  expect_relative(embedding.forward_s, p.embedding_forward_s + backward_comm);
  expect_relative(embedding.backward_s, p.embedding_backward_s);
}

// Pipeline: equal stages and free links, so the simulated makespan is the textbook one.
TEST(PlannerCostModel, PipelineMakespanAndMicroBatchesInFlight) {
  auto profile = std::make_shared<LinearProfile>();
  profile->embedding_forward_s = profile->embedding_backward_s = 0.0;
  profile->head_forward_s = 0.0;
  profile->optimizer_s_per_parameter = 0.0;
  const CostInputs inputs = make_inputs(false, profile, one_link(0.0, 0.0, 0.0));
  const int S = 2;
  for (PipelineSchedule schedule : {PipelineSchedule::one_f_one_b, PipelineSchedule::gpipe}) {
    for (int m : {1, 2, 3, 4, 8}) {
      SCOPED_TRACE(std::string(parallel::schedule_name(schedule)) + " m=" + std::to_string(m));
      ParallelPlan plan;
      plan.world_size = 2;
      plan.global_batch = 2 * m;  // two samples per micro-batch
      plan.micro_batches = m;
      plan.schedule = schedule;
      plan.stages = {StagePlan{0, 2, {0}}, StagePlan{2, 4, {1}}};
      plan.layers.assign(4, LayerStrategy{});
      const Prediction prediction = evaluate_plan(inputs, plan);
      // Each stage: two blocks on two samples.
      const double f = 2.0 * profile->block_forward_s * 2.0;
      const double b = 2.0 * f;
      expect_relative(prediction.pipeline_ms, 1e3 * double(m + S - 1) * (f + b));
      expect_relative(prediction.step_ms, 1e3 * double(m + S - 1) * (f + b));
      expect_relative(prediction.bubble_fraction, double(S - 1) / double(m + S - 1), 1e-9);
      ASSERT_EQ(prediction.stages.size(), 2u);
      for (int s = 0; s < S; ++s) {
        const StageBreakdown& stage = prediction.stages[size_t(s)];
        const int in_flight = schedule == PipelineSchedule::gpipe ? m : std::min(m, S - s);
        EXPECT_EQ(stage.in_flight, in_flight);
        expect_relative(stage.forward_ms, 1e3 * f);
        expect_relative(stage.backward_ms, 1e3 * b);
        // Kept activations (and the boundary buffer sent or received) per micro-batch in flight.
        const double boundary = 2.0 * double(kSeq) * 64.0 * 4.0;
        const double pieces = s == 0 ? 2.0 * profile->embedding_kept_bytes : 2.0 * profile->head_kept_bytes;
        const double kept = pieces + 2.0 * 2.0 * (profile->block_split_bytes + profile->block_replicated_bytes);
        EXPECT_EQ(stage.activation_bytes, int64_t((kept + boundary) * in_flight));
      }
    }
  }
}

TEST(PlannerCostModel, PipelineTiedTableIsCopiedToTheLastStage) {
  const CostInputs inputs = make_inputs(true);
  ParallelPlan plan;
  plan.world_size = 2;
  plan.global_batch = 2;
  plan.stages = {StagePlan{0, 2, {0}}, StagePlan{2, 4, {1}}};
  plan.layers.assign(4, LayerStrategy{});
  const Prediction prediction = evaluate_plan(inputs, plan);
  // The last stage holds a copy of the tied table next to its two blocks and the final norm.
  EXPECT_EQ(prediction.stages[1].parameter_bytes,
            int64_t(4.0 * (2.0 * kLayerParameters + kTableParameters + kFinalNormParameters)));
  EXPECT_EQ(prediction.stages[0].parameter_bytes, int64_t(4.0 * (2.0 * kLayerParameters + kTableParameters)));
}

TEST(PlannerCostModel, ModelFlopsMatchMegatronFormula) {
  // A GPT with ffn 4h and tied embeddings; Megatron-LM (Narayanan et al. 2021, eq. 3) counts
  // 96 B s L h^2 (1 + s / (6h) + V / (16 L h)) with every layer recomputed, and without
  // recompute 72 B s L h^2 (1 + s / (6h) + V / (12 L h)).
  ModelSpec model;
  model.layers = 24;
  model.hidden = 2048;
  model.heads = 16;
  model.kv_heads = 16;
  model.ffn_hidden = 4 * 2048;
  model.vocab_size = 51200;
  model.max_positions = 2048;
  model.tie_embeddings = true;
  const double B = 8.0, s = 2048.0, L = 24.0, h = 2048.0, V = 51200.0;
  const double recomputed = 96.0 * B * s * L * h * h * (1.0 + s / (6.0 * h) + V / (16.0 * L * h));
  const double plain = 72.0 * B * s * L * h * h * (1.0 + s / (6.0 * h) + V / (12.0 * L * h));
  expect_relative(step_model_flops(model, 8, 2048, 24.0), recomputed, 1e-9);
  expect_relative(step_model_flops(model, 8, 2048, 0.0), plain, 1e-9);
}

TEST(PlannerCostModel, LinksOfClusterAndGroupShape) {
  ClusterSpec cluster;
  cluster.name = "two-nodes";
  cluster.nodes = 2;
  cluster.devices_per_node = 4;
  cluster.memory_bandwidth_bytes_per_s = 2e12;
  cluster.intra_node = {1e11, 2e-6};
  cluster.inter_node = {4e10, 5e-6};
  const comm::CommProfile links = links_of_cluster(cluster);
  ASSERT_EQ(links.intra_node.size(), 1u);
  ASSERT_EQ(links.inter_node.size(), 1u);
  const comm::GroupParameters& intra = links.intra_node[0];
  const comm::GroupParameters& inter = links.inter_node[0];
  EXPECT_EQ(intra.ranks, 4);
  expect_relative(intra.link.alpha_s, 2e-6);
  expect_relative(intra.link.beta_s_per_byte, 1.0 / 1e11);
  // A node's four devices share its network bandwidth.
  EXPECT_EQ(inter.ranks, 2);
  expect_relative(inter.link.alpha_s, 5e-6);
  expect_relative(inter.link.beta_s_per_byte, 4.0 / 4e10);
  // A reduction reads two inputs and writes one; a copy reads one and writes one.
  expect_relative(intra.link.gamma_s_per_byte, 3.0 / 2e12);
  expect_relative(intra.copy_s_per_byte, 2.0 / 2e12);
  expect_relative(inter.link.gamma_s_per_byte, 3.0 / 2e12);

  cluster.nodes = 1;
  cluster.memory_bandwidth_bytes_per_s = 0.0;
  const comm::CommProfile one_node = links_of_cluster(cluster);
  EXPECT_TRUE(one_node.inter_node.empty());
  EXPECT_EQ(one_node.intra_node[0].link.gamma_s_per_byte, 0.0);

  comm::GroupShape shape = group_shape({0, 1, 4, 5}, 4);
  EXPECT_EQ(shape.ranks, 4);
  EXPECT_EQ(shape.nodes, 2);
  EXPECT_EQ(shape.ranks_per_node, 2);
  shape = group_shape({0, 4, 5, 6}, 4);
  EXPECT_EQ(shape.nodes, 2);
  EXPECT_EQ(shape.ranks_per_node, 3);
  shape = group_shape({1, 2, 3}, 4);
  EXPECT_EQ(shape.nodes, 1);
  EXPECT_EQ(shape.ranks_per_node, 3);
  EXPECT_TRUE(shape.single_node());
  shape = group_shape({0, 2, 4, 6, 8, 10}, 2);
  EXPECT_EQ(shape.nodes, 6);
  EXPECT_EQ(shape.ranks_per_node, 1);
}

}  // namespace
}  // namespace loom::planner
