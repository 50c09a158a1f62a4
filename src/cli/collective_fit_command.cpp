// loom collective fit: GenModel and alpha-beta-gamma fitted to measured plan executions. Reads
// the JSON lines of `loom collective bench --json`; a row of algorithm "plan:NAME" is a plan run,
// whose features come from regenerating that plan for the row's ranks on one switch (the flat
// model's features do not depend on the links). Every third message size is held out, so the
// errors reported on it are predictions, not fits.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "cli/commands.h"
#include "comm/group_topology.h"
#include "core/error.h"
#include "topo/generators.h"
#include "topo/genmodel_fit.h"
#include "topo/network.h"
#include "topo/topology.h"

namespace loom::cli {

namespace {

struct CollectiveFitFlags {
  std::string measurements;
  bool json = false;
  bool verbose = false;
};

// The topology `loom collective bench` generated its plans for: the group's topology (one host
// per node, every host on one switch) with the rates of the active comm profile. GenTree's plan
// depends on the rates, so the same profile (LOOM_COMM_PROFILE) must be active here as there.
topo::Topology bench_topology(int ranks, int ranks_per_node) {
  std::vector<int> node_of_rank(static_cast<size_t>(ranks));
  for (int r = 0; r < ranks; ++r) node_of_rank[size_t(r)] = r / ranks_per_node;
  return comm::group_topology(node_of_rank, comm::active_comm_profile()).topology;
}

struct ReadRows {
  std::vector<topo::FitMeasurement> rows;
  std::map<std::string, int> skipped;  // why -> rows
};

ReadRows read_measurements(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw_user_error("[{}] cannot be opened (--measurements: the JSON lines of loom collective bench --json)", path);
  ReadRows read;
  std::map<std::tuple<std::string, int, int, int64_t>, topo::PlanFeatures> features_cache;
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!row.is_object() || !row.contains("algorithm") || !row["algorithm"].is_string() || !row.contains("ranks") ||
        !row["ranks"].is_number_integer() || !row.contains("bytes") || !row["bytes"].is_number_integer() ||
        !row.contains("time_us") || !row["time_us"].is_number())
      continue;  // not a measurement line
    const std::string algorithm = row["algorithm"].get<std::string>();
    if (!algorithm.starts_with("plan:")) {
      ++read.skipped[fmt::format("algorithm {} is not a plan execution (plan:NAME)", algorithm)];
      continue;
    }
    const std::string name = algorithm.substr(5);
    const int ranks = row["ranks"].get<int>();
    const int64_t bytes = row["bytes"].get<int64_t>();
    const int per_node = row.contains("ranks_per_node") && row["ranks_per_node"].is_number_integer()
                             ? std::max(row["ranks_per_node"].get<int>(), 1)
                             : 1;
    if (ranks < 1 || bytes < 0 || ranks % per_node != 0) {
      ++read.skipped[fmt::format("ranks={} ranks_per_node={} bytes={} is not a valid shape", ranks, per_node, bytes)];
      continue;
    }
    topo::FitMeasurement measurement;
    measurement.algorithm = algorithm;
    measurement.ranks = ranks;
    measurement.bytes = bytes;
    measurement.time_s = row["time_us"].get<double>() * 1e-6;
    const auto key = std::make_tuple(name, ranks, per_node, bytes);
    auto it = features_cache.find(key);
    if (it == features_cache.end()) {
      const topo::Network network(bench_topology(ranks, per_node));
      it = features_cache.emplace(key, topo::plan_features(topo::generate_plan(name, network, bytes))).first;
    }
    measurement.features = it->second;
    read.rows.push_back(std::move(measurement));
  }
  return read;
}

nlohmann::json model_json(const topo::ModelFit& fit, bool genmodel) {
  nlohmann::json out = {{"alpha_s", fit.params.alpha_s},
                        {"beta_s_per_byte", fit.params.beta_s_per_byte},
                        {"gamma_s_per_byte", fit.params.gamma_s_per_byte},
                        {"training_mean_abs_relative_error", fit.training.mean_abs_relative_error},
                        {"training_max_abs_relative_error", fit.training.max_abs_relative_error},
                        {"held_out_mean_abs_relative_error", fit.held_out.mean_abs_relative_error},
                        {"held_out_max_abs_relative_error", fit.held_out.max_abs_relative_error}};
  if (genmodel) {
    out["delta_s_per_byte"] = fit.params.delta_s_per_byte;
    out["epsilon_s_per_byte"] = fit.params.epsilon_s_per_byte;
    out["incast_threshold_flows"] = fit.params.incast_threshold;
  }
  return out;
}

void print_predictions(const char* set, const std::vector<topo::FitMeasurement>& rows,
                       const topo::GenModelFitResult& fit, bool held_out) {
  const topo::FitEvaluation& gen = held_out ? fit.genmodel.held_out : fit.genmodel.training;
  const topo::FitEvaluation& abg = held_out ? fit.alpha_beta_gamma.held_out : fit.alpha_beta_gamma.training;
  for (size_t i = 0; i < rows.size(); ++i)
    fmt::print("{:>9} {:>24} {:>6} {:>12} {:>12.2f} {:>12.2f} {:>+8.2f}% {:>12.2f} {:>+8.2f}%\n", set,
               rows[i].algorithm, rows[i].ranks, rows[i].bytes, rows[i].time_s * 1e6, gen.predicted_s[i] * 1e6,
               gen.relative_error[i] * 100, abg.predicted_s[i] * 1e6, abg.relative_error[i] * 100);
}

