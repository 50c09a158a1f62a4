// loom collective gen | sim | compare: AllReduce plans for a topology. `gen` writes a generator's
// plan (validated) to a file; `sim` runs a plan, or a generator's, through the flow-level
// simulator with a per-step breakdown; `compare` simulates every algorithm over message sizes
// on one or more topologies and prints GenTree beside the best of the others.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/topology_argument.h"
#include "core/error.h"
#include "topo/generators.h"
#include "topo/gentree.h"
#include "topo/network.h"
#include "topo/plan_validator.h"
#include "topo/simulator.h"

namespace loom::cli {

namespace {

struct GenFlags {
  std::string topology;
  std::string algorithm = "gentree";
  std::string bytes = "1M";
  int element_bytes = 4;
  std::string out;
  bool explain = false;
};

struct SimFlags {
  std::string topology;
  std::string plan;
  std::string algorithm;
  std::string bytes = "1M";
  bool all_steps = false;
  bool json = false;
};

struct CompareFlags {
  std::vector<std::string> topologies;
  std::vector<std::string> algorithms;
  std::string min_bytes = "4K";
  std::string max_bytes = "1G";
  int factor = 4;
  bool json = false;
};

// The baselines GenTree is compared with, and every algorithm `compare --algorithm all` runs.
const std::vector<std::string> kBaselines = {"ring", "rabenseifner", "hierarchical", "double_binary_tree"};

double us(double seconds) {
  return seconds * 1e6;
}

topo::CollectivePlan generated_plan(const topo::Network& network, const std::string& algorithm, int64_t bytes,
                                    int element_bytes, topo::GenTreeChoice* choice = nullptr) {
  topo::CollectivePlan plan = algorithm == "gentree" ? topo::generate_gentree(network, bytes, element_bytes, choice)
                                                     : topo::generate_plan(algorithm, network, bytes, element_bytes);
  topo::validate_plan(plan, fmt::format("[{} plan]", algorithm));
  return plan;
}

void print_gentree_choice(const topo::GenTreeChoice& choice) {
  fmt::print("gentree: {} strategies priced; finalists (estimate, simulated):\n", choice.strategies_priced);
  for (const topo::GenTreeStrategy& strategy : choice.finalists)
    fmt::print("  {:<48} {:>12.2f} us {:>12.2f} us{}\n", topo::describe_gentree_strategy(strategy),
               us(strategy.estimated_s), us(strategy.simulated_s),
               strategy.digits == choice.chosen.digits ? "  <- chosen" : "");
  fmt::print(
      "  digits read: mode(fan-in)@stride; split = direct reduce-scatter + all-gather, whole = direct\n"
      "  all-reduce of the range, ring = ring reduce-scatter + all-gather\n");
}

void run_gen(const GenFlags& flags) {
  const topo::Network network(topology_from_argument(flags.topology));
  const int64_t bytes = parse_byte_count(flags.bytes, "--bytes");
  if (flags.element_bytes < 1 || bytes % flags.element_bytes != 0)
    throw_user_error("--element-bytes {} must be >= 1 and divide --bytes {}", flags.element_bytes, bytes);
  topo::GenTreeChoice choice;
  const topo::CollectivePlan plan = generated_plan(network, flags.algorithm, bytes, flags.element_bytes, &choice);
  const topo::SimulationResult simulated = topo::simulate_plan(network, plan);
  fmt::print("{} on {}: {} ranks, {} chunks, {} steps, {} operations; valid all-reduce\n", plan.algorithm,
             network.topology().name, plan.ranks, plan.chunk_bytes.size(), plan.steps(), plan.op_count());
  fmt::print("simulated: {:.2f} us for {} ({:.2f} GB/s bus bandwidth)\n", us(simulated.time_s),
             format_byte_count(bytes),
             simulated.time_s > 0 ? 2.0 * (plan.ranks - 1) / plan.ranks * double(bytes) / simulated.time_s / 1e9 : 0.0);
  if (flags.explain && flags.algorithm == "gentree") print_gentree_choice(choice);
  if (!flags.out.empty()) {
    topo::write_plan(plan, flags.out);
    fmt::print("wrote {}\n", flags.out);
  }
}

void print_steps(const topo::SimulationResult& result, bool all_steps) {
  fmt::print("{:>6} {:>12} {:>12} {:>12} {:>14} {:>14} {:>14} {:>7} {:>10}\n", "step", "start_us", "end_us", "span_us",
             "wire_bytes", "reduced_bytes", "memory_bytes", "incast", "host_us");
  const size_t shown = 20;
  for (size_t i = 0; i < result.steps.size(); ++i) {
    if (!all_steps && result.steps.size() > 2 * shown && i == shown) {
      fmt::print("{:>6} ({} steps; --all-steps shows them)\n", "...", result.steps.size() - 2 * shown);
      i = result.steps.size() - shown;
    }
    const topo::SimulatedStep& step = result.steps[i];
    fmt::print("{:>6} {:>12.2f} {:>12.2f} {:>12.2f} {:>14} {:>14} {:>14} {:>7} {:>10.2f}\n", step.step,
               us(step.start_s), us(step.end_s), us(step.end_s - step.start_s), step.wire_bytes, step.reduced_bytes,
               step.memory_bytes, step.max_incast, us(step.host_s));
  }
}

void run_sim(const SimFlags& flags) {
  const topo::Network network(topology_from_argument(flags.topology));
  if (flags.plan.empty() == flags.algorithm.empty())
    throw_user_error("collective sim needs exactly one of --plan FILE or --algorithm NAME");
  topo::CollectivePlan plan =
      flags.plan.empty() ? generated_plan(network, flags.algorithm, parse_byte_count(flags.bytes, "--bytes"), 4)
                         : topo::load_plan(flags.plan);
  if (plan.ranks != network.ranks())
    throw_user_error("--plan {} has {} ranks but --topology {} has {} (valid: a plan for {} ranks)", flags.plan,
                     plan.ranks, network.topology().name, network.ranks(), network.ranks());
  const auto start = std::chrono::steady_clock::now();
  const topo::SimulationResult result = topo::simulate_plan(network, plan);
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (flags.json) {
    nlohmann::json steps = nlohmann::json::array();
    for (const topo::SimulatedStep& step : result.steps)
      steps.push_back({{"step", step.step},
                       {"start_us", us(step.start_s)},
                       {"end_us", us(step.end_s)},
                       {"wire_bytes", step.wire_bytes},
                       {"reduced_bytes", step.reduced_bytes},
                       {"memory_bytes", step.memory_bytes},
                       {"max_incast", step.max_incast},
                       {"host_us", us(step.host_s)}});
    fmt::print("{}\n", nlohmann::json{{"topology", network.topology().name},
                                      {"algorithm", plan.algorithm},
                                      {"ranks", plan.ranks},
                                      {"bytes", plan.bytes()},
                                      {"time_us", us(result.time_s)},
                                      {"flows", result.flows},
                                      {"steps", steps}}
                           .dump());
    return;
  }
  fmt::print("{} on {}: {} ranks, {}, {} steps, {} flows\n", plan.algorithm, network.topology().name, plan.ranks,
             format_byte_count(plan.bytes()), plan.steps(), result.flows);
  print_steps(result, flags.all_steps);
  fmt::print("simulated time: {:.2f} us ({} events, simulated in {:.2f} s)\n", us(result.time_s), result.events,
             wall_s);
}

struct CompareRow {
  int64_t bytes = 0;
  std::vector<double> time_s;  // per algorithm
  std::string gentree_strategy;
};

void run_compare(const CompareFlags& flags) {
  const int64_t min_bytes = parse_byte_count(flags.min_bytes, "--min-bytes");
  const int64_t max_bytes = parse_byte_count(flags.max_bytes, "--max-bytes");
  if (min_bytes < 4 || max_bytes < min_bytes)
    throw_user_error("--min-bytes {} / --max-bytes {} must satisfy 4 <= min <= max", min_bytes, max_bytes);
  if (flags.factor < 2) throw_user_error("--factor {} must be >= 2", flags.factor);
  std::vector<std::string> algorithms = flags.algorithms;
  if (algorithms.empty()) {
    algorithms = kBaselines;
    algorithms.push_back("gentree");
  }
  const auto gentree = std::find(algorithms.begin(), algorithms.end(), "gentree");
  const int gentree_index = gentree == algorithms.end() ? -1 : int(gentree - algorithms.begin());
  for (const std::string& argument : flags.topologies) {
    const topo::Network network(topology_from_argument(argument));
    const auto start = std::chrono::steady_clock::now();
    std::vector<CompareRow> rows;
    for (int64_t bytes = min_bytes; bytes <= max_bytes; bytes *= flags.factor) {
      CompareRow row;
      row.bytes = bytes / 4 * 4;
      for (const std::string& algorithm : algorithms) {
        topo::GenTreeChoice choice;
        const topo::CollectivePlan plan = generated_plan(network, algorithm, row.bytes, 4, &choice);
        row.time_s.push_back(topo::simulate_plan(network, plan).time_s);
        if (algorithm == "gentree") row.gentree_strategy = topo::describe_gentree_strategy(choice.chosen);
        if (flags.json)
          fmt::print("{}\n", nlohmann::json{{"topology", network.topology().name},
                                            {"algorithm", algorithm},
                                            {"bytes", row.bytes},
                                            {"time_us", us(row.time_s.back())}}
                                 .dump());
      }
      rows.push_back(row);
    }
    if (flags.json) continue;
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("{}: {} ranks (simulated time, us; {:.1f} s to compute)\n", network.topology().name, network.ranks(),
               wall_s);
    std::string header = fmt::format("{:>9}", "bytes");
    for (const std::string& algorithm : algorithms) header += fmt::format(" {:>13}", algorithm.substr(0, 13));
    if (gentree_index >= 0) header += fmt::format(" {:>9}  {}", "speedup", "gentree strategy");
    fmt::print("{}\n", header);
    for (const CompareRow& row : rows) {
      std::string line = fmt::format("{:>9}", format_byte_count(row.bytes));
      for (double t : row.time_s) line += fmt::format(" {:>13.2f}", us(t));
      if (gentree_index >= 0) {
        double best_other = 0.0;
        for (size_t a = 0; a < row.time_s.size(); ++a)
          if (int(a) != gentree_index && (best_other == 0.0 || row.time_s[a] < best_other)) best_other = row.time_s[a];
        line += best_other > 0 ? fmt::format(" {:>8.2f}x  {}", best_other / row.time_s[size_t(gentree_index)],
                                             row.gentree_strategy)
                               : fmt::format(" {:>9}  {}", "-", row.gentree_strategy);
      }
      fmt::print("{}\n", line);
    }
    if (gentree_index >= 0)
      fmt::print("speedup: the best other algorithm's time over gentree's (> 1: gentree is faster)\n");
    fmt::print("\n");
  }
}

}  // namespace

void add_collective_plan_commands(CLI::App& collective) {
  auto gen_flags = std::make_shared<GenFlags>();
  CLI::App* gen = collective.add_subcommand("gen", "Generate an AllReduce plan for a topology (validated)");
  gen->add_option("--topology", gen_flags->topology,
                  "Topology file or shape (single-switch:8, leaf-spine:4x8:os2, fat-tree:16, dgx:4)")
      ->required();
  gen->add_option("--algorithm", gen_flags->algorithm,
                  "Generator: " + fmt::format("{}", fmt::join(topo::plan_algorithm_names(), ", ")))
      ->capture_default_str();
  gen->add_option("--bytes", gen_flags->bytes, "Message size (4096, 64K, 16M, 1G)")->capture_default_str();
  gen->add_option("--element-bytes", gen_flags->element_bytes, "Bytes per element")->capture_default_str();
  gen->add_option("--out", gen_flags->out, "Write the plan here (JSON)");
  gen->add_flag("--explain", gen_flags->explain, "For gentree: the strategies it weighed");
  gen->callback([gen_flags] { run_gen(*gen_flags); });

  auto sim_flags = std::make_shared<SimFlags>();
  CLI::App* sim = collective.add_subcommand("sim", "Simulate a plan on a topology, step by step");
  sim->add_option("--topology", sim_flags->topology, "Topology file or shape")->required();
  sim->add_option("--plan", sim_flags->plan, "Plan file (from collective gen)");
  sim->add_option("--algorithm", sim_flags->algorithm, "Or generate this algorithm's plan");
  sim->add_option("--bytes", sim_flags->bytes, "Message size with --algorithm")->capture_default_str();
  sim->add_flag("--all-steps", sim_flags->all_steps, "Print every step (default: the first and last 20)");
  sim->add_flag("--json", sim_flags->json, "One JSON object instead of the table");
  sim->callback([sim_flags] { run_sim(*sim_flags); });

  auto compare_flags = std::make_shared<CompareFlags>();
  CLI::App* compare =
      collective.add_subcommand("compare", "Simulate every algorithm over message sizes: GenTree beside the others");
  compare->add_option("--topology", compare_flags->topologies, "Topology files or shapes (repeatable)")->required();
  compare->add_option(
      "--algorithm", compare_flags->algorithms,
      "Algorithms (repeatable; default: ring, rabenseifner, hierarchical, double_binary_tree, gentree)");
  compare->add_option("--min-bytes", compare_flags->min_bytes, "Smallest message")->capture_default_str();
  compare->add_option("--max-bytes", compare_flags->max_bytes, "Largest message")->capture_default_str();
  compare->add_option("--factor", compare_flags->factor, "Size step")->capture_default_str();
  compare->add_flag("--json", compare_flags->json, "JSON lines: topology, algorithm, bytes, time_us");
  compare->callback([compare_flags] { run_compare(*compare_flags); });
}

}  // namespace loom::cli
