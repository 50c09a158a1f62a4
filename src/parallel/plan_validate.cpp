// validate_plan: the one validation pass over a parsed plan (the parser and writer are in
// plan.cpp). It checks the fields together and against the model and the launched ranks; every
// error is one line "plan field <path> = <value> <why> (valid: ...)".
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "parallel/plan.h"
#include "parallel/plan_fields.h"

namespace loom::parallel {

namespace {

using detail::kBytesPerMiB;
using detail::kShardingValid;

// The divisors of n, for "valid: ..." lists (long lists end in "...").
std::string divisor_list(int64_t n) {
  std::vector<std::string> result;
  for (int64_t d = 1; d <= n; ++d) {
    if (n % d != 0) continue;
    if (result.size() == 16) {
      result.push_back("...");
      break;
    }
    result.push_back(std::to_string(d));
  }
  return fmt::format("{}", fmt::join(result, ", "));
}

// validate_plan's messages: "plan field <path> = <value> <why> (valid: <valid>)".
template <typename Value>
[[noreturn]] void invalid(const std::string& path, const Value& value, const std::string& why,
                          const std::string& valid) {
  throw_user_error("plan field {} = {} {} (valid: {})", path, value, why, valid);
}

std::string layer_range(const StagePlan& stage) {
  return fmt::format("[{}, {}]", stage.first_layer, stage.last_layer);
}

// Stages cover [0, layer_count) in order, each layer once; every world rank is in one stage.
void validate_stages(const ParallelPlan& plan, int layer_count) {
  if (plan.stages.empty())
    throw_user_error("plan field stages = [] has no stage (valid: stages covering layers [0, {}) in order)",
                     layer_count);
  int next_layer = 0;
  for (size_t s = 0; s < plan.stages.size(); ++s) {
    const StagePlan& stage = plan.stages[s];
    const std::string path = fmt::format("stages[{}].layers", s);
    if (stage.first_layer >= stage.last_layer)
      invalid(path, layer_range(stage), "is an empty range", "[first, last) with first < last");
    if (stage.first_layer > next_layer) {
      invalid(path, layer_range(stage), fmt::format("leaves layer {} in no stage", next_layer),
              s == 0 ? std::string("the first stage starts at layer 0")
                     : fmt::format("stage {} starts at layer {}, where stage {} ends", s, next_layer, s - 1));
    }
    if (stage.first_layer < next_layer) {
      invalid(path, layer_range(stage),
              fmt::format("covers layer {} a second time (stage {} ends at layer {})", stage.first_layer, s - 1,
                          next_layer),
              fmt::format("stage {} starts at layer {}", s, next_layer));
    }
    if (stage.last_layer > layer_count) {
      invalid(path, layer_range(stage), fmt::format("goes past the model's {} layers", layer_count),
              fmt::format("the last stage ends at layer {}", layer_count));
    }
    next_layer = stage.last_layer;
  }
  if (next_layer < layer_count) {
    invalid(fmt::format("stages[{}].layers", plan.stages.size() - 1), layer_range(plan.stages.back()),
            fmt::format("leaves layer {} in no stage: the model has {} layers", next_layer, layer_count),
            fmt::format("the last stage ends at layer {}", layer_count));
  }

  std::map<int, size_t> stage_of;  // world rank -> its stage (a map: world_size may be large)
  for (size_t s = 0; s < plan.stages.size(); ++s) {
    const std::vector<int>& ranks = plan.stages[s].ranks;
    if (ranks.empty()) invalid(fmt::format("stages[{}].ranks", s), "[]", "is empty", "at least one world rank");
    for (size_t i = 0; i < ranks.size(); ++i) {
      const std::string path = fmt::format("stages[{}].ranks[{}]", s, i);
      if (ranks[i] < 0 || ranks[i] >= plan.world_size) {
        invalid(path, ranks[i], fmt::format("is not a rank of world_size {}", plan.world_size),
                fmt::format("0..{}", plan.world_size - 1));
      }
      const auto [where, inserted] = stage_of.emplace(ranks[i], s);
      if (!inserted) {
        invalid(path, ranks[i], fmt::format("repeats rank {} of stages[{}].ranks", ranks[i], where->second),
                "each rank in exactly one stage");
      }
    }
  }
  for (int rank = 0; rank < plan.world_size; ++rank) {
    if (!stage_of.contains(rank)) {
      throw_user_error(
          "plan field stages leaves rank {} of world_size {} in no stage (valid: every rank 0..{} in "
          "exactly one stage)",
          rank, plan.world_size, plan.world_size - 1);
    }
  }
}
}  // namespace

void validate_plan(const ParallelPlan& plan, const nn::ModelConfig& model, int launched_ranks) {
  if (plan.version != 1) invalid("version", plan.version, "is not supported", "1");
  if (plan.world_size < 1) invalid("world_size", plan.world_size, "is out of range", "an integer >= 1");
  if (launched_ranks > 0 && launched_ranks != plan.world_size) {
    throw_user_error("plan needs {} ranks (world_size), {} were launched (valid: launch {} ranks, or a plan for {})",
                     plan.world_size, launched_ranks, plan.world_size, launched_ranks);
  }
  if (plan.global_batch < 1) invalid("global_batch", plan.global_batch, "is out of range", "an integer >= 1");
  if (plan.micro_batches < 1) invalid("micro_batches", plan.micro_batches, "is out of range", "an integer >= 1");
  if (plan.bucket_bytes <= 0) {
    invalid("bucket_mb", static_cast<double>(plan.bucket_bytes) / kBytesPerMiB,
            fmt::format("({} bytes) is not positive", plan.bucket_bytes), "a number of MiB > 0");
  }
  const int layer_count = static_cast<int>(model.layers);
  validate_stages(plan, layer_count);
  if (plan.layers.size() != static_cast<size_t>(layer_count)) {
    throw_user_error(
        "plan field layers has {} entries but the model has {} layers (valid: one per layer, or a "
        "layer_default)",
        plan.layers.size(), layer_count);
  }

  // Every replica of every layer runs global_batch / (replicas * micro_batches) samples per micro-batch.
  auto check_batch = [&](const std::string& what, int stage, int tp) {
    const int64_t replicas = plan.stage_size(stage) / tp;
    const int64_t samples = replicas * plan.micro_batches;
    if (plan.global_batch % samples != 0) {
      throw_user_error(
          "plan field global_batch = {} is not divisible by {} replicas x {} micro-batches of {} ({} "
          "ranks of stage {} / tp {}) (valid: a multiple of {})",
          plan.global_batch, replicas, plan.micro_batches, what, plan.stage_size(stage), stage, tp, samples);
    }
  };
  auto check_common = [&](const std::string& path, int tp, int sharding) {
    if (tp < 1) invalid(path + ".tp", tp, "is out of range", "an integer >= 1");
    if (sharding < 0 || sharding > 3) invalid(path + ".sharding", sharding, "is not a sharding stage", kShardingValid);
  };

  for (int l = 0; l < layer_count; ++l) {
    const LayerStrategy& layer = plan.layers[static_cast<size_t>(l)];
    const std::string path = fmt::format("layers[{}]", l);
    check_common(path, layer.tp, layer.sharding);
    const int stage = plan.stage_of_layer(l);
    const int stage_ranks = plan.stage_size(stage);
    const std::string valid_tp =
        divisor_list(std::gcd(std::gcd(int64_t{stage_ranks}, model.heads), std::gcd(model.kv_heads, model.ffn_hidden)));
    if (stage_ranks % layer.tp != 0)
      invalid(path + ".tp", layer.tp, fmt::format("does not divide the {} ranks of stage {}", stage_ranks, stage),
              valid_tp);
    const std::pair<const char*, int64_t> model_fields[] = {
        {"heads", model.heads}, {"kv_heads", model.kv_heads}, {"ffn_hidden", model.ffn_hidden}};
    for (const auto& [name, value] : model_fields) {
      if (value % layer.tp != 0)
        invalid(path + ".tp", layer.tp, fmt::format("does not divide the model's {} = {}", name, value), valid_tp);
    }
    if (layer.sequence_parallel && layer.tp == 1)
      invalid(path + ".sequence_parallel", true, "needs tensor parallelism but tp = 1", "false, or tp > 1");
    check_batch(fmt::format("layer {}", l), stage, layer.tp);
  }

  const int last_stage = static_cast<int>(plan.stages.size()) - 1;
  const std::pair<const char*, int> vocab_stages[] = {{"embedding", 0}, {"head", last_stage}};
  for (const auto& [name, stage] : vocab_stages) {
    const VocabStrategy& vocab = std::string_view(name) == "embedding" ? plan.embedding : plan.head;
    check_common(name, vocab.tp, vocab.sharding);
    const int stage_ranks = plan.stage_size(stage);
    if (stage_ranks % vocab.tp != 0) {
      invalid(fmt::format("{}.tp", name), vocab.tp,
              fmt::format("does not divide the {} ranks of stage {}", stage_ranks, stage), divisor_list(stage_ranks));
    }
    check_batch(fmt::format("the {}", name), stage, vocab.tp);
  }

  // Pipeline neighbours pair up by their index within the stage (activations go from rank i of
  // one stage to rank i of the next), so every stage has the same number of ranks.
  for (int s = 1; s <= last_stage; ++s) {
    if (plan.stage_size(s) != plan.stage_size(0)) {
      throw_user_error(
          "plan field stages[{}].ranks has {} ranks but stages[0].ranks has {} (valid: every pipeline stage with "
          "the same number of ranks, which pass activations rank by rank)",
          s, plan.stage_size(s), plan.stage_size(0));
    }
  }
  if (model.tie_embeddings) {
    const char* const why =
        "the model ties its embeddings: the head uses the embedding's table, sharded the same way (on another "
        "stage, a copy whose gradient is summed with the first stage's)";
    if (plan.head.tp != plan.embedding.tp) {
      invalid("head.tp", plan.head.tp, fmt::format("differs from embedding.tp = {}: {}", plan.embedding.tp, why),
              fmt::format("head.tp = {}", plan.embedding.tp));
    }
    // With tp 1 both layouts are the same single rank; the flag only matters for tp > 1.
    if (plan.head.tp > 1 && plan.head.tp_consecutive != plan.embedding.tp_consecutive) {
      invalid("head.tp_consecutive", plan.head.tp_consecutive,
              fmt::format("differs from embedding.tp_consecutive = {}: {}", plan.embedding.tp_consecutive, why),
              fmt::format("head.tp_consecutive = {}", plan.embedding.tp_consecutive));
    }
  }

  if (plan.prediction.present) {
    const PlanPrediction& prediction = plan.prediction;
    if (!std::isfinite(prediction.step_ms) || prediction.step_ms < 0.0)
      invalid("prediction.step_ms", prediction.step_ms, "is out of range", "a number >= 0");
    if (!prediction.peak_mem_bytes.empty() && prediction.peak_mem_bytes.size() != plan.stages.size()) {
      throw_user_error(
          "plan field prediction.peak_mem_bytes has {} entries but the plan has {} stages (valid: one "
          "per stage)",
          prediction.peak_mem_bytes.size(), plan.stages.size());
    }
    for (size_t s = 0; s < prediction.peak_mem_bytes.size(); ++s) {
      if (prediction.peak_mem_bytes[s] < 0)
        invalid(fmt::format("prediction.peak_mem_bytes[{}]", s), prediction.peak_mem_bytes[s], "is negative",
                "an integer >= 0");
    }
  }
}

}  // namespace loom::parallel
