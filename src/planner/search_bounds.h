// What the search knows of a configuration before solving its knapsacks: a stage's pieces
// besides its layers (pipeline buffers, embedding, head), the vocabulary-TP choices, an achievable
// objective and a lower bound (which prune the knapsacks and skip configurations), and the least
// memory with which the configuration has a plan. Private to the search (search.cpp).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "planner/search_space.h"

namespace loom::planner::detail {

// A stage's pieces besides its layers: its pipeline buffers and its embedding and/or head.
struct Fixed {
  double memory = 0.0, weight = 0.0, time_s = 0.0, extra_s = 0.0;
  int64_t transient = 0;
};

// Pipeline buffers: the activation received and the one sent, per micro-batch in flight.
double boundary_bytes(const CostInputs& inputs, const Shape& shape);
// Stage s of P's fixed pieces with embedding e and head h (-1: none); weights with m_eff.
Fixed fixed_of(const Shape& shape, int e, int h, int s, int P, int in_flight, double boundary, double m_eff);
// The (embedding, head) pairs stage s of P may hold (-1: none) with vocabulary-TP degree
// `vocab_tp` (0: any). A tied model's pair on one stage shares one table, so one layout.
std::vector<std::pair<int, int>> vocab_pairs(const Shape& shape, int s, int P, int vocab_tp, bool tied);
// The vocabulary-TP degrees a configuration may give its embedding and head: a tied model needs
// the same on both, so one entry per degree; untied, 0 (any degree on each side).
std::vector<int> vocab_degrees(const Shape& shape, bool tied);

// An achievable objective for the even split (an upper bound for the knapsack's pruning): per
// stage the best plan that mixes at most two options of one layout, the least over the
// vocabulary-TP degrees. Infinite when no single-option plan fits.
double mixed_bound(const CostInputs& inputs, const Shape& shape, const Configuration& config, double boundary,
                   double m_eff);
// A lower bound on the objective per sample: the stage holding the most layers (at least
// ceil(L/P)) has at least the weight of the linear relaxation of its knapsack (fractional layer
// counts, transients and the embedding/head left out, one micro-batch in flight: each only
// lowers it): c times the lower convex hull of the options' (memory, weight) at memory
// budget / c. Infinite when even that cannot fit, so the configuration is skipped.
double lower_bound_per_sample(const CostInputs& inputs, const Shape& shape, const Configuration& config, int layers);
// The least per-device budget, to the byte, with which the search finds a plan for this
// configuration (INT64_MAX: none at any budget). A stage's leanest way to hold c layers repeats
// one strategy: a mix holds at least c times its leanest strategy's layer memory, at least that
// strategy's transient, and resharding on top. So per stage and layer count the least budget is
// a minimum over the embedding/head pairs and the strategies, and the configuration's is the
// least over partitions of its largest stage's (the stages' values grow with the layer count).
int64_t least_fitting_bytes(const CostInputs& inputs, const Shape& shape, const Configuration& config);

}  // namespace loom::planner::detail
