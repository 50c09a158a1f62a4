#include "planner/stage_knapsack.h"

#include <algorithm>

namespace loom::planner::detail {

namespace {

// Keeps, sorted by memory, the points no other point beats in memory, largest transient and
// weight at once (a point with no more memory, no larger transient and no more weight, seen
// first, dominates).
void pareto(std::vector<Point>& points, int transient_classes) {
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.memory < b.memory; });
  // best[j]: the least weight kept so far among points whose transient class is <= j.
  std::vector<double> best(size_t(transient_classes), kInfinity);
  size_t kept = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    if (best[size_t(p.transient)] <= p.weight) continue;
    for (size_t j = size_t(p.transient); j < best.size(); ++j) best[j] = std::min(best[j], p.weight);
    points[kept++] = p;
  }
  points.resize(kept);
}

}  // namespace

Knapsack make_knapsack(const Shape& shape, int in_flight, double budget, double m_eff) {
  Knapsack k;
  k.budget = budget;
  k.m_eff = m_eff;
  k.in_flight = in_flight;
  for (const Option& o : shape.options) {
    k.transients.push_back(o.transient_bytes);
    k.layouts = std::max(k.layouts, o.layout + 1);
  }
  std::sort(k.transients.begin(), k.transients.end());
  k.transients.erase(std::unique(k.transients.begin(), k.transients.end()), k.transients.end());
  k.options_of_layout.resize(size_t(k.layouts));
  k.frontier.resize(2, std::vector<std::vector<Point>>(size_t(k.layouts)));
  for (size_t o = 0; o < shape.options.size(); ++o) {
    const Option& option = shape.options[o];
    k.memory.push_back(double(option.state_bytes) + double(in_flight) * double(option.kept_bytes));
    k.weight.push_back(m_eff * option.time_s + option.extra_s);
    const auto it = std::lower_bound(k.transients.begin(), k.transients.end(), option.transient_bytes);
    k.transient_class.push_back(int(it - k.transients.begin()));
    if (k.memory[o] + double(option.transient_bytes) > budget) continue;
    k.options_of_layout[size_t(option.layout)].push_back(int(o));
    k.frontier[1][size_t(option.layout)].push_back({k.memory[o], k.weight[o], k.transient_class[o], int(o), -1, -1});
  }
  for (auto& f : k.frontier[1]) pareto(f, int(k.transients.size()));
  k.lightest = kInfinity;
  for (const auto& list : k.options_of_layout)
    for (int o : list) k.lightest = std::min(k.lightest, k.weight[size_t(o)]);
  return k;
}

bool extend(Knapsack& k, const Shape& shape, int c) {
  const int classes = int(k.transients.size());
  while (int(k.frontier.size()) <= c) {
    const auto& previous = k.frontier.back();
    std::vector<std::vector<Point>> next(size_t(k.layouts));
    bool any = false;
    const double cap = k.cap(int(k.frontier.size()));
    for (int to = 0; to < k.layouts; ++to) {
      if (k.options_of_layout[size_t(to)].empty()) continue;
      // The ways to end c - 1 layers, moved into layout `to` (resharding paid), merged.
      std::vector<Point> entry;
      for (int from = 0; from < k.layouts; ++from) {
        const double reshard = k.m_eff * shape.reshard[size_t(from)][size_t(to)];
        const double reshard_memory = double(k.in_flight) * shape.reshard_kept[size_t(from)][size_t(to)];
        const auto& list = previous[size_t(from)];
        for (size_t i = 0; i < list.size(); ++i) {
          Point p = list[i];
          p.weight += reshard;
          p.memory += reshard_memory;
          p.parent = int(i);
          p.parent_layout = from;
          entry.push_back(p);
        }
      }
      pareto(entry, classes);
      std::vector<Point> candidates;
      for (int o : k.options_of_layout[size_t(to)]) {
        for (const Point& p : entry) {
          const double memory = p.memory + k.memory[size_t(o)];
          const int transient = std::max(p.transient, k.transient_class[size_t(o)]);
          if (memory + double(k.transients[size_t(std::min(p.transient, k.transient_class[size_t(o)]))]) > k.budget)
            break;  // entry is sorted by memory: the rest need more
          if (memory + double(k.transients[size_t(transient)]) > k.budget) continue;
          if (p.weight + k.weight[size_t(o)] > cap) continue;
          candidates.push_back({memory, p.weight + k.weight[size_t(o)], transient, o, p.parent, p.parent_layout});
        }
      }
      pareto(candidates, classes);
      any = any || !candidates.empty();
      next[size_t(to)] = std::move(candidates);
    }
    if (!any) return false;
    k.frontier.push_back(std::move(next));
  }
  return true;
}

bool query(const Knapsack& k, int c, double budget, int64_t fixed_transient, int& layout, int& index) {
  if (c >= int(k.frontier.size())) return false;
  double best = kInfinity;
  for (size_t l = 0; l < k.frontier[size_t(c)].size(); ++l) {
    const auto& f = k.frontier[size_t(c)][l];
    for (size_t i = 0; i < f.size(); ++i) {
      const Point& p = f[i];
      const double transient = double(std::max(fixed_transient, k.transients[size_t(p.transient)]));
      if (p.memory + transient > budget) {
        if (p.memory + double(fixed_transient) > budget) break;
        continue;
      }
      if (p.weight < best) {
        best = p.weight;
        layout = int(l);
        index = int(i);
      }
    }
  }
  return best < kInfinity;
}

std::vector<int> reconstruct(const Knapsack& k, int c, int layout, int index) {
  std::vector<int> options;
  for (; c >= 1; --c) {
    const Point& p = k.frontier[size_t(c)][size_t(layout)][size_t(index)];
    options.push_back(p.option);
    layout = p.parent_layout;
    index = p.parent;
  }
  std::reverse(options.begin(), options.end());
  return options;
}

}  // namespace loom::planner::detail
