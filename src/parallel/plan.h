// ParallelPlan: the plan file of DESIGN.md, which says how one training step runs on N ranks:
// pipeline stages (layer ranges and the ranks of each), and per layer the tensor-parallel degree
// (TP ranks consecutive or strided), the sharding stage (0 = replicated data parallel, 1 =
// optimizer state sharded, 2 = + gradients, 3 = + parameters) and recompute; the embedding and
// the head have a vocabulary-parallel degree and a sharding stage of their own. Inside a stage of
// n ranks a layer with TP degree t runs as n/t data-parallel replicas of t TP ranks, so adjacent
// layers may lay their activations out differently (the runtime reshards between them).
//
// One parser (read_plan / plan_from_json), one validator (validate_plan, also against a model and
// a launched world size), one writer (plan_to_json / write_plan).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/model_config.h"

namespace loom::parallel {

enum class PipelineSchedule { gpipe, one_f_one_b };

// "gpipe" | "1f1b"; parse throws UserError naming the field and the valid values.
const char* schedule_name(PipelineSchedule schedule);
PipelineSchedule parse_schedule(const std::string& name);

struct LayerStrategy {
  int tp = 1;                      // tensor-parallel degree; divides the stage's rank count
  bool tp_consecutive = true;      // TP ranks adjacent in the stage's rank list (else strided by n/tp)
  int sharding = 0;                // 0-3, over the layer's data-parallel group
  bool recompute = false;          // keep only the layer input, replay the forward before backward
  bool sequence_parallel = false;  // TP with the norm activations sharded along the sequence

  bool operator==(const LayerStrategy&) const = default;
};

// The embedding (first stage) and the head (final norm + output projection + loss, last stage).
struct VocabStrategy {
  int tp = 1;  // vocabulary-parallel degree; a vocabulary not divisible by it is padded
  bool tp_consecutive = true;
  int sharding = 0;

  bool operator==(const VocabStrategy&) const = default;
};

struct StagePlan {
  int first_layer = 0;  // layers [first_layer, last_layer)
  int last_layer = 0;
  std::vector<int> ranks;  // world ranks of this stage, in the stage's own order

  bool operator==(const StagePlan&) const = default;
};

// What the planner predicted for this plan (absent when the plan was written by hand).
struct PlanPrediction {
  bool present = false;
  double step_ms = 0.0;
  std::vector<int64_t> peak_mem_bytes;  // per stage

  bool operator==(const PlanPrediction&) const = default;
};

struct ParallelPlan {
  int version = 1;
  int world_size = 1;
  int64_t global_batch = 1;  // samples per optimizer step, over all replicas and micro-batches
  int micro_batches = 1;
  PipelineSchedule schedule = PipelineSchedule::one_f_one_b;
  std::vector<StagePlan> stages;
  std::vector<LayerStrategy> layers;  // one per model layer
  VocabStrategy embedding;
  VocabStrategy head;
  int64_t bucket_bytes = int64_t{4} << 20;  // data-parallel gradient bucket size
  PlanPrediction prediction;

  bool operator==(const ParallelPlan&) const = default;  // field by field (the round-trip tests)

  int stage_of_layer(int layer) const;      // -1 when no stage holds the layer
  int stage_of_rank(int world_rank) const;  // -1 when the rank is in no stage
  int stage_size(int stage) const { return static_cast<int>(stages.at(static_cast<size_t>(stage)).ranks.size()); }
};

// The plan every rank runs without --plan: one stage over all `world_size` ranks, plain data
// parallel (tp 1, sharding 0) on every layer.
ParallelPlan data_parallel_plan(const nn::ModelConfig& model, int world_size, int64_t global_batch);

// Parsing checks types and ranges of single fields; validate_plan checks the whole.
ParallelPlan plan_from_json(const nlohmann::json& document, const std::string& origin = "plan");
ParallelPlan read_plan(const std::string& path);
nlohmann::json plan_to_json(const ParallelPlan& plan);
// Written to a temporary file, then renamed.
void write_plan(const ParallelPlan& plan, const std::string& path);

// Throws UserError with one line naming the layer (or stage), the field, the value and what would
// be valid: stages cover every layer once, in order; every world rank in exactly one stage; tp
// divides the stage size, heads, kv heads and ffn_hidden; sharding 0-3; micro-batches divide the
// batch of every replica; the embedding and the head of a tied model use the same vocab-TP
// layout when they are on different stages; world_size matches `launched_ranks` when it is > 0
// ("plan needs N ranks, M were launched").
void validate_plan(const ParallelPlan& plan, const nn::ModelConfig& model, int launched_ranks = 0);

// The vocabulary rounded up to a multiple of the vocab-TP degree (padding rows are never looked
// up, their logits are masked out of the loss).
int64_t padded_vocab(int64_t vocab, int tp);

}  // namespace loom::parallel
