// The plan search against exhaustive enumeration. With one pipeline stage every plan of the
// search's space (per-layer TP degree and layout, sharding, recompute, sequence parallelism; the
// micro-batch count; the embedding's and the head's vocabulary strategies) is costed with
// evaluate_plan, and at every memory budget where the fastest fitting plan changes the search
// must find that plan's step time. With pipelines it must beat every uniform plan on an even
// split. Also: the same plan with one thread or two, no plan when nothing fits, and plans the
// runtime's validator accepts. A closed-form compute profile keeps every number cheap.
#include "planner/search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "planner/model_spec.h"

namespace loom::planner {
namespace {

using parallel::LayerStrategy;
using parallel::ParallelPlan;
using parallel::PipelineSchedule;
using parallel::StagePlan;
using parallel::VocabStrategy;

// Every piece's time and memory a line in its samples (see cost_model_test.cpp): a block's
// forward a * samples / t, backward twice that; it keeps a split and a replicated part (sequence
// parallelism splits both) or, recomputed, its input; the head keeps and briefly holds logits.
class LinearProfile : public ComputeProfile {
 public:
  explicit LinearProfile(double input_bytes_per_sample) : input_bytes_(input_bytes_per_sample) {}

  PieceCost block(double samples, int tp, bool sequence_parallel) const override {
    PieceCost cost;
    cost.forward_s = 1e-3 * samples / tp;
    cost.backward_s = 2.0 * cost.forward_s;
    cost.kept_bytes = int64_t(samples * (100000.0 / tp + (sequence_parallel ? 20000.0 / tp : 20000.0)));
    cost.recompute_kept_bytes = int64_t(samples * input_bytes_ / (sequence_parallel ? tp : 1));
    cost.transient_bytes = 50000;
    return cost;
  }
  PieceCost embedding(double samples, int vocab_tp) const override {
    PieceCost cost;
    cost.forward_s = 1e-4 * samples / vocab_tp;
    cost.backward_s = 2e-4 * samples / vocab_tp;
    cost.kept_bytes = int64_t(1000.0 * samples);
    cost.transient_bytes = 3000;
    return cost;
  }
  PieceCost head(double samples, int vocab_tp) const override {
    PieceCost cost;
    cost.forward_s = 3e-4 * samples / vocab_tp;
    cost.backward_s = 2.0 * cost.forward_s;
    cost.kept_bytes = int64_t(8000.0 * samples / vocab_tp);
    cost.transient_bytes = int64_t(40000.0 * samples / vocab_tp);
    return cost;
  }
  double optimizer_s(double parameters) const override { return 1e-8 * parameters; }
  std::string source() const override { return "linear test profile"; }

