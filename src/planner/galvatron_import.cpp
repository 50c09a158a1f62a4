#include "planner/galvatron_import.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace loom::planner {

namespace {

// An integer field, or a comma list of them ("1,2,2,1"; Galvatron also writes single numbers and
// JSON arrays in some versions).
std::vector<int> int_list(const nlohmann::json& config, const char* field, const std::string& origin) {
  const auto it = config.find(field);
  if (it == config.end()) throw_user_error("{}: field '{}' is missing", origin, field);
  std::vector<int> values;
  auto bad = [&] {
    throw_user_error("{}: field '{}' = {} is not a comma list of integers (valid: e.g. \"1,2,2,1\")", origin, field,
                     it->dump());
  };
  if (it->is_number_integer()) return {it->get<int>()};
  if (it->is_array()) {
    for (const auto& v : *it) {
      if (!v.is_number_integer()) bad();
      values.push_back(v.get<int>());
    }
    return values;
  }
  if (!it->is_string()) bad();
  std::stringstream text(it->get<std::string>());
  std::string item;
  while (std::getline(text, item, ',')) {
    try {
      size_t used = 0;
      values.push_back(std::stoi(item, &used));
      if (item.find_first_not_of(" ", used) != std::string::npos) bad();
    } catch (const std::logic_error&) {
      bad();
    }
  }
  return values;
}

int int_field(const nlohmann::json& config, const char* field, const std::string& origin, int fallback) {
  const auto it = config.find(field);
  if (it == config.end()) {
    if (fallback >= 0) return fallback;
    throw_user_error("{}: field '{}' is missing", origin, field);
  }
  const std::vector<int> values = int_list(config, field, origin);
  if (values.size() != 1) throw_user_error("{}: field '{}' = {} must be one integer", origin, field, it->dump());
  return values[0];
}

// A per-layer list: one entry per layer, or one entry for all.
std::vector<int> per_layer(const nlohmann::json& config, const char* field, const std::string& origin, int layers,
                           int fallback) {
  if (!config.contains(field)) return std::vector<int>(size_t(layers), fallback);
  std::vector<int> values = int_list(config, field, origin);
  if (values.size() == 1) values.assign(size_t(layers), values[0]);
  if (int(values.size()) != layers)
    throw_user_error("{}: field '{}' has {} entries but the model has {} layers (valid: one per layer)", origin, field,
                     values.size(), layers);
  return values;
}

}  // namespace

parallel::ParallelPlan plan_from_galvatron(const nlohmann::json& config, const nn::ModelConfig& model, int world_size,
                                           const std::string& origin) {
  if (!config.is_object()) throw_user_error("{}: expected a JSON object", origin);
  if (world_size < 1) throw_user_error("{}: world size {} must be >= 1", origin, world_size);
  const int layers = int(model.layers);
  for (const char* field : {"use_sp", "vsp"}) {
    if (!config.contains(field)) continue;
    for (int v : int_list(config, field, origin))
      if (v != 0)
        throw_user_error(
            "{}: field '{}' asks for Ulysses sequence parallelism, which Loom does not run (valid: 0; Loom's "
            "sequence parallelism is Megatron's, set per layer in the plan)",
            origin, field);
  }
  parallel::ParallelPlan plan;
  plan.world_size = world_size;
  const int pp = int_field(config, "pp_deg", origin, -1);
  if (pp < 1 || world_size % pp != 0)
    throw_user_error("{}: field 'pp_deg' = {} does not divide the {} devices (valid: a divisor of {})", origin, pp,
                     world_size, world_size);
  const int stage_size = world_size / pp;
  plan.global_batch = int_field(config, "global_bsz", origin, -1);
  plan.micro_batches = int_field(config, "chunks", origin, 1);
  const std::string pipeline = config.value("pipeline_type", std::string("pipedream_flush"));
  if (pipeline == "gpipe") {
    plan.schedule = parallel::PipelineSchedule::gpipe;
  } else if (pipeline == "pipedream_flush") {
    plan.schedule = parallel::PipelineSchedule::one_f_one_b;
  } else {
    throw_user_error("{}: field 'pipeline_type' = '{}' (valid: gpipe, pipedream_flush)", origin, pipeline);
  }
  const std::string default_dp = config.value("default_dp_type", std::string("ddp"));
  int default_sharding = 0;
  if (default_dp == "zero2") {
    default_sharding = 2;
  } else if (default_dp != "ddp") {
    throw_user_error("{}: field 'default_dp_type' = '{}' (valid: ddp, zero2)", origin, default_dp);
  }

  // Stages: pp_division gives layers per stage (even split when absent); ranks in blocks.
  std::vector<int> division;
  if (config.contains("pp_division")) {
    division = int_list(config, "pp_division", origin);
  } else {
    for (int s = 0; s < pp; ++s) division.push_back((s + 1) * layers / pp - s * layers / pp);
  }
  if (int(division.size()) != pp)
    throw_user_error("{}: field 'pp_division' has {} entries but pp_deg is {} (valid: one layer count per stage)",
                     origin, division.size(), pp);
  int first = 0;
  for (int s = 0; s < pp; ++s) {
    parallel::StagePlan stage;
    stage.first_layer = first;
    stage.last_layer = first + division[size_t(s)];
    first = stage.last_layer;
    for (int r = 0; r < stage_size; ++r) stage.ranks.push_back(s * stage_size + r);
    plan.stages.push_back(stage);
  }
  if (first != layers)
    throw_user_error("{}: field 'pp_division' covers {} layers but the model has {}", origin, first, layers);

  const std::vector<int> tp = per_layer(config, "tp_sizes_enc", origin, layers, 1);
  const std::vector<int> consecutive = per_layer(config, "tp_consecutive_flags", origin, layers, 1);
  const std::vector<int> sharded = per_layer(config, "dp_types_enc", origin, layers, 0);
  const std::vector<int> recompute = per_layer(config, "checkpoint", origin, layers, 0);
  for (int l = 0; l < layers; ++l) {
    parallel::LayerStrategy strategy;
    strategy.tp = tp[size_t(l)];
    strategy.tp_consecutive = consecutive[size_t(l)] != 0;
    strategy.sharding = sharded[size_t(l)] != 0 ? 3 : default_sharding;
    strategy.recompute = recompute[size_t(l)] != 0;
    plan.layers.push_back(strategy);
  }
  plan.embedding.tp = plan.head.tp = int_field(config, "vtp", origin, 1);
  plan.embedding.sharding = plan.head.sharding = int_field(config, "embed_sdp", origin, 0) != 0 ? 3 : default_sharding;
  parallel::validate_plan(plan, model);
  return plan;
}

parallel::ParallelPlan read_galvatron_plan(const std::string& path, const nn::ModelConfig& model, int world_size) {
  std::ifstream in(path);
  if (!in) throw_user_error("--from-galvatron {}: cannot open the file", path);
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw_user_error("--from-galvatron {}: not valid JSON ({})", path, e.what());
  }
  return plan_from_galvatron(config, model, world_size, "galvatron config '" + path + "'");
}

}  // namespace loom::planner
