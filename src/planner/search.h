// The plan search: the fastest plan for a model on a cluster under a memory budget, over
// Galvatron's space and more: the pipeline degree, the micro-batch count, the schedule, the
// stage partition (unequal, balanced for time under each stage's memory), 1F1B or GPipe (chosen
// by the cost model for the best configurations), and per layer the TP
// degree (consecutive or strided ranks), the sharding stage 0-3 (OSDP's per-layer choice),
// sequence parallelism and recompute; the vocabulary-TP degree and sharding of the embedding and
// the head.
//
// For one pipeline degree P and micro-batch count m, every stage is a knapsack over its layers:
// choose a strategy per layer minimising the stage's time under its memory budget (its in-flight
// micro-batches scale the activations), paying the resharding cost where adjacent layers' layouts
// differ. Transformer blocks are identical, so the dynamic program runs over the number of layers
// rather than over layer positions (symmetric layers) and keeps, for each count and last layout,
// the Pareto set of (memory, time) pairs, with memory exact rather than rounded to megabytes.
// Strategies dominated in every term by another of the same layout are dropped first. The stage
// partition minimises the slowest stage. Configurations whose lower bound cannot beat the best
// plan found so far are skipped. All pruning keeps the optimum of the search's objective.
//
// The objective a stage minimises is (m + P - 1) x its time per micro-batch + its per-step time
// (exposed gradient reduction, optimizer): the step time when that stage is the slowest. The
// winner and runner-ups are then costed by evaluate_plan (cost_model.h), whose numbers are the
// ones reported.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/plan.h"
#include "planner/cost_model.h"

namespace loom::planner {

struct SearchOptions {
  int threads = 0;            // 0: the machine's cores
  int max_tp = 0;             // 0: devices per node (TP stays inside a node)
  int max_pipeline = 0;       // 0: up to the layer count
  int max_micro_batches = 0;  // 0: up to the batch
  bool recompute = true;
  bool sequence_parallel = true;
  int max_sharding = 3;
  int runner_ups = 3;
};

struct Candidate {
  parallel::ParallelPlan plan;
  Prediction prediction;
  std::string summary;  // "pp4 x m16 1f1b, layers: tp8 zero1 (24), tp8 zero1 recompute (8)"
};

struct SearchResult {
  bool found = false;
  Candidate best;
  std::vector<Candidate> runner_ups;  // the best plans of other pipeline degrees / batches
  double search_ms = 0.0;
  int64_t configurations = 0;  // (batch, P, m) examined
  int64_t pruned = 0;          // of them, skipped by the bound
  int64_t strategies = 0;      // per-layer strategies costed
  // When no plan fits: the smallest per-device memory (to the byte) with which the search finds a
  // plan; 0 when no memory would do (the space has no strategy for this batch on these devices).
  int64_t min_fitting_bytes = 0;
};

SearchResult search_plan(const CostInputs& inputs, const SearchOptions& options);

// A one-line description of a plan's strategies (consecutive equal layers grouped).
std::string summarize_plan(const parallel::ParallelPlan& plan);

}  // namespace loom::planner
