// The search's view of one (batch, pipeline degree, micro-batch count) configuration: every
// per-layer strategy a stage of that shape may use, costed once by the cost model, with the
// embedding's and the head's vocabulary strategies and the resharding between layouts. Private
// to the search (search.cpp, stage_knapsack.cpp).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "parallel/plan.h"
#include "planner/cost_model.h"
#include "planner/search.h"

namespace loom::planner::detail {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// One per-layer strategy of a stage shape, with the terms the stage objective needs.
struct Option {
  parallel::LayerStrategy strategy;
  int layout = 0;        // activation layout: (tp, consecutive, sequence parallel)
  double time_s = 0.0;   // forward + backward per micro-batch
  double extra_s = 0.0;  // exposed gradient reduction + update per step
  int64_t state_bytes = 0;
  int64_t kept_bytes = 0;
  int64_t transient_bytes = 0;
};

struct VocabOption {
  parallel::VocabStrategy strategy;
  double time_s = 0.0;
  double extra_s = 0.0;
  int64_t state_bytes = 0;
  int64_t kept_bytes = 0;
  int64_t transient_bytes = 0;
};

// What one (batch, P, m) configuration offers its stages.
struct Configuration {
  int64_t batch = 0;
  int pipeline = 1;
  int micro_batches = 1;
  double lower_bound = 0.0;  // of the objective per sample
};

struct Shape {
  int stage_size = 1;
  double micro_batch_samples = 1.0;
  std::vector<Option> options;
  std::vector<std::vector<double>> reshard;       // [from layout][to layout], per micro-batch
  std::vector<std::vector<double>> reshard_kept;  // bytes kept per micro-batch in flight
  std::vector<VocabOption> embeddings, heads;
};

// The divisors of n up to limit, ascending.
std::vector<int> divisors_of(int n, int limit);
// A plain-stage context for stage `s` of a P-stage plan whose stages take consecutive ranks.
StageContext stage_context(int stage, int stage_size, double micro_batch_samples, int micro_batches);
// Every strategy of the space for a stage of world / pipeline ranks, those dominated by another
// of the same layout dropped; `strategies_costed` counts the cost model calls.
Shape build_shape(const CostInputs& inputs, const SearchOptions& options, int world, int pipeline, int64_t batch,
                  int micro_batches, int64_t& strategies_costed);

}  // namespace loom::planner::detail
