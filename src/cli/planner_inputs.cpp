#include "cli/planner_inputs.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <thread>

#include "comm/comm_profile.h"
#include "core/error.h"
#include "planner/analytic_profile.h"
#include "planner/compute_profile_io.h"
#include "planner/measured_profile.h"

namespace loom::cli {

void add_planner_flags(CLI::App& command, PlannerFlags& flags) {
  command.add_option("--model", flags.model, "Preset, Loom model JSON or Hugging Face config.json")
      ->capture_default_str();
  command.add_option("--cluster", flags.cluster, "Preset (local, dgx-a100-80g, dgx-h100, dgx-h200) or cluster JSON")
      ->capture_default_str();
  command.add_option("--nodes", flags.nodes, "Nodes (overrides the cluster's)");
  command.add_option("--devices-per-node", flags.devices_per_node,
                     "Devices per node (overrides the cluster's; on local: the ranks)");
  command.add_option("--batch", flags.batch, "Global batch, or a range MIN:MAX to search (default: 8 per device)");
  command.add_option("--seq", flags.seq, "Sequence length (default: the model's, at most 2048)");
  command.add_option("--precision", flags.precision, "fp32, bf16 or fp16 (default: fp32 on local, bf16 elsewhere)");
  command.add_option("--optimizer", flags.optimizer, "adamw or sgd")->capture_default_str();
  command.add_option("--memory-gb", flags.memory_gb, "Memory per device in GB (default: the device's)");
  command.add_option("--profile", flags.profile,
                     "A `loom profile --model ...` file: measured per-layer compute and links of this machine");
  command.add_flag("--json", flags.json, "Print one JSON object instead of the tables");
}

planner::CostInputs make_cost_inputs(const PlannerFlags& flags) {
  if (flags.nodes < 0) throw_user_error("--nodes {} must be >= 1", flags.nodes);
  if (flags.devices_per_node < 0) throw_user_error("--devices-per-node {} must be >= 1", flags.devices_per_node);
  if (flags.memory_gb < 0.0) throw_user_error("--memory-gb {} must be > 0", flags.memory_gb);
  planner::CostInputs inputs;
  inputs.model = planner::load_model_spec(flags.model);
  inputs.cluster = planner::load_cluster(flags.cluster, flags.nodes, flags.devices_per_node);
  const bool local = inputs.cluster.name == "local";
  planner::TrainingSpec& training = inputs.training;
  if (flags.batch.empty()) {
    training.global_batch = 8 * int64_t(inputs.cluster.world_size());
  } else {
    planner::parse_batch(flags.batch, training);
  }
  training.seq = flags.seq > 0 ? flags.seq : std::min<int64_t>(inputs.model.max_positions, 2048);
  if (flags.seq < 0) throw_user_error("--seq {} must be >= 1", flags.seq);
  training.precision = planner::parse_precision(flags.precision.empty() ? (local ? "fp32" : "bf16") : flags.precision);
  training.optimizer = planner::parse_optimizer(flags.optimizer);
  planner::validate_training(training, inputs.model.max_positions);
  inputs.memory_budget_bytes = int64_t(flags.memory_gb * 1e9);
  if (!flags.profile.empty()) {
    planner::MeasuredCompute measured = planner::read_measured_compute(flags.profile);
    if (!inputs.model.runnable)
      throw_user_error("--profile: measured profiles are of models Loom runs; {}", inputs.model.not_runnable_reason);
    planner::check_measured_compute_matches(measured, inputs.model.to_model_config(), training.seq, flags.profile);
    // On this machine more ranks than cores share them: with a profile measured with at most
    // that many ranks at once, the cost model bounds the step by the cores' throughput.
    const int cores = int(std::thread::hardware_concurrency());
    if (local && cores > 0 && measured.concurrent_ranks <= cores && inputs.cluster.devices_per_node > cores)
      inputs.cores = cores / std::max(1, measured.threads);
    inputs.compute = std::make_shared<planner::MeasuredComputeProfile>(std::move(measured), flags.profile);
    inputs.links = comm::read_comm_profile(flags.profile);
  } else {
    inputs.compute = std::make_shared<planner::AnalyticComputeProfile>(inputs.model, training.seq, inputs.cluster,
                                                                       training.precision);
    inputs.links = local ? comm::active_comm_profile() : planner::links_of_cluster(inputs.cluster);
  }
  // This machine runs Loom's own collectives over MPI, with MPI_Allreduce and shared segments;
  // modelled clusters run the point-to-point algorithms (what NCCL runs: ring, trees).
  if (local) inputs.transport = {true, true};
  return inputs;
}

}  // namespace loom::cli
