// loom plan: the fastest plan for a model on a cluster (planner/search.h), its prediction, and
// with --explain the breakdown, the runner-ups and what limits it; --out writes the plan file
// `loom train --plan` runs. --from-galvatron converts Galvatron's emitted config instead.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/commands.h"
#include "cli/planner_inputs.h"
#include "core/error.h"
#include "planner/galvatron_import.h"
#include "planner/report.h"
#include "planner/search.h"

namespace loom::cli {

namespace {

struct PlanFlags {
  PlannerFlags inputs;
  std::string out;
  bool explain = false;
  std::string from_galvatron;
  int threads = 0;
  int max_tp = 0;
  int max_pipeline = 0;
  bool no_recompute = false;
};

// The plan must run: validated against the runtime's model config when the model is one Loom
// trains (the planner also plans models the runtime cannot run, e.g. with QKV biases).
void check_runnable(const parallel::ParallelPlan& plan, const planner::ModelSpec& model) {
  if (model.runnable) parallel::validate_plan(plan, model.to_model_config());
}

void print_prediction(const planner::Prediction& prediction, bool explain) {
  fmt::print("predicted: {}\n", planner::format_headline(prediction));
  if (explain) fmt::print("{}", planner::format_breakdown(prediction));
  fmt::print("{}\n", planner::format_limits(prediction));
}

void run_plan(const PlanFlags& flags) {
  const planner::CostInputs inputs = make_cost_inputs(flags.inputs);
  if (!flags.from_galvatron.empty()) {
    if (!inputs.model.runnable)
      throw_user_error("--from-galvatron needs a model Loom runs: {}", inputs.model.not_runnable_reason);
    parallel::ParallelPlan plan =
        planner::read_galvatron_plan(flags.from_galvatron, inputs.model.to_model_config(), inputs.cluster.world_size());
    const planner::Prediction prediction = planner::evaluate_plan(inputs, plan);
    plan.prediction = planner::plan_prediction(prediction);
    if (!flags.out.empty()) parallel::write_plan(plan, flags.out);
    if (flags.inputs.json) {
      fmt::print("{}\n", planner::prediction_json(prediction).dump());
      return;
    }
    fmt::print("loom plan: Galvatron config {} as a Loom plan: {}\n", flags.from_galvatron,
               planner::summarize_plan(plan));
    print_prediction(prediction, flags.explain);
    if (!flags.out.empty()) fmt::print("wrote {}\n", flags.out);
    return;
  }
  if (flags.threads < 0) throw_user_error("--threads {} must be >= 0 (0: all cores)", flags.threads);
  planner::SearchOptions options;
  options.threads = flags.threads;
  options.max_tp = flags.max_tp;
  options.max_pipeline = flags.max_pipeline;
  options.recompute = !flags.no_recompute;
  const planner::SearchResult result = planner::search_plan(inputs, options);
  if (!result.found && result.min_fitting_bytes == 0) {
    throw_user_error(
        "no plan of {} on {} x {} {} exists for --batch {}: no strategy gives every replica whole samples (use a "
        "batch divisible by the data-parallel degrees)",
        inputs.model.name, inputs.cluster.nodes, inputs.cluster.devices_per_node, inputs.cluster.device_name,
        inputs.training.batch_max > 0 ? fmt::format("{}:{}", inputs.training.global_batch, inputs.training.batch_max)
                                      : std::to_string(inputs.training.global_batch));
  }
  if (!result.found) {
    throw_user_error(
        "no plan of {} on {} x {} {} fits in {} per device; the least memory with which one fits is {} (use "
        "--memory-gb, "
        "more devices, a smaller --batch or --seq)",
        inputs.model.name, inputs.cluster.nodes, inputs.cluster.devices_per_node, inputs.cluster.device_name,
        planner::format_bytes(double(inputs.budget_bytes())), planner::format_bytes(double(result.min_fitting_bytes)));
  }
  parallel::ParallelPlan plan = result.best.plan;
  plan.prediction = planner::plan_prediction(result.best.prediction);
  check_runnable(plan, inputs.model);
  if (!flags.out.empty()) parallel::write_plan(plan, flags.out);
  if (flags.inputs.json) {
    nlohmann::json json = planner::prediction_json(result.best.prediction);
    json["search_ms"] = result.search_ms;
    json["plan"] = result.best.summary;
    json["global_batch"] = plan.global_batch;
    json["world_size"] = plan.world_size;
    json["configurations"] = result.configurations;
    json["pruned"] = result.pruned;
    fmt::print("{}\n", json.dump());
    return;
  }
  fmt::print("loom plan: {} ({} layers, {} parameters) on {} ({} x {} {}), batch {}, seq {}, {}\n", inputs.model.name,
             inputs.model.layers, planner::parameter_count(inputs.model), inputs.cluster.name, inputs.cluster.nodes,
             inputs.cluster.devices_per_node, inputs.cluster.device_name, plan.global_batch, inputs.training.seq,
             planner::precision_name(inputs.training.precision));
  fmt::print("compute: {}\n", inputs.compute->source());
  fmt::print("plan: {}\n", result.best.summary);
  print_prediction(result.best.prediction, flags.explain);
  if (flags.explain && !result.runner_ups.empty())
    fmt::print("runner-ups:\n{}", planner::format_runner_ups(result.best, result.runner_ups));
  fmt::print("search: {:.0f} ms, {} configurations ({} skipped by the bound), {} strategies costed\n", result.search_ms,
             result.configurations, result.pruned, result.strategies);
  if (!flags.out.empty())
    fmt::print("wrote {} (run it: mpirun -np {} loom train --plan {} --batch {} --seq {})\n", flags.out,
               plan.world_size, flags.out, plan.global_batch, inputs.training.seq);
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto flags = std::make_shared<PlanFlags>();
  CLI::App* command = app.add_subcommand("plan", "Find the fastest hybrid-parallel plan for a model on a cluster");
  add_planner_flags(*command, flags->inputs);
  command->add_option("--out", flags->out, "Write the plan file (with its prediction) here");
  command->add_flag("--explain", flags->explain, "Per-stage breakdown, runner-ups and what limits the plan");
  command->add_option("--from-galvatron", flags->from_galvatron, "Convert Galvatron's emitted config instead");
  command->add_option("--threads", flags->threads, "Search threads (0: all cores)")->capture_default_str();
  command->add_option("--max-tp", flags->max_tp, "Largest TP degree (default: devices per node)");
  command->add_option("--max-pipeline", flags->max_pipeline, "Largest pipeline degree (default: the layers)");
  command->add_flag("--no-recompute", flags->no_recompute, "Do not consider recomputation");
  command->callback([flags] { run_plan(*flags); });
}

}  // namespace loom::cli
