// Every parallel strategy trains the same model as one process: for each plan, 10 steps of the
// `tiny` GPT (and `llama-tiny` for a subset) from the same seed on the same global batches, with
// the loss at every step and every parameter at the end compared with single-process training.
// A case runs when the job has the world size its plan needs (ctest runs this binary with 2, 3 and
// 4 ranks) and is skipped otherwise.
//
// Tolerance: the parallel runs add the same numbers in a different order (gradient sums over
// replicas and micro-batches, TP partial sums, reduce-scatter blocks), so gradients differ from one
// process's in the last bits. Losses and gradient norms are compared at 1e-4 relative (measured:
// about 1e-6). The norm matters: AdamW's update does not change when every gradient is scaled, so
// a wrong gradient scale would hide from the parameters; the norm (and the clipping it drives)
// shows it. Parameters: AdamW divides by the root of the second moment, so where a gradient is
// a small sum of cancelling terms (biases) a last-bit difference becomes a visible fraction of an
// update. Each parameter must agree to 1e-4 of its largest magnitude or to 10% of one step's
// largest update (lr), whichever is larger (measured: at most 0.8% of lr for data parallel, up to
// 6% with tensor parallel, whose row-parallel products sum in a different order); a wrong shard,
// a missing reduction or a skipped micro-batch moves parameters by whole updates.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "autograd/tape.h"
#include "comm/world.h"
#include "core/random.h"
#include "nn/adamw.h"
#include "nn/model_config.h"
#include "nn/transformer.h"
#include "parallel/plan.h"
#include "parallel/runtime.h"