 private:
  double input_bytes_;
};

// hidden 64, 4 heads, ffn 256, vocabulary 128.
ModelSpec small_model(int layers, bool tied) {
  ModelSpec model;
  model.name = "search-test";
  model.layers = layers;
  model.hidden = 64;
  model.heads = 4;
  model.kv_heads = 4;
  model.ffn_hidden = 256;
  model.vocab_size = 128;
  model.max_positions = 16;
  model.tie_embeddings = tied;
  return model;
}

// One node of `devices`; links of 10 us latency and `beta` seconds per byte.
CostInputs make_inputs(const ModelSpec& model, int devices, int64_t batch, int64_t seq, double beta = 3e-9) {
  CostInputs inputs;
  inputs.model = model;
  inputs.cluster.name = "test";
  inputs.cluster.nodes = 1;
  inputs.cluster.devices_per_node = devices;
  inputs.cluster.device_memory_bytes = int64_t{1} << 40;
  inputs.cluster.peak_flops.fp32_flops_per_s = 1e12;
  inputs.training.global_batch = batch;
  inputs.training.seq = seq;
  inputs.training.precision = Precision::fp32;
  inputs.training.optimizer = Optimizer::adamw;
  comm::GroupParameters group;
  group.ranks = devices;
  group.link = {1e-5, beta, 1e-10};
  inputs.links.source = "test";
  inputs.links.intra_node.push_back(group);
  inputs.compute = std::make_shared<LinearProfile>(double(seq * model.hidden * 4));
  return inputs;
}

SearchOptions one_thread(int max_pipeline) {
  SearchOptions options;
  options.threads = 1;
  options.max_pipeline = max_pipeline;
  return options;
}

// ---- the space, as build_shape in search.cpp spells it ----------------------------------------

std::vector<int> divisors_up_to(int n, int limit) {
  std::vector<int> list;
  for (int d = 1; d <= std::min(n, limit); ++d)
    if (n % d == 0) list.push_back(d);
  return list;
}

int max_tp_of(const CostInputs& inputs, const SearchOptions& options) {
  return options.max_tp > 0 ? options.max_tp : inputs.cluster.devices_per_node;
}

// Per-layer strategies on a stage of n ranks computing micro-batches of `micro_batch` samples.
std::vector<LayerStrategy> layer_space(const CostInputs& inputs, const SearchOptions& options, int n,
                                       int64_t micro_batch) {
  const ModelSpec& model = inputs.model;
  std::vector<LayerStrategy> list;
  for (int t : divisors_up_to(n, max_tp_of(inputs, options))) {
    if (model.heads % t != 0 || model.kv_heads % t != 0 || model.ffn_hidden % t != 0) continue;
    if (micro_batch % (n / t) != 0) continue;  // every replica computes whole samples
    for (bool consecutive : {true, false}) {
      if (!consecutive && (t == 1 || t == n)) continue;  // the same groups either way
      for (bool sp : {false, true}) {
        if (sp && (t == 1 || !options.sequence_parallel || inputs.training.seq % t != 0)) continue;
        for (int sharding = 0; sharding <= (n / t > 1 ? options.max_sharding : 0); ++sharding) {
          for (bool recompute : {false, true}) {
            if (recompute && !options.recompute) continue;
            list.push_back(LayerStrategy{t, consecutive, sharding, recompute, sp});
          }
        }
      }
    }
  }
  return list;
}

std::vector<VocabStrategy> vocab_space(const CostInputs& inputs, const SearchOptions& options, int n,
                                       int64_t micro_batch) {
  std::vector<VocabStrategy> list;
  for (int v : divisors_up_to(n, max_tp_of(inputs, options))) {
    if (micro_batch % (n / v) != 0) continue;
    for (bool consecutive : {true, false}) {
      if (!consecutive && (v == 1 || v == n)) continue;
      for (int sharding = 0; sharding <= (n / v > 1 ? options.max_sharding : 0); ++sharding)
        list.push_back(VocabStrategy{v, consecutive, sharding});
    }
  }
  return list;
}

// A tied table needs one vocabulary layout on the embedding and the head.
bool vocab_pair_allowed(bool tied, const VocabStrategy& embedding, const VocabStrategy& head) {
  if (!tied) return true;
  return embedding.tp == head.tp && (embedding.tp == 1 || embedding.tp_consecutive == head.tp_consecutive);
}

std::vector<int> micro_batch_counts(int64_t batch) {
  std::vector<int> list;
  for (int64_t m = 1; m <= batch; ++m)
    if (batch % m == 0) list.push_back(int(m));
  return list;
}

// One costed plan of the enumeration.
struct Outcome {
  double step_ms = 0.0;
  int64_t peak_bytes = 0;
  ParallelPlan plan;
};

// Every one-stage plan of the space, each costed with evaluate_plan; only the plans on the
// (peak memory, step time) staircase are kept: sorted by peak, each strictly faster than all
// plans with no more memory.
std::vector<Outcome> one_stage_staircase(const CostInputs& inputs, const SearchOptions& options, int64_t& plans) {
  const int n = inputs.cluster.world_size();
  const int L = int(inputs.model.layers);
  const int64_t batch = inputs.training.global_batch;
  std::vector<Outcome> all;
  plans = 0;
  for (int m : micro_batch_counts(batch)) {
    const int64_t micro_batch = batch / m;
    const std::vector<LayerStrategy> layers = layer_space(inputs, options, n, micro_batch);
    const std::vector<VocabStrategy> vocab = vocab_space(inputs, options, n, micro_batch);
    if (layers.empty() || vocab.empty()) continue;
    ParallelPlan plan;
    plan.world_size = n;
    plan.global_batch = batch;
    plan.micro_batches = m;
    StagePlan stage{0, L, {}};
    for (int r = 0; r < n; ++r) stage.ranks.push_back(r);
    plan.stages = {stage};
    plan.layers.assign(size_t(L), layers.front());
    std::vector<size_t> pick(size_t(L), 0);  // an odometer over the layers' strategies
    for (bool more = true; more;) {
      for (int l = 0; l < L; ++l) plan.layers[size_t(l)] = layers[pick[size_t(l)]];
      for (const VocabStrategy& embedding : vocab) {
        for (const VocabStrategy& head : vocab) {
          if (!vocab_pair_allowed(inputs.model.tie_embeddings, embedding, head)) continue;
          plan.embedding = embedding;
          plan.head = head;
          const Prediction prediction = evaluate_plan(inputs, plan);
          ++plans;
          all.push_back({prediction.step_ms, prediction.peak_mem_bytes, {}});
          all.back().plan = plan;
        }
      }
      more = false;
      for (int l = L - 1; l >= 0 && !more; --l) {
        if (++pick[size_t(l)] < layers.size()) {
          more = true;
        } else {
          pick[size_t(l)] = 0;
        }
      }
    }
  }
  std::stable_sort(all.begin(), all.end(), [](const Outcome& a, const Outcome& b) {
    return a.peak_bytes != b.peak_bytes ? a.peak_bytes < b.peak_bytes : a.step_ms < b.step_ms;
  });
  std::vector<Outcome> staircase;
  for (Outcome& outcome : all)
    if (staircase.empty() || outcome.step_ms < staircase.back().step_ms) staircase.push_back(std::move(outcome));
  return staircase;
}

bool mixes_strategies(const ParallelPlan& plan) {
  return std::any_of(plan.layers.begin(), plan.layers.end(),
                     [&](const LayerStrategy& layer) { return !(layer == plan.layers.front()); });
}

// The search against the enumeration at every budget where the fastest fitting plan changes,
// and one byte below it (where the previous plan is the fastest that fits).
void expect_search_matches_enumeration(CostInputs inputs, const SearchOptions& options) {
  int64_t plans = 0;
  const std::vector<Outcome> staircase = one_stage_staircase(inputs, options, plans);
  ASSERT_GE(staircase.size(), 3u) << "memory never trades against time in this instance";
  int mixed = 0;
  for (size_t i = 0; i < staircase.size(); ++i) {
    for (int64_t below : {int64_t{0}, int64_t{1}}) {
      inputs.memory_budget_bytes = staircase[i].peak_bytes - below;
      const SearchResult result = search_plan(inputs, options);
      if (below == 1 && i == 0) {
        EXPECT_FALSE(result.found) << "no plan of the space fits " << inputs.memory_budget_bytes << " bytes";
        EXPECT_GT(result.min_fitting_bytes, inputs.memory_budget_bytes);
        continue;
      }
      const Outcome& best = below == 1 ? staircase[i - 1] : staircase[i];
      SCOPED_TRACE("budget " + std::to_string(inputs.memory_budget_bytes) + " bytes; fastest fitting plan " +
                   summarize_plan(best.plan) + " (" + std::to_string(best.step_ms) + " ms)");
      ASSERT_TRUE(result.found);
      EXPECT_TRUE(result.best.prediction.fits);
      EXPECT_LE(result.best.prediction.peak_mem_bytes, inputs.memory_budget_bytes);
      EXPECT_NEAR(result.best.prediction.step_ms, best.step_ms, 1e-9 * best.step_ms)
          << "search found " << result.best.summary;
      // The search's plan is itself a plan of the space, costed the same.
      EXPECT_EQ(result.best.plan.stages.size(), 1u);
      const Prediction again = evaluate_plan(inputs, result.best.plan);
      EXPECT_EQ(again.step_ms, result.best.prediction.step_ms);
      if (below == 0 && mixes_strategies(best.plan)) ++mixed;
    }
  }
  // Memory binds somewhere and the optimum there mixes per-layer strategies.
  EXPECT_GT(mixed, 0) << "no budget of this instance makes the best plan mix strategies";
  ::testing::Test::RecordProperty("plans", std::to_string(plans));
  ::testing::Test::RecordProperty("budgets", std::to_string(staircase.size()));
}

TEST(PlanSearch, OneStageMatchesEnumerationOnTwoRanksUntied) {
  // 2 ranks, 3 layers, batch 4: TP 1 or 2, sharding 0-3, recompute, sequence parallel, every
  // micro-batch count, every vocabulary strategy on each side.
  expect_search_matches_enumeration(make_inputs(small_model(3, false), 2, 4, 16), one_thread(1));
}

TEST(PlanSearch, OneStageMatchesEnumerationOnTwoRanksTied) {
  expect_search_matches_enumeration(make_inputs(small_model(3, true), 2, 4, 16), one_thread(1));
}

TEST(PlanSearch, OneStageMatchesEnumerationOnFourRanksTied) {
  // 4 ranks: TP 1, 2 (consecutive or strided) or 4; sharding up to 1, no sequence parallelism
  // (to keep the enumeration small).
  SearchOptions options = one_thread(1);
  options.max_sharding = 1;
  options.sequence_parallel = false;
  expect_search_matches_enumeration(make_inputs(small_model(3, true), 4, 4, 16), options);
}

TEST(PlanSearch, OneStageMatchesEnumerationOnFourRanksUntiedReplicated) {
  // 4 ranks, untied: every TP layout with sequence parallelism and recompute, no sharding.
  SearchOptions options = one_thread(1);
  options.max_sharding = 0;
  expect_search_matches_enumeration(make_inputs(small_model(3, false), 4, 4, 16), options);
}

// Every uniform 1F1B plan (one strategy on every layer, layers split evenly over the stages, any
// micro-batch count and vocabulary strategy), costed with evaluate_plan. Only 1F1B: the search
// builds no GPipe plans (with slow links the simulator finds GPipe faster: its transfers overlap
// the compute, while each 1F1B step waits for a round trip).
std::vector<Outcome> uniform_plans(const CostInputs& inputs, const SearchOptions& options) {
  const int world = inputs.cluster.world_size();
  const int L = int(inputs.model.layers);
  const int64_t batch = inputs.training.global_batch;
  std::vector<Outcome> outcomes;
  for (int P = 1; P <= std::min(world, L); ++P) {
    if (world % P != 0 || L % P != 0) continue;
    if (options.max_pipeline > 0 && P > options.max_pipeline) continue;
    const int n = world / P;
    for (int m : micro_batch_counts(batch)) {
      const int64_t micro_batch = batch / m;
      const std::vector<VocabStrategy> vocab = vocab_space(inputs, options, n, micro_batch);
      for (const LayerStrategy& layer : layer_space(inputs, options, n, micro_batch)) {
        for (const VocabStrategy& embedding : vocab) {
          for (const VocabStrategy& head : vocab) {
            if (!vocab_pair_allowed(inputs.model.tie_embeddings, embedding, head)) continue;
            ParallelPlan plan;
            plan.world_size = world;
            plan.global_batch = batch;
            plan.micro_batches = m;
            plan.schedule = PipelineSchedule::one_f_one_b;
            for (int s = 0; s < P; ++s) {
              StagePlan stage{s * L / P, (s + 1) * L / P, {}};
              for (int r = 0; r < n; ++r) stage.ranks.push_back(s * n + r);
              plan.stages.push_back(stage);
            }
            plan.layers.assign(size_t(L), layer);
            plan.embedding = embedding;
            plan.head = head;
            const Prediction prediction = evaluate_plan(inputs, plan);
            outcomes.push_back({prediction.step_ms, prediction.peak_mem_bytes, plan});
          }
        }
      }
    }
  }
  return outcomes;
}

TEST(PlanSearch, PipelinePlansBeatEveryUniformEvenSplit) {
  int pipelines = 0;
  for (bool tied : {false, true}) {
    for (double beta : {3e-9, 3e-7}) {  // fast links favour data parallelism, slow ones pipelines
      CostInputs inputs = make_inputs(small_model(4, tied), 4, 8, 16, beta);
      const SearchOptions options = one_thread(0);
      const std::vector<Outcome> uniform = uniform_plans(inputs, options);
      // Budgets from generous down to the leanest uniform plan's peak.
      std::vector<int64_t> peaks;
      for (const Outcome& outcome : uniform) peaks.push_back(outcome.peak_bytes);
      std::sort(peaks.begin(), peaks.end());
      for (double quantile : {1.0, 0.5, 0.2, 0.05, 0.0}) {
        inputs.memory_budget_bytes = peaks[size_t(quantile * double(peaks.size() - 1))];
        SCOPED_TRACE(std::string(tied ? "tied" : "untied") + ", beta " + std::to_string(beta) + ", budget " +
                     std::to_string(inputs.memory_budget_bytes));
        const SearchResult result = search_plan(inputs, options);
        ASSERT_TRUE(result.found);
        EXPECT_LE(result.best.prediction.peak_mem_bytes, inputs.memory_budget_bytes);
        if (result.best.plan.stages.size() > 1) ++pipelines;
        for (const Outcome& outcome : uniform) {
          if (outcome.peak_bytes > inputs.memory_budget_bytes) continue;
          EXPECT_LE(result.best.prediction.step_ms, outcome.step_ms * (1.0 + 1e-9))
              << "search: " << result.best.summary << "; uniform " << summarize_plan(outcome.plan);
        }
      }
    }
  }
  EXPECT_GT(pipelines, 0) << "no instance made a pipeline the best plan";
}

TEST(PlanSearch, SameResultWithOneThreadOrTwo) {
  CostInputs inputs = make_inputs(small_model(4, true), 4, 8, 16, 3e-8);
  inputs.training.batch_max = 32;  // batches 8, 16 and 32: more configurations, more pruning
  for (int64_t budget : {int64_t{0}, int64_t{6000000}, int64_t{4000000}, int64_t{3000000}}) {
    inputs.memory_budget_bytes = budget;
    SearchOptions options = one_thread(0);
    const SearchResult one = search_plan(inputs, options);
    options.threads = 2;
    const SearchResult two = search_plan(inputs, options);
    ASSERT_EQ(one.found, two.found);
    if (!one.found) continue;
    EXPECT_EQ(one.best.plan, two.best.plan);
    EXPECT_EQ(one.best.prediction.step_ms, two.best.prediction.step_ms);
    EXPECT_EQ(one.best.summary, two.best.summary);
    ASSERT_EQ(one.runner_ups.size(), two.runner_ups.size());
    for (size_t i = 0; i < one.runner_ups.size(); ++i) EXPECT_EQ(one.runner_ups[i].plan, two.runner_ups[i].plan);
    EXPECT_EQ(one.configurations, two.configurations);
    EXPECT_EQ(one.pruned, two.pruned);
  }
}

TEST(PlanSearch, NothingFitsATinyBudget) {
  CostInputs inputs = make_inputs(small_model(4, false), 4, 8, 16);
  inputs.memory_budget_bytes = 100000;  // less than one layer's fp32 weights (197,632 bytes)
  const SearchResult result = search_plan(inputs, one_thread(0));
  EXPECT_FALSE(result.found);
  EXPECT_GT(result.min_fitting_bytes, inputs.memory_budget_bytes);
}

// The least budget with which search_plan finds a plan, by bisection.
int64_t least_fitting_budget(CostInputs inputs, const SearchOptions& options) {
  int64_t lo = 0, hi = int64_t{1} << 40;  // lo: nothing fits; hi: something does
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    inputs.memory_budget_bytes = mid;
    (search_plan(inputs, options).found ? hi : lo) = mid;
  }
  return hi;
}

// search.h: "When no plan fits: the smallest per-device memory (to the byte) with which the search
// finds a plan". The search computes it directly (a stage's leanest plan repeats one strategy,
// then the least largest stage over partitions); the reference is the bisection above, one full
// search per probe. Tied and untied, one stage or a pipeline whose stages hold their layers
// unevenly, one batch or a range.
TEST(PlanSearch, MinFittingBytesIsTheLeastBudgetThatFits) {
  for (bool tied : {true, false}) {
    for (int layers : {2, 5}) {
      for (int devices : {2, 8}) {
        for (const auto& [batch, batch_max] : {std::pair<int64_t, int64_t>{1, 0}, {4, 0}, {2, 8}}) {
          CostInputs inputs = make_inputs(small_model(layers, tied), devices, batch, 16);
          inputs.training.batch_max = batch_max;
          const int64_t least = least_fitting_budget(inputs, one_thread(0));
          inputs.memory_budget_bytes = least - 1;
          const SearchResult result = search_plan(inputs, one_thread(0));
          SCOPED_TRACE(std::string(tied ? "tied, " : "untied, ") + std::to_string(layers) + " layers, " +
                       std::to_string(devices) + " devices, batch " + std::to_string(batch) + ":" +
                       std::to_string(batch_max));
          ASSERT_FALSE(result.found);
          EXPECT_EQ(result.min_fitting_bytes, least);
        }
      }
    }
  }
}

TEST(PlanSearch, PlansValidateAgainstTheRuntimeModel) {
  const ModelSpec spec = load_model_spec("tiny");
  ASSERT_TRUE(spec.runnable);
  const nn::ModelConfig config = spec.to_model_config();
  int found = 0, pipelines = 0;
  for (double beta : {3e-9, 3e-7}) {
    CostInputs inputs = make_inputs(spec, 4, 8, 64, beta);
    for (int64_t budget : {int64_t{0}, int64_t{60000000}, int64_t{40000000}, int64_t{25000000}}) {
      inputs.memory_budget_bytes = budget;
      const SearchResult result = search_plan(inputs, one_thread(0));
      if (!result.found) continue;
      ++found;
      SCOPED_TRACE(result.best.summary);
      EXPECT_NO_THROW(parallel::validate_plan(result.best.plan, config, 4));
      for (const Candidate& candidate : result.runner_ups) {
        EXPECT_NO_THROW(parallel::validate_plan(candidate.plan, config, 4)) << candidate.summary;
        if (candidate.plan.stages.size() > 1) ++pipelines;
      }
      if (result.best.plan.stages.size() > 1) ++pipelines;
    }
  }
  EXPECT_GT(found, 0);
  EXPECT_GT(pipelines, 0) << "no pipeline plan among the best and the runner-ups";
}

}  // namespace
}  // namespace loom::planner
