// How `loom plan` and `loom simulate` show a prediction: the summary lines, the per-stage
// breakdown table (--explain), why the runner-ups lost, and the stable JSON object of DESIGN.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "parallel/plan.h"
#include "planner/cost_model.h"
#include "planner/search.h"

namespace loom::planner {

// "step 123.4 ms, 51.9 samples/s, 138.2 TFLOP/s per device (44.3% MFU), peak memory 61.2 of 80.0 GB"
std::string format_headline(const Prediction& prediction);
// Per stage: layers, ranks, micro-batches in flight, time per micro-batch (forward, backward, TP
// collectives, exposed gathers, resharding), per step (bubble, exposed gradient reduction,
// optimizer, end), and memory by category against the budget.
std::string format_breakdown(const Prediction& prediction);
// What bounds the plan and how close it is to the memory budget.
std::string format_limits(const Prediction& prediction);
// One line per runner-up: its plan, its step time and the terms in which it loses to the winner.
std::string format_runner_ups(const Candidate& best, const std::vector<Candidate>& runner_ups);

// The stable JSON object: step_ms, samples_per_s, tflops_per_device, mfu, peak_mem_bytes (per
// stage), plus tokens_per_s, fits, limit, budget_bytes and the per-stage breakdown.
nlohmann::json prediction_json(const Prediction& prediction);

// The prediction as a plan records it (step time, peak memory per stage).
parallel::PlanPrediction plan_prediction(const Prediction& prediction);

std::string format_bytes(double bytes);  // "1.23 GB", "45.6 MB"

}  // namespace loom::planner
