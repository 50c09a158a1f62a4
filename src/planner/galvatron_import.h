// Galvatron's emitted strategy config (the JSON its search writes) as a Loom plan. Galvatron
// describes a plan by a pipeline degree and per-layer comma lists: tp_sizes_enc (TP degree),
// tp_consecutive_flags (1: TP ranks adjacent), dp_types_enc (1: that layer's data parallelism is
// sharded ZeRO-3 style), checkpoint (1: recompute), plus global_bsz, chunks (micro-batches),
// pp_division (layers per stage), pipeline_type (gpipe | pipedream_flush), default_dp_type (ddp |
// zero2), vtp (vocabulary TP degree) and embed_sdp (1: the embedding sharded). The field list is
// REFERENCE.md section 3's.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "nn/model_config.h"
#include "parallel/plan.h"

namespace loom::planner {

// `world_size` is the number of devices the config was searched for (Galvatron's config does not
// record it). UserError, one line naming the Galvatron field, for anything missing, malformed or
// without a Loom counterpart (Ulysses sequence parallelism: use_sp / vsp). The result is validated
// against `model`.
parallel::ParallelPlan plan_from_galvatron(const nlohmann::json& config, const nn::ModelConfig& model, int world_size,
                                           const std::string& origin = "galvatron config");
parallel::ParallelPlan read_galvatron_plan(const std::string& path, const nn::ModelConfig& model, int world_size);

}  // namespace loom::planner
