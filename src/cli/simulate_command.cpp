// loom simulate: the cost model's prediction of one plan on a cluster, from a plan file or a
// uniform strategy (--tp, --pp, --dp, micro-batches, recompute, sharding), with the breakdown.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <numeric>

#include "cli/commands.h"
#include "cli/planner_inputs.h"
#include "core/error.h"
#include "planner/report.h"
#include "planner/search.h"

namespace loom::cli {

namespace {

struct SimulateFlags {
  PlannerFlags inputs;
  std::string plan;
  int tp = 1;
  int pp = 1;
  int dp = 0;                // 0: the rest of the cluster
  int micro_batches = 0;     // 0: batch / (dp x micro_batch_size)
  int micro_batch_size = 1;  // samples per micro-batch per replica when --micro-batches is not given
  std::string recompute = "none";
  int sharding = 0;
  bool sequence_parallel = false;
  std::string schedule = "1f1b";
  int vocab_tp = 0;  // 0: --tp
};

parallel::ParallelPlan uniform_plan(const SimulateFlags& flags, const planner::CostInputs& inputs) {
  const int world = inputs.cluster.world_size();
  const int layers = int(inputs.model.layers);
  if (flags.pp > layers) throw_user_error("--pp {} is more than the model's {} layers", flags.pp, layers);
  parallel::ParallelPlan plan;
  plan.world_size = world;
  plan.global_batch = inputs.training.global_batch;
  const int dp = world / (flags.tp * flags.pp);
  plan.micro_batches = flags.micro_batches > 0
                           ? flags.micro_batches
                           : int(std::max<int64_t>(1, plan.global_batch / (int64_t(dp) * flags.micro_batch_size)));
  plan.schedule = parallel::parse_schedule(flags.schedule);
  const int n = world / flags.pp;
  int layer = 0;
  for (int s = 0; s < flags.pp; ++s) {
    parallel::StagePlan stage;
    stage.first_layer = layer;
    layer += layers / flags.pp + (s < layers % flags.pp ? 1 : 0);
    stage.last_layer = layer;
    stage.ranks.resize(size_t(n));
    std::iota(stage.ranks.begin(), stage.ranks.end(), s * n);
    plan.stages.push_back(stage);
  }
  parallel::LayerStrategy strategy;
  strategy.tp = flags.tp;
  strategy.sharding = flags.sharding;
  strategy.recompute = flags.recompute == "full";
  strategy.sequence_parallel = flags.sequence_parallel;
  plan.layers.assign(size_t(layers), strategy);
  const int vocab_tp = flags.vocab_tp > 0 ? flags.vocab_tp : flags.tp;
  plan.embedding = {vocab_tp, true, std::min(flags.sharding, 3)};
  plan.head = plan.embedding;
  return plan;
}

void run_simulate(const SimulateFlags& flags) {
  if (flags.tp < 1) throw_user_error("--tp {} must be >= 1", flags.tp);
  if (flags.pp < 1) throw_user_error("--pp {} must be >= 1", flags.pp);
  if (flags.dp < 0) throw_user_error("--dp {} must be >= 1", flags.dp);
  if (flags.micro_batches < 0) throw_user_error("--micro-batches {} must be >= 1", flags.micro_batches);
  if (flags.micro_batch_size < 1) throw_user_error("--micro-batch-size {} must be >= 1", flags.micro_batch_size);
  if (flags.sharding < 0 || flags.sharding > 3) throw_user_error("--sharding {} is not 0-3", flags.sharding);
  if (flags.recompute != "none" && flags.recompute != "full")
    throw_user_error("--recompute '{}' is not known (valid: none, full)", flags.recompute);
  PlannerFlags input_flags = flags.inputs;
  parallel::ParallelPlan plan;
  if (!flags.plan.empty()) {
    plan = parallel::read_plan(flags.plan);
    if (input_flags.batch.empty()) input_flags.batch = std::to_string(plan.global_batch);
  } else if (flags.dp > 0 && input_flags.nodes == 0) {
    // The cluster grows to the strategy: tp x pp x dp devices.
    const planner::ClusterSpec base = planner::load_cluster(input_flags.cluster, 0, input_flags.devices_per_node);
    const int world = flags.tp * flags.pp * flags.dp;
    if (world % base.devices_per_node != 0 && world > base.devices_per_node)
      throw_user_error("--tp x --pp x --dp = {} devices is not a whole number of {}-device nodes", world,
                       base.devices_per_node);
    if (world < base.devices_per_node) input_flags.devices_per_node = world;
    input_flags.nodes = std::max(1, world / base.devices_per_node);
  }
  const planner::CostInputs inputs = make_cost_inputs(input_flags);
  if (flags.plan.empty()) {
    const int world = inputs.cluster.world_size();
    if (world % (flags.tp * flags.pp) != 0)
      throw_user_error("--tp {} x --pp {} does not divide the cluster's {} devices", flags.tp, flags.pp, world);
    if (flags.dp > 0 && flags.tp * flags.pp * flags.dp != world)
      throw_user_error("--tp {} x --pp {} x --dp {} = {} devices, the cluster has {} (valid: --dp {})", flags.tp,
                       flags.pp, flags.dp, flags.tp * flags.pp * flags.dp, world, world / (flags.tp * flags.pp));
    plan = uniform_plan(flags, inputs);
  }
  if (inputs.model.runnable) {
    parallel::validate_plan(plan, inputs.model.to_model_config(), inputs.cluster.world_size());
  } else if (plan.world_size != inputs.cluster.world_size()) {
    throw_user_error("plan needs {} devices (world_size), the cluster has {}", plan.world_size,
                     inputs.cluster.world_size());
  }
  if (plan.global_batch != inputs.training.global_batch)
    throw_user_error("--batch {} differs from the plan's global_batch {}", inputs.training.global_batch,
                     plan.global_batch);
  const planner::Prediction prediction = planner::evaluate_plan(inputs, plan);
  if (flags.inputs.json) {
    nlohmann::json json = planner::prediction_json(prediction);
    json["plan"] = planner::summarize_plan(plan);
    json["world_size"] = plan.world_size;
    json["global_batch"] = plan.global_batch;
    fmt::print("{}\n", json.dump());
    return;
  }
  fmt::print("loom simulate: {} on {} ({} x {} {}), batch {}, seq {}, {}\n", inputs.model.name, inputs.cluster.name,
             inputs.cluster.nodes, inputs.cluster.devices_per_node, inputs.cluster.device_name, plan.global_batch,
             inputs.training.seq, planner::precision_name(inputs.training.precision));
  fmt::print("compute: {}\n", inputs.compute->source());
  fmt::print("plan: {}\n", planner::summarize_plan(plan));
  fmt::print("predicted: {}\n", planner::format_headline(prediction));
  fmt::print("{}", planner::format_breakdown(prediction));
  fmt::print("{}\n", planner::format_limits(prediction));
}

}  // namespace

void add_simulate_command(CLI::App& app) {
  auto flags = std::make_shared<SimulateFlags>();
  CLI::App* command = app.add_subcommand("simulate", "Predict the step time and memory of a plan on a cluster");
  add_planner_flags(*command, flags->inputs);
  command->add_option("--plan", flags->plan, "A plan file (instead of --tp/--pp/--dp)");
  command->add_option("--tp", flags->tp, "Tensor-parallel degree of every layer")->capture_default_str();
  command->add_option("--pp", flags->pp, "Pipeline stages")->capture_default_str();
  command->add_option("--dp", flags->dp, "Data-parallel degree (default: the rest of the cluster)");
  command->add_option("--micro-batches", flags->micro_batches, "Micro-batches per step (default: batch / dp)");
  command
      ->add_option("--micro-batch-size", flags->micro_batch_size,
                   "Samples per micro-batch per replica when --micro-batches is not given")
      ->capture_default_str();
  command->add_option("--recompute", flags->recompute, "none or full")->capture_default_str();
  command->add_option("--sharding", flags->sharding, "Sharding stage of every layer, 0-3")->capture_default_str();
  command->add_flag("--sequence-parallel", flags->sequence_parallel, "Sequence parallelism with TP");
  command->add_option("--schedule", flags->schedule, "1f1b or gpipe")->capture_default_str();
  command->add_option("--vocab-tp", flags->vocab_tp, "Vocabulary-TP degree of the embedding and head (default: --tp)");
  command->callback([flags] { run_simulate(*flags); });
}

}  // namespace loom::cli
