// The plan file: its one parser and one writer (docs/plans.md); its one validator,
// validate_plan, is in plan_validate.cpp.
//
// JSON shape (version 1):
//   {"version": 1, "world_size": 4, "global_batch": 16,
//    "micro_batches": 4,                         // optional, default 1
//    "schedule": "1f1b",                         // optional, "gpipe" | "1f1b", default "1f1b"
//    "bucket_mb": 4,                             // optional, MiB of gradients per DP bucket, default 4
//    "stages": [{"layers": [0, 3], "ranks": [0, 1]}, {"layers": [3, 6], "ranks": [2, 3]}],  // [first, last)
//    "layers": [{"tp": 2, "tp_consecutive": true, "sharding": 0, "recompute": false,
//                "sequence_parallel": false}, ...],   // one per model layer, every field optional
//    "layer_default": {...same fields...},       // optional: fills the layers "layers" does not list
//    "embedding": {"tp": 1, "tp_consecutive": true, "sharding": 0},  // optional, same for "head"
//    "prediction": {"step_ms": 12.5, "peak_mem_bytes": [123, 456]}}  // optional, per stage
// A field a listed layer omits takes LayerStrategy's default, not layer_default's. With
// layer_default, the layer count is where the stages end. Unknown keys are errors: a typo must
// not silently fall back to a default.
//
// Every error is one line "plan field <path> = <value> <why> (valid: ...)": parsing checks each
// field alone (type, range), validate_plan the fields together and against the model.
#include "parallel/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "parallel/plan_fields.h"