void run_collective_fit(const CollectiveFitFlags& flags) {
  if (flags.measurements.empty())
    throw_user_error("--measurements is missing (valid: a file of JSON lines from loom collective bench --json)");
  const ReadRows read = read_measurements(flags.measurements);
  for (const auto& [why, count] : read.skipped)
    fmt::print(flags.json ? stderr : stdout, "note: skipped {} row{}: {}\n", count, count == 1 ? "" : "s", why);
  if (read.rows.empty())
    throw_user_error("[{}] has no usable rows (valid: JSON lines with algorithm \"plan:NAME\", ranks, bytes, time_us)",
                     flags.measurements);
  const topo::FitSplit split = topo::hold_out_every_third_size(read.rows);
  const topo::GenModelFitResult fit = topo::fit_models(split.training, split.held_out);

  if (flags.json) {
    nlohmann::json out = {{"measurements", read.rows.size()},
                          {"training_rows", split.training.size()},
                          {"held_out_rows", split.held_out.size()},
                          {"genmodel", model_json(fit.genmodel, true)},
                          {"alpha_beta_gamma", model_json(fit.alpha_beta_gamma, false)}};
    if (flags.verbose) {
      nlohmann::json rows = nlohmann::json::array();
      for (bool held_out : {false, true}) {
        const auto& set = held_out ? split.held_out : split.training;
        const auto& gen = held_out ? fit.genmodel.held_out : fit.genmodel.training;
        const auto& abg = held_out ? fit.alpha_beta_gamma.held_out : fit.alpha_beta_gamma.training;
        for (size_t i = 0; i < set.size(); ++i)
          rows.push_back({{"set", held_out ? "held_out" : "training"},
                          {"algorithm", set[i].algorithm},
                          {"ranks", set[i].ranks},
                          {"bytes", set[i].bytes},
                          {"time_us", set[i].time_s * 1e6},
                          {"genmodel_us", gen.predicted_s[i] * 1e6},
                          {"alpha_beta_gamma_us", abg.predicted_s[i] * 1e6}});
      }
      out["rows"] = rows;
    }
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("{} measurements: {} to fit, {} held out (every third message size)\n", read.rows.size(),
             split.training.size(), split.held_out.size());
  const topo::GenModelParams& gen = fit.genmodel.params;
  const topo::GenModelParams& abg = fit.alpha_beta_gamma.params;
  fmt::print("{:>22} {:>14} {:>18}\n", "parameter", "GenModel", "alpha-beta-gamma");
  fmt::print("{:>22} {:>14.4g} {:>18.4g}\n", "alpha (us)", gen.alpha_s * 1e6, abg.alpha_s * 1e6);
  fmt::print("{:>22} {:>14.4g} {:>18.4g}\n", "beta (ns/byte)", gen.beta_s_per_byte * 1e9, abg.beta_s_per_byte * 1e9);
  fmt::print("{:>22} {:>14.4g} {:>18.4g}\n", "gamma (ns/byte)", gen.gamma_s_per_byte * 1e9, abg.gamma_s_per_byte * 1e9);
  fmt::print("{:>22} {:>14.4g} {:>18}\n", "delta (ns/byte)", gen.delta_s_per_byte * 1e9, "-");
  fmt::print("{:>22} {:>14.4g} {:>18}\n", "epsilon (ns/byte)", gen.epsilon_s_per_byte * 1e9, "-");
  fmt::print("{:>22} {:>14g} {:>18}\n", "w_t (flows)", gen.incast_threshold, "-");
  const auto percent = [&](double value, bool any) { return any ? fmt::format("{:.2f}%", value * 100) : "-"; };
  const bool any_held = !split.held_out.empty();
  fmt::print("{:>22} {:>14} {:>18}\n", "fit error mean", percent(fit.genmodel.training.mean_abs_relative_error, true),
             percent(fit.alpha_beta_gamma.training.mean_abs_relative_error, true));
  fmt::print("{:>22} {:>14} {:>18}\n", "held-out error mean",
             percent(fit.genmodel.held_out.mean_abs_relative_error, any_held),
             percent(fit.alpha_beta_gamma.held_out.mean_abs_relative_error, any_held));
  fmt::print("{:>22} {:>14} {:>18}\n", "held-out error max",
             percent(fit.genmodel.held_out.max_abs_relative_error, any_held),
             percent(fit.alpha_beta_gamma.held_out.max_abs_relative_error, any_held));
  if (flags.verbose) {
    fmt::print("\n{:>9} {:>24} {:>6} {:>12} {:>12} {:>12} {:>9} {:>12} {:>9}\n", "set", "algorithm", "ranks", "bytes",
               "measured us", "GenModel us", "error", "a-b-g us", "error");
    print_predictions("fit", split.training, fit, false);
    print_predictions("held-out", split.held_out, fit, true);
  }
}

}  // namespace

void add_collective_fit_command(CLI::App& collective) {
  auto flags = std::make_shared<CollectiveFitFlags>();
  CLI::App* fit = collective.add_subcommand(
      "fit", "Fit GenModel and alpha-beta-gamma to measured plan runs (JSON lines of collective bench --json)");
  fit->add_option("--measurements", flags->measurements, "JSON lines file of measurements (required)");
  fit->add_flag("--json", flags->json, "Print one JSON object with the fit");
  fit->add_flag("--verbose", flags->verbose, "Every measurement with both models' predictions");
  fit->callback([flags] { run_collective_fit(*flags); });
}

}  // namespace loom::cli
