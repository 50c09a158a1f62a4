// One pipeline stage's knapsack: choose a strategy for each of c identical layers, least weight
// (the stage objective) under the stage's memory budget, resharding paid where adjacent layers'
// layouts differ. Because the layers are identical the dynamic program runs over the number of
// layers, keeping for each count and last layout the Pareto set of (memory in exact bytes,
// largest transient, weight); points that cannot beat an achievable weight are dropped. Private
// to the search (search.cpp).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "planner/search_space.h"

namespace loom::planner::detail {

struct Point {
  double memory = 0.0;  // bytes: state + in-flight x kept
  double weight = 0.0;  // objective
  int transient = 0;    // index of the largest transient among its layers (into Knapsack::transients)
  int option = -1;      // its last layer's option
  int parent = -1;      // index in the previous count's frontier of layout parent_layout
  int parent_layout = -1;
};

// The knapsack of one stage shape with `in_flight` micro-batches: frontier[c][layout] holds the
// Pareto set of the ways to fill c layers ending in `layout`, for c up to the depth computed.
struct Knapsack {
  std::vector<int64_t> transients;  // the distinct transient sizes, ascending
  std::vector<double> memory, weight;
  std::vector<int> transient_class;
  std::vector<std::vector<int>> options_of_layout;
  std::vector<std::vector<std::vector<Point>>> frontier;  // [c][layout]
  double budget = 0.0;
  double m_eff = 1.0;
  int in_flight = 1;
  int layouts = 0;
  // Pruning that keeps the optimum: a way to fill c layers whose weight, plus the least weight
  // the layers still to come must add, exceeds a weight some plan achieves cannot be part of a
  // better plan. `target`: the fewest layers the stage may hold in such a plan (0: unknown,
  // nothing to come counted). Below the target, frontier[c] may then lack the best way to fill
  // c layers; from it on, it holds every way that can stay under the cap.
  double weight_cap = kInfinity;
  int target = 0;
  double lightest = 0.0;  // the least weight of one layer
  // The lower convex hull of the fitting options' (memory, weight), memory ascending, weight
  // falling: below it no mix of layers lies (rest_weight).
  std::vector<std::pair<double, double>> hull;

  // The least weight n more layers add when they have `room` bytes between them (the linear
  // relaxation: n times the hull at room / n); infinite when even that cannot fit.
  double rest_weight(int n, double room) const;
  // Whether a way to fill c layers with this memory and weight may still be part of a plan
  // lighter than weight_cap.
  bool promising(int c, double memory, double weight) const {
    if (weight > weight_cap) return false;
    if (target <= c) return true;
    return weight + rest_weight(target - c, budget - memory) <= weight_cap;
  }
};

// The lower convex hull of (memory, weight) points, memory ascending, keeping its falling part.
std::vector<std::pair<double, double>> falling_hull(std::vector<std::pair<double, double>> points);
// The hull's weight at memory x (its last weight beyond it); infinite below its first point.
double hull_at(const std::vector<std::pair<double, double>>& hull, double x);

// The knapsack of `shape` with `in_flight` micro-batches, layer memory within `budget`, weights
// (m + P - 1) x time + per-step time; frontier[1] filled.
Knapsack make_knapsack(const Shape& shape, int in_flight, double budget, double m_eff);
// Extends the frontier to c layers (no-op when already there); false when nothing fits c layers.
bool extend(Knapsack& k, const Shape& shape, int c);
// The least-weight way to fill c layers with memory + transient <= budget, when the stage's other
// pieces already need `fixed_transient` while they run: its last layout and index.
bool query(const Knapsack& k, int c, double budget, int64_t fixed_transient, int& layout, int& index);
// The options of the c layers of a frontier point, first layer first.
std::vector<int> reconstruct(const Knapsack& k, int c, int layout, int index);

}  // namespace loom::planner::detail