namespace loom::parallel {

namespace {

using detail::kBytesPerMiB;
using detail::kShardingValid;
using nlohmann::json;

constexpr int kMaxInt = std::numeric_limits<int>::max();

// A JSON value as the error shows it: compact, on one line, cut when long.
std::string shown(const json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// A key as the error shows it: control characters would break the one-line message.
std::string shown_key(const std::string& key) {
  std::string text = key;
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return text;
}

// Reads single fields of one document, naming each by its path.
class FieldReader {
 public:
  explicit FieldReader(const std::string& origin)
      : prefix_(origin == "plan" ? std::string("plan field") : fmt::format("plan '{}' field", origin)) {}

  [[noreturn]] void fail(const std::string& path, const json& value, const std::string& why,
                         const std::string& valid) const {
    throw_user_error("{} {} = {} {} (valid: {})", prefix_, path, shown(value), why, valid);
  }

  [[noreturn]] void missing(const std::string& path, const std::string& valid) const {
    throw_user_error("{} {} is missing (valid: {})", prefix_, path, valid);
  }

  void object(const json& value, const std::string& path, const std::vector<std::string>& known) const {
    if (!value.is_object()) fail(path, value, "is not an object", fmt::format("an object with {}", joined(known)));
    for (const auto& [key, item] : value.items()) {
      if (std::find(known.begin(), known.end(), key) == known.end())
        fail(path.empty() ? shown_key(key) : path + "." + shown_key(key), item, "is not a known field", joined(known));
    }
  }

  const json& array(const json& value, const std::string& path, const std::string& valid) const {
    if (!value.is_array()) fail(path, value, "is not an array", valid);
    return value;
  }

  int64_t integer(const json& value, const std::string& path, int64_t min, int64_t max,
                  const std::string& valid) const {
    if (!value.is_number_integer()) fail(path, value, "is not an integer", valid);
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(max))
      fail(path, value, "is out of range", valid);
    const int64_t number = value.get<int64_t>();
    if (number < min || number > max) fail(path, value, "is out of range", valid);
    return number;
  }

  int small_integer(const json& value, const std::string& path, int min, int max, const std::string& valid) const {
    return static_cast<int>(integer(value, path, min, max, valid));
  }

  bool boolean(const json& value, const std::string& path) const {
    if (!value.is_boolean()) fail(path, value, "is not a boolean", "true or false");
    return value.get<bool>();
  }

  double number(const json& value, const std::string& path, const std::string& valid) const {
    if (!value.is_number()) fail(path, value, "is not a number", valid);
    return value.get<double>();
  }

 private:
  static std::string joined(const std::vector<std::string>& names) { return fmt::format("{}", fmt::join(names, ", ")); }

  std::string prefix_;
};

const std::vector<std::string> kTopLevelKeys = {"version",       "world_size", "global_batch", "micro_batches",
                                                "schedule",      "bucket_mb",  "stages",       "layers",
                                                "layer_default", "embedding",  "head",         "prediction"};
const std::vector<std::string> kLayerKeys = {"tp", "tp_consecutive", "sharding", "recompute", "sequence_parallel"};
const std::vector<std::string> kVocabKeys = {"tp", "tp_consecutive", "sharding"};
const std::vector<std::string> kStageKeys = {"layers", "ranks"};
const std::vector<std::string> kPredictionKeys = {"step_ms", "peak_mem_bytes"};

LayerStrategy parse_layer(const FieldReader& reader, const json& value, const std::string& path) {
  reader.object(value, path, kLayerKeys);
  LayerStrategy layer;
  if (value.contains("tp")) layer.tp = reader.small_integer(value["tp"], path + ".tp", 1, kMaxInt, "an integer >= 1");
  if (value.contains("tp_consecutive"))
    layer.tp_consecutive = reader.boolean(value["tp_consecutive"], path + ".tp_consecutive");
  if (value.contains("sharding"))
    layer.sharding = reader.small_integer(value["sharding"], path + ".sharding", 0, 3, kShardingValid);
  if (value.contains("recompute")) layer.recompute = reader.boolean(value["recompute"], path + ".recompute");
  if (value.contains("sequence_parallel"))
    layer.sequence_parallel = reader.boolean(value["sequence_parallel"], path + ".sequence_parallel");
  return layer;
}

VocabStrategy parse_vocab(const FieldReader& reader, const json& value, const std::string& path) {
  reader.object(value, path, kVocabKeys);
  VocabStrategy vocab;
  if (value.contains("tp")) vocab.tp = reader.small_integer(value["tp"], path + ".tp", 1, kMaxInt, "an integer >= 1");
  if (value.contains("tp_consecutive"))
    vocab.tp_consecutive = reader.boolean(value["tp_consecutive"], path + ".tp_consecutive");
  if (value.contains("sharding"))
    vocab.sharding = reader.small_integer(value["sharding"], path + ".sharding", 0, 3, kShardingValid);
  return vocab;
}

StagePlan parse_stage(const FieldReader& reader, const json& value, const std::string& path) {
  reader.object(value, path, kStageKeys);
  StagePlan stage;
  const std::string layers_path = path + ".layers";
  const char* const layers_valid = "[first, last) as two integers with 0 <= first < last";
  if (!value.contains("layers")) reader.missing(layers_path, layers_valid);
  const json& layers = reader.array(value["layers"], layers_path, layers_valid);
  if (layers.size() != 2) reader.fail(layers_path, layers, "does not have two entries", layers_valid);
  stage.first_layer = reader.small_integer(layers[0], layers_path + "[0]", 0, kMaxInt, layers_valid);
  stage.last_layer = reader.small_integer(layers[1], layers_path + "[1]", 0, kMaxInt, layers_valid);
  if (stage.first_layer >= stage.last_layer) reader.fail(layers_path, layers, "is an empty range", layers_valid);

  const std::string ranks_path = path + ".ranks";
  const char* const ranks_valid = "a non-empty array of world ranks";
  if (!value.contains("ranks")) reader.missing(ranks_path, ranks_valid);
  const json& ranks = reader.array(value["ranks"], ranks_path, ranks_valid);
  if (ranks.empty()) reader.fail(ranks_path, ranks, "is empty", ranks_valid);
  for (size_t i = 0; i < ranks.size(); ++i)
    stage.ranks.push_back(
        reader.small_integer(ranks[i], fmt::format("{}[{}]", ranks_path, i), 0, kMaxInt, "an integer >= 0"));
  return stage;
}

PlanPrediction parse_prediction(const FieldReader& reader, const json& value) {
  reader.object(value, "prediction", kPredictionKeys);
  PlanPrediction prediction;
  prediction.present = true;
  if (value.contains("step_ms")) {
    prediction.step_ms = reader.number(value["step_ms"], "prediction.step_ms", "a number >= 0");
    if (!std::isfinite(prediction.step_ms) || prediction.step_ms < 0.0)
      reader.fail("prediction.step_ms", value["step_ms"], "is out of range", "a number >= 0");
  }
  if (value.contains("peak_mem_bytes")) {
    const json& peaks = reader.array(value["peak_mem_bytes"], "prediction.peak_mem_bytes", "one integer per stage");
    for (size_t i = 0; i < peaks.size(); ++i)
      prediction.peak_mem_bytes.push_back(reader.integer(peaks[i], fmt::format("prediction.peak_mem_bytes[{}]", i), 0,
                                                         std::numeric_limits<int64_t>::max(), "an integer >= 0"));
  }
  return prediction;
}

// The one writer, for either JSON flavour: nlohmann::json (plan_to_json) and ordered_json (the
// file, whose keys keep this order).
template <typename Json>
Json plan_as(const ParallelPlan& plan) {
  auto vocab = [](const VocabStrategy& v) {
    Json out;
    out["tp"] = v.tp;
    out["tp_consecutive"] = v.tp_consecutive;
    out["sharding"] = v.sharding;
    return out;
  };
  Json out;
  out["version"] = plan.version;
  out["world_size"] = plan.world_size;
  out["global_batch"] = plan.global_batch;
  out["micro_batches"] = plan.micro_batches;
  out["schedule"] = schedule_name(plan.schedule);
  // Whole MiB stay integers; other sizes are exact as doubles (a division by a power of two).
  if (plan.bucket_bytes % (int64_t{1} << 20) == 0) {
    out["bucket_mb"] = plan.bucket_bytes >> 20;
  } else {
    out["bucket_mb"] = static_cast<double>(plan.bucket_bytes) / kBytesPerMiB;
  }
  Json stages = Json::array();
  for (const StagePlan& stage : plan.stages) {
    Json item;
    item["layers"] = Json::array({stage.first_layer, stage.last_layer});
    item["ranks"] = stage.ranks;
    stages.push_back(std::move(item));
  }
  out["stages"] = std::move(stages);
  Json layers = Json::array();
  for (const LayerStrategy& layer : plan.layers) {
    Json item;
    item["tp"] = layer.tp;
    item["tp_consecutive"] = layer.tp_consecutive;
    item["sharding"] = layer.sharding;
    item["recompute"] = layer.recompute;
    item["sequence_parallel"] = layer.sequence_parallel;
    layers.push_back(std::move(item));
  }
  out["layers"] = std::move(layers);
  out["embedding"] = vocab(plan.embedding);
  out["head"] = vocab(plan.head);
  if (plan.prediction.present) {
    Json prediction;
    prediction["step_ms"] = plan.prediction.step_ms;
    prediction["peak_mem_bytes"] = plan.prediction.peak_mem_bytes;
    out["prediction"] = std::move(prediction);
  }
  return out;
}

// The file text: top-level fields one per line, each stage and each layer on a line of its own.
std::string plan_file_text(const ParallelPlan& plan) {
  const nlohmann::ordered_json document = plan_as<nlohmann::ordered_json>(plan);
  std::string text = "{\n";
  size_t index = 0;
  for (const auto& [key, value] : document.items()) {
    text += fmt::format("  \"{}\": ", key);
    if (value.is_array() && !value.empty() && value.front().is_object()) {
      text += "[\n";
      for (size_t i = 0; i < value.size(); ++i)
        text += fmt::format("    {}{}\n", value[i].dump(), i + 1 < value.size() ? "," : "");
      text += "  ]";
    } else {
      text += value.dump();
    }
    text += ++index < document.size() ? ",\n" : "\n";
  }
  return text + "}\n";
}

}  // namespace

const char* schedule_name(PipelineSchedule schedule) {
  return schedule == PipelineSchedule::gpipe ? "gpipe" : "1f1b";
}

PipelineSchedule parse_schedule(const std::string& name) {
  if (name == "gpipe") return PipelineSchedule::gpipe;
  if (name == "1f1b") return PipelineSchedule::one_f_one_b;
  throw_user_error("plan field schedule = {} is not a pipeline schedule (valid: gpipe, 1f1b)", shown(json(name)));
}

int ParallelPlan::stage_of_layer(int layer) const {
  for (size_t s = 0; s < stages.size(); ++s)
    if (layer >= stages[s].first_layer && layer < stages[s].last_layer) return static_cast<int>(s);
  return -1;
}

int ParallelPlan::stage_of_rank(int world_rank) const {
  for (size_t s = 0; s < stages.size(); ++s)
    if (std::find(stages[s].ranks.begin(), stages[s].ranks.end(), world_rank) != stages[s].ranks.end())
      return static_cast<int>(s);
  return -1;
}

int64_t padded_vocab(int64_t vocab, int tp) {
  LOOM_CHECK(tp >= 1 && vocab >= 0, "padded_vocab(vocab={}, tp={})", vocab, tp);
  return (vocab + tp - 1) / tp * tp;
}

ParallelPlan data_parallel_plan(const nn::ModelConfig& model, int world_size, int64_t global_batch) {
  LOOM_CHECK(world_size >= 1, "data_parallel_plan(world_size={})", world_size);
  ParallelPlan plan;
  plan.world_size = world_size;
  plan.global_batch = global_batch;
  plan.micro_batches = 1;
  plan.schedule = PipelineSchedule::one_f_one_b;
  StagePlan stage;
  stage.first_layer = 0;
  stage.last_layer = static_cast<int>(model.layers);
  stage.ranks.resize(static_cast<size_t>(world_size));
  std::iota(stage.ranks.begin(), stage.ranks.end(), 0);
  plan.stages.push_back(std::move(stage));
  plan.layers.assign(static_cast<size_t>(model.layers), LayerStrategy{});
  return plan;
}

ParallelPlan plan_from_json(const json& document, const std::string& origin) {
  const FieldReader reader(origin);
  if (!document.is_object()) reader.fail("(document)", document, "is not a JSON object", "a plan object");
  // The version first: a newer file's fields are unknown here, and the version says why.
  if (!document.contains("version")) reader.missing("version", "1");
  ParallelPlan plan;
  const json& version = document["version"];
  if (version != 1) reader.fail("version", version, "is not supported", "1");
  reader.object(document, "", kTopLevelKeys);

  auto required = [&](const char* key, const std::string& valid) -> const json& {
    if (!document.contains(key)) reader.missing(key, valid);
    return document[key];
  };
  plan.world_size =
      reader.small_integer(required("world_size", "an integer >= 1"), "world_size", 1, kMaxInt, "an integer >= 1");
  plan.global_batch = reader.integer(required("global_batch", "an integer >= 1"), "global_batch", 1,
                                     std::numeric_limits<int64_t>::max(), "an integer >= 1");
  if (document.contains("micro_batches"))
    plan.micro_batches =
        reader.small_integer(document["micro_batches"], "micro_batches", 1, kMaxInt, "an integer >= 1");
  if (document.contains("schedule")) {
    const json& schedule = document["schedule"];
    const std::string name = schedule.is_string() ? schedule.get<std::string>() : std::string();
    if (name != "gpipe" && name != "1f1b")
      reader.fail("schedule", schedule, "is not a pipeline schedule", "gpipe, 1f1b");
    plan.schedule = parse_schedule(name);
  }
  if (document.contains("bucket_mb")) {
    const char* const valid = "a number of MiB > 0, at most 1048576";
    const double mib = reader.number(document["bucket_mb"], "bucket_mb", valid);
    if (!(mib > 0.0 && mib <= 1048576.0)) reader.fail("bucket_mb", document["bucket_mb"], "is out of range", valid);
    plan.bucket_bytes = std::llround(mib * kBytesPerMiB);
    if (plan.bucket_bytes < 1) reader.fail("bucket_mb", document["bucket_mb"], "is less than one byte", valid);
  }

  const json& stages = reader.array(required("stages", "an array of {\"layers\": [first, last), \"ranks\": [...]}"),
                                    "stages", "an array of {\"layers\": [first, last), \"ranks\": [...]}");
  for (size_t s = 0; s < stages.size(); ++s)
    plan.stages.push_back(parse_stage(reader, stages[s], fmt::format("stages[{}]", s)));

  if (document.contains("layers")) {
    const json& layers = reader.array(document["layers"], "layers", "an array of one object per model layer");
    for (size_t l = 0; l < layers.size(); ++l)
      plan.layers.push_back(parse_layer(reader, layers[l], fmt::format("layers[{}]", l)));
  }
  if (document.contains("layer_default")) {
    const LayerStrategy fallback = parse_layer(reader, document["layer_default"], "layer_default");
    int layer_count = 0;
    for (const StagePlan& stage : plan.stages) layer_count = std::max(layer_count, stage.last_layer);
    if (plan.layers.size() < static_cast<size_t>(layer_count))
      plan.layers.resize(static_cast<size_t>(layer_count), fallback);
  } else if (!document.contains("layers")) {
    reader.missing("layers", "one object per model layer, or a layer_default");
  }
  if (document.contains("embedding")) plan.embedding = parse_vocab(reader, document["embedding"], "embedding");
  if (document.contains("head")) plan.head = parse_vocab(reader, document["head"], "head");
  if (document.contains("prediction")) plan.prediction = parse_prediction(reader, document["prediction"]);
  return plan;
}

ParallelPlan read_plan(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_user_error("plan file '{}' cannot be opened: {}", path, std::strerror(errno));
  json document;
  try {
    in >> document;
  } catch (const json::parse_error& error) {
    throw_user_error("plan file '{}' is not valid JSON: {}", path, error.what());
  }
  return plan_from_json(document, path);
}

json plan_to_json(const ParallelPlan& plan) {
  return plan_as<json>(plan);
}

void write_plan(const ParallelPlan& plan, const std::string& path) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    if (!out) throw_user_error("plan file '{}' cannot be written: {}", temporary, std::strerror(errno));
    out << plan_file_text(plan);
    out.flush();
    if (!out) throw_user_error("plan file '{}': writing failed: {}", temporary, std::strerror(errno));
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw_user_error("plan file '{}' cannot be renamed into place: {}", path, error.message());
  }
}

}  // namespace loom::parallel
