#include "planner/stage_knapsack.h"

#include <algorithm>

namespace loom::planner::detail {

namespace {

// The order points are merged in: memory, then largest transient, then weight.
bool before(const Point& a, const Point& b) {
  if (a.memory != b.memory) return a.memory < b.memory;
  if (a.transient != b.transient) return a.transient < b.transient;
  return a.weight < b.weight;
}

// Merges `a` and `b`, each in that order, into `out`, keeping in order the points no other point
// beats in memory, largest transient and weight at once (a point with no more memory, no larger
// transient and no more weight, seen first, dominates); on ties a's point comes first. `best`:
// scratch. Linear in the points.
void merge_pareto(const std::vector<Point>& a, const std::vector<Point>& b, int transient_classes,
                  std::vector<double>& best, std::vector<Point>& out) {
  out.clear();
  // best[j]: the least weight kept so far among points whose transient class is <= j.
  best.assign(size_t(transient_classes), kInfinity);
  auto keep = [&](const Point& p) {
    if (best[size_t(p.transient)] <= p.weight) return;
    for (size_t j = size_t(p.transient); j < best.size() && best[j] > p.weight; ++j) best[j] = p.weight;
    out.push_back(p);
  };
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) keep(before(b[j], a[i]) ? b[j++] : a[i++]);
  for (; i < a.size(); ++i) keep(a[i]);
  for (; j < b.size(); ++j) keep(b[j]);
}

// Folds runs, each in merge order, into their Pareto set `out`: run(r, list) fills run r.
template <typename Run>
void merge_runs(int runs, int transient_classes, Run&& run, std::vector<Point>& list, std::vector<Point>& merged,
                std::vector<double>& best, std::vector<Point>& out) {
  out.clear();
  for (int r = 0; r < runs; ++r) {
    list.clear();
    run(r, list);
    if (list.empty()) continue;
    merge_pareto(out, list, transient_classes, best, merged);
    out.swap(merged);
  }
}

}  // namespace

std::vector<std::pair<double, double>> falling_hull(std::vector<std::pair<double, double>> points) {
  std::sort(points.begin(), points.end());
  std::vector<std::pair<double, double>> hull;
  for (const auto& p : points) {
    if (!hull.empty() && p.second >= hull.back().second) continue;
    while (hull.size() >= 2) {
      const auto& a = hull[hull.size() - 2];
      const auto& b = hull.back();
      // b lies on or above the segment a -> p: drop it.
      if ((b.second - a.second) * (p.first - a.first) >= (p.second - a.second) * (b.first - a.first))
        hull.pop_back();
      else
        break;
    }
    hull.push_back(p);
  }
  return hull;
}

double hull_at(const std::vector<std::pair<double, double>>& hull, double x) {
  if (hull.empty() || x < hull.front().first) return kInfinity;
  // The first hull point with memory above x bounds the segment x falls on.
  const auto it = std::upper_bound(hull.begin(), hull.end(), x,
                                   [](double v, const std::pair<double, double>& h) { return v < h.first; });
  if (it == hull.end()) return hull.back().second;
  const auto& a = *(it - 1);
  const auto& b = *it;
  return a.second + (x - a.first) / (b.first - a.first) * (b.second - a.second);
}

double Knapsack::rest_weight(int n, double room) const {
  if (n <= 0) return 0.0;
  return double(n) * hull_at(hull, room / double(n));
}

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
  std::vector<std::pair<double, double>> fitting;
  for (size_t o = 0; o < shape.options.size(); ++o) {
    const Option& option = shape.options[o];
    k.memory.push_back(double(option.state_bytes) + double(in_flight) * double(option.kept_bytes));
    k.weight.push_back(m_eff * option.time_s + option.extra_s);
    const auto it = std::lower_bound(k.transients.begin(), k.transients.end(), option.transient_bytes);
    k.transient_class.push_back(int(it - k.transients.begin()));
    if (k.memory[o] + double(option.transient_bytes) > budget) continue;
    k.options_of_layout[size_t(option.layout)].push_back(int(o));
    fitting.emplace_back(k.memory[o], k.weight[o]);
  }
  k.hull = falling_hull(std::move(fitting));
  k.lightest = k.hull.empty() ? kInfinity : k.hull.back().second;
  // One layer: each layout's options, sorted and Pareto-filtered.
  k.frontier.resize(2, std::vector<std::vector<Point>>(size_t(k.layouts)));
  std::vector<Point> list, merged;
  std::vector<double> best;
  for (int l = 0; l < k.layouts; ++l) {
    const std::vector<int>& options = k.options_of_layout[size_t(l)];
    merge_runs(
        int(options.size()), int(k.transients.size()),
        [&](int r, std::vector<Point>& run) {
          const int o = options[size_t(r)];
          run.push_back({k.memory[size_t(o)], k.weight[size_t(o)], k.transient_class[size_t(o)], o, -1, -1});
        },
        list, merged, best, k.frontier[1][size_t(l)]);
  }
  return k;
}

bool extend(Knapsack& k, const Shape& shape, int c) {
  const int classes = int(k.transients.size());
  std::vector<Point> entry, list, merged;
  std::vector<double> best;
  while (int(k.frontier.size()) <= c) {
    const int count = int(k.frontier.size());  // the layers of the points made now
    const auto& previous = k.frontier.back();
    std::vector<std::vector<Point>> next(size_t(k.layouts));
    bool any = false;
    for (int to = 0; to < k.layouts; ++to) {
      const std::vector<int>& options = k.options_of_layout[size_t(to)];
      if (options.empty()) continue;
      // The ways to end count - 1 layers, moved into layout `to` (resharding paid), merged: one
      // run per layout they end in, each in memory order.
      merge_runs(
          k.layouts, classes,
          [&](int from, std::vector<Point>& run) {
            const double weight = k.m_eff * shape.reshard[size_t(from)][size_t(to)];
            const double memory = double(k.in_flight) * shape.reshard_kept[size_t(from)][size_t(to)];
            const auto& points = previous[size_t(from)];
            for (size_t i = 0; i < points.size(); ++i) {
              const Point& p = points[i];
              if (p.weight + weight + k.lightest > k.weight_cap) continue;  // no layer can follow
              run.push_back({p.memory + memory, p.weight + weight, p.transient, p.option, int(i), from});
            }
          },
          list, merged, best, entry);
      // Then one more layer of each option of `to`: one run per option, each in entry's order.
      merge_runs(
          int(options.size()), classes,
          [&](int r, std::vector<Point>& run) {
            const int o = options[size_t(r)];
            for (const Point& p : entry) {
              const double memory = p.memory + k.memory[size_t(o)];
              const int transient = std::max(p.transient, k.transient_class[size_t(o)]);
              const int smaller = std::min(p.transient, k.transient_class[size_t(o)]);
              if (memory + double(k.transients[size_t(smaller)]) > k.budget) break;  // the rest need more
              const double weight = p.weight + k.weight[size_t(o)];
              if (memory + double(k.transients[size_t(transient)]) > k.budget || !k.promising(count, memory, weight))
                continue;
              run.push_back({memory, weight, transient, o, p.parent, p.parent_layout});
            }
          },
          list, merged, best, next[size_t(to)]);
      any = any || !next[size_t(to)].empty();
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