namespace loom::parallel {
namespace {

constexpr int kSteps = 10;
constexpr int64_t kBatch = 8;
constexpr int64_t kSeq = 32;
constexpr float kLr = 1e-3f;
constexpr uint64_t kSeed = 7;
constexpr double kTolerance = 1e-4;
constexpr double kUpdateFraction = 0.1;

struct Batch {
  Tensor ids, targets;
};

Batch batch_for_step(int step, const nn::ModelConfig& model) {
  Rng rng(1000 + uint64_t(step));
  std::vector<int32_t> ids(size_t(kBatch * kSeq)), targets(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i] = int32_t(rng.uniform_int(uint64_t(model.vocab_size)));
    targets[i] = int32_t(rng.uniform_int(uint64_t(model.vocab_size)));
  }
  return {Tensor::from_ints(ids, {kBatch, kSeq}), Tensor::from_ints(targets, {kBatch, kSeq})};
}

struct Trajectory {
  std::vector<float> losses;
  std::vector<double> grad_norms;
  float eval_loss = 0.0f;  // after training, on the batch that would come next
  std::map<std::string, Tensor> parameters;
};

// One process: the reference, computed once per model.
const Trajectory& reference(const std::string& preset) {
  static std::map<std::string, Trajectory> cache;
  auto found = cache.find(preset);
  if (found != cache.end()) return found->second;
  const nn::ModelConfig config = nn::model_preset(preset);
  nn::TransformerModel model(config, kSeed);
  nn::AdamW optimizer(model.parameters(), nn::AdamWOptions{});
  Trajectory t;
  for (int step = 0; step < kSteps; ++step) {
    const Batch batch = batch_for_step(step, config);
    optimizer.zero_grad();
    autograd::Tape tape;
    autograd::Var loss;
    {
      autograd::TapeScope scope(tape);
      loss = model.loss(batch.ids, batch.targets);
    }
    tape.backward(loss);
    t.losses.push_back(loss.value().item());
    t.grad_norms.push_back(nn::clip_grad_norm(model.parameters(), 1.0));
    optimizer.step(kLr);
  }
  {
    autograd::NoGradScope no_grad;
    const Batch next = batch_for_step(kSteps, config);
    t.eval_loss = model.loss(next.ids, next.targets).value().item();
  }
  for (const autograd::Var& p : model.parameters()) t.parameters[p.name()] = p.value().clone();
  return cache.emplace(preset, std::move(t)).first->second;
}

struct Case {
  std::string name;
  std::string preset = "tiny";
  int world = 2;
  std::function<void(ParallelPlan&)> shape;  // edits a one-stage data-parallel plan
};

void run_case(const Case& c) {
  auto world = comm::world_communicator();
  if (world->size() != c.world) GTEST_SKIP() << "needs " << c.world << " ranks";
  const nn::ModelConfig config = nn::model_preset(c.preset);
  ParallelPlan plan = data_parallel_plan(config, c.world, kBatch);
  if (c.shape) c.shape(plan);
  validate_plan(plan, config, world->size());
  ParallelOptions options;
  options.seed = kSeed;
  options.grad_clip = 1.0f;
  ParallelTrainer trainer(world, plan, config, options);
  const Trajectory& expected = reference(c.preset);
  for (int step = 0; step < kSteps; ++step) {
    const Batch batch = batch_for_step(step, config);
    const ParallelStepResult result = trainer.step(batch.ids, batch.targets, kLr);
    const float want = expected.losses[size_t(step)];
    EXPECT_LE(std::abs(result.loss - want), kTolerance * std::abs(want))
        << c.name << " step " << step + 1 << ": loss " << result.loss << " vs " << want;
    const double norm = expected.grad_norms[size_t(step)];
    EXPECT_LE(std::abs(result.grad_norm - norm), kTolerance * norm)
        << c.name << " step " << step + 1 << ": gradient norm " << result.grad_norm << " vs " << norm;
  }
  const Batch next = batch_for_step(kSteps, config);
  const float eval_loss = trainer.evaluate(next.ids, next.targets);
  EXPECT_LE(std::abs(eval_loss - expected.eval_loss), kTolerance * std::abs(expected.eval_loss))
      << c.name << ": forward-only loss " << eval_loss << " vs " << expected.eval_loss;
  int compared = 0;
  for (const auto& [name, value] : trainer.full_parameters()) {
    const Tensor& want = expected.parameters.at(name);
    ASSERT_EQ(value.shape(), want.shape()) << name;
    double max_diff = 0.0, max_abs = 0.0;
    for (int64_t i = 0; i < value.numel(); ++i) {
      max_diff = std::max(max_diff, double(std::abs(value.f32()[i] - want.f32()[i])));
      max_abs = std::max(max_abs, double(std::abs(want.f32()[i])));
    }
    EXPECT_LE(max_diff, std::max(kTolerance * max_abs, kUpdateFraction * kLr))
        << c.name << ": parameter " << name << " (largest magnitude " << max_abs << ")";
    ++compared;
  }
  EXPECT_EQ(compared, int(expected.parameters.size()));
}

// Helpers that edit a plan.
void all_layers(ParallelPlan& plan, const std::function<void(LayerStrategy&)>& edit) {
  for (LayerStrategy& l : plan.layers) edit(l);
}
void pipeline(ParallelPlan& plan, int stages, int micro_batches, PipelineSchedule schedule) {
  const int layers = int(plan.layers.size());
  const int per_stage_ranks = plan.world_size / stages;
  plan.stages.clear();
  for (int s = 0; s < stages; ++s) {
    StagePlan stage;
    stage.first_layer = s * layers / stages;
    stage.last_layer = (s + 1) * layers / stages;
    for (int r = 0; r < per_stage_ranks; ++r) stage.ranks.push_back(s * per_stage_ranks + r);
    plan.stages.push_back(stage);
  }
  plan.micro_batches = micro_batches;
  plan.schedule = schedule;
}
void vocab(ParallelPlan& plan, int tp, int sharding = 0) {
  plan.embedding.tp = plan.head.tp = tp;
  plan.embedding.sharding = plan.head.sharding = sharding;
}

class Equivalence : public ::testing::TestWithParam<Case> {};

TEST_P(Equivalence, MatchesOneProcess) {
  run_case(GetParam());
}

std::vector<Case> cases() {
  const auto gpipe = PipelineSchedule::gpipe;
  const auto ofob = PipelineSchedule::one_f_one_b;
  std::vector<Case> list = {
      {"dp2", "tiny", 2, nullptr},
      {"dp4", "tiny", 4, nullptr},
      {"dp2_llama", "llama-tiny", 2, nullptr},
  };
  for (int world : {2, 4})
    for (int stage : {1, 2, 3})
      list.push_back(
          {"zero" + std::to_string(stage) + "_dp" + std::to_string(world), "tiny", world, [stage](ParallelPlan& p) {
             all_layers(p, [stage](LayerStrategy& l) { l.sharding = stage; });
             p.embedding.sharding = p.head.sharding = stage;
           }});
  list.push_back({"tp2", "tiny", 2, [](ParallelPlan& p) { all_layers(p, [](LayerStrategy& l) { l.tp = 2; }); }});
  list.push_back({"tp2_llama", "llama-tiny", 2, [](ParallelPlan& p) {
                    all_layers(p, [](LayerStrategy& l) { l.tp = 2; });
                    vocab(p, 2);
                  }});
  list.push_back({"tp4_vocab", "tiny", 4, [](ParallelPlan& p) {
                    all_layers(p, [](LayerStrategy& l) { l.tp = 4; });
                    vocab(p, 4);
                  }});
  list.push_back({"tp2_sequence_parallel", "tiny", 2, [](ParallelPlan& p) {
                    all_layers(p, [](LayerStrategy& l) {
                      l.tp = 2;
                      l.sequence_parallel = true;
                    });
                    vocab(p, 2);
                  }});
  list.push_back({"tp2_sequence_parallel_llama", "llama-tiny", 2, [](ParallelPlan& p) {
                    all_layers(p, [](LayerStrategy& l) {
                      l.tp = 2;
                      l.sequence_parallel = true;
                    });
                    vocab(p, 2);
                  }});
  for (auto schedule : {gpipe, ofob})
    for (int m : {4, 8}) {
      const std::string tag = std::string(schedule == gpipe ? "gpipe" : "1f1b") + "_m" + std::to_string(m);
      list.push_back({"pp2_" + tag, "tiny", 2, [=](ParallelPlan& p) { pipeline(p, 2, m, schedule); }});
      list.push_back({"pp4_" + tag, "tiny", 4, [=](ParallelPlan& p) { pipeline(p, 4, m, schedule); }});
    }
  list.push_back({"pp2_llama", "llama-tiny", 2, [=](ParallelPlan& p) { pipeline(p, 2, 4, ofob); }});
  list.push_back({"dp2_tp2", "tiny", 4, [](ParallelPlan& p) {
                    all_layers(p, [](LayerStrategy& l) { l.tp = 2; });
                    vocab(p, 2);
                  }});
  list.push_back({"pp2_tp2", "tiny", 4, [=](ParallelPlan& p) {
                    pipeline(p, 2, 4, ofob);
                    all_layers(p, [](LayerStrategy& l) { l.tp = 2; });
                    vocab(p, 2);
                  }});
  list.push_back({"pp2_dp2_zero3_recompute", "tiny", 4, [=](ParallelPlan& p) {
                    pipeline(p, 2, 2, ofob);
                    for (size_t l = 0; l < p.layers.size(); ++l) {
                      p.layers[l].sharding = 3;
                      p.layers[l].recompute = l % 2 == 0;
                    }
                    p.embedding.sharding = p.head.sharding = 3;
                  }});
  list.push_back({"heterogeneous_tp_1221", "tiny", 4, [](ParallelPlan& p) {
                    const int degrees[] = {1, 2, 2, 1, 4, 2};
                    for (size_t l = 0; l < p.layers.size(); ++l) {
                      p.layers[l].tp = degrees[l];
                      p.layers[l].tp_consecutive = l != 2;
                    }
                  }});
  list.push_back({"osdp_mixed_sharding", "tiny", 2, [](ParallelPlan& p) {
                    for (size_t l = 0; l < p.layers.size(); ++l) p.layers[l].sharding = l % 2 == 0 ? 3 : 0;
                    p.embedding.sharding = 2;
                  }});
  return list;
}

// Training state moves between plans: 5 steps under one plan, its whole state (parameters and
// AdamW moments, as a checkpoint holds them) loaded by a trainer with another plan, 5 more steps;
// the result is one process's 10 steps.
void continue_under_another_plan(int world_size, const std::function<void(ParallelPlan&)>& first,
                                 const std::function<void(ParallelPlan&)>& second) {
  auto world = comm::world_communicator();
  if (world->size() != world_size) GTEST_SKIP() << "needs " << world_size << " ranks";
  const nn::ModelConfig config = nn::model_preset("tiny");
  ParallelOptions options;
  options.seed = kSeed;
  const Trajectory& expected = reference("tiny");
  std::vector<std::pair<std::string, Tensor>> state;
  int64_t steps_taken = 0;
  for (int phase = 0; phase < 2; ++phase) {
    ParallelPlan plan = data_parallel_plan(config, world_size, kBatch);
    (phase == 0 ? first : second)(plan);
    validate_plan(plan, config, world->size());
    ParallelTrainer trainer(world, plan, config, options);
    if (phase == 1) trainer.load_full_state(state, steps_taken);
    for (int step = phase * kSteps / 2; step < (phase + 1) * kSteps / 2; ++step) {
      const Batch batch = batch_for_step(step, config);
      const float loss = trainer.step(batch.ids, batch.targets, kLr).loss;
      const float want = expected.losses[size_t(step)];
      EXPECT_LE(std::abs(loss - want), kTolerance * std::abs(want)) << "step " << step + 1;
    }
    state = trainer.full_state();
    steps_taken = trainer.optimizer_steps();
  }
  EXPECT_EQ(steps_taken, kSteps);
  ASSERT_EQ(state.size(), 3 * expected.parameters.size());
  for (const auto& [name, value] : state) {
    if (name.rfind("adam.", 0) == 0) continue;
    const Tensor& want = expected.parameters.at(name);
    double max_diff = 0.0, max_abs = 0.0;
    for (int64_t i = 0; i < value.numel(); ++i) {
      max_diff = std::max(max_diff, double(std::abs(value.f32()[i] - want.f32()[i])));
      max_abs = std::max(max_abs, double(std::abs(want.f32()[i])));
    }
    EXPECT_LE(max_diff, std::max(kTolerance * max_abs, kUpdateFraction * kLr)) << "parameter " << name;
  }
}

TEST(StateAcrossPlans, ZeroThreeThenPipeline) {
  continue_under_another_plan(
      2,
      [](ParallelPlan& p) {
        all_layers(p, [](LayerStrategy& l) { l.sharding = 3; });
        p.embedding.sharding = p.head.sharding = 3;
      },
      [](ParallelPlan& p) { pipeline(p, 2, 4, PipelineSchedule::one_f_one_b); });
}

TEST(StateAcrossPlans, TensorParallelThenPipelineZeroThreeRecompute) {
  continue_under_another_plan(
      4,
      [](ParallelPlan& p) {
        all_layers(p, [](LayerStrategy& l) { l.tp = 2; });
        vocab(p, 2);
      },
      [](ParallelPlan& p) {
        pipeline(p, 2, 2, PipelineSchedule::gpipe);
        all_layers(p, [](LayerStrategy& l) {
          l.sharding = 3;
          l.recompute = true;
        });
        p.embedding.sharding = 1;
        p.head.sharding = 2;
      });
}

INSTANTIATE_TEST_SUITE_P(Plans, Equivalence, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace loom::parallel
