#include "planner/search_bounds.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "planner/stage_knapsack.h"

namespace loom::planner::detail {

double boundary_bytes(const CostInputs& inputs, const Shape& shape) {
  return shape.micro_batch_samples / double(shape.stage_size) * double(inputs.training.seq) *
         double(inputs.model.hidden) * element_bytes(inputs.training.precision);
}

Fixed fixed_of(const Shape& shape, int e, int h, int s, int P, int in_flight, double boundary, double m_eff) {
  Fixed f;
  f.memory = boundary * double((s > 0 ? 1 : 0) + (s + 1 < P ? 1 : 0)) * double(in_flight);
  for (const VocabOption* v :
       {e >= 0 ? &shape.embeddings[size_t(e)] : nullptr, h >= 0 ? &shape.heads[size_t(h)] : nullptr}) {
    if (v == nullptr) continue;
    f.memory += double(v->state_bytes) + double(in_flight) * double(v->kept_bytes);
    f.time_s += v->time_s;
    f.extra_s += v->extra_s;
    f.weight += m_eff * v->time_s + v->extra_s;
    f.transient = std::max(f.transient, v->transient_bytes);
  }
  return f;
}

std::vector<std::pair<int, int>> vocab_pairs(const Shape& shape, int s, int P, int vocab_tp, bool tied) {
  std::vector<int> embeddings{-1}, heads{-1};
  if (s == 0) {
    embeddings.clear();
    for (size_t e = 0; e < shape.embeddings.size(); ++e)
      if (vocab_tp == 0 || shape.embeddings[e].strategy.tp == vocab_tp) embeddings.push_back(int(e));
  }
  if (s == P - 1) {
    heads.clear();
    for (size_t h = 0; h < shape.heads.size(); ++h)
      if (vocab_tp == 0 || shape.heads[h].strategy.tp == vocab_tp) heads.push_back(int(h));
  }
  std::vector<std::pair<int, int>> pairs;
  for (int e : embeddings) {
    for (int h : heads) {
      if (tied && e >= 0 && h >= 0 && shape.embeddings[size_t(e)].strategy.tp > 1 &&
          shape.embeddings[size_t(e)].strategy.tp_consecutive != shape.heads[size_t(h)].strategy.tp_consecutive)
        continue;
      pairs.emplace_back(e, h);
    }
  }
  return pairs;
}

std::vector<int> vocab_degrees(const Shape& shape, bool tied) {
  if (!tied) return {0};
  std::vector<int> degrees;
  for (const VocabOption& v : shape.embeddings)
    if (std::find(degrees.begin(), degrees.end(), v.strategy.tp) == degrees.end()) degrees.push_back(v.strategy.tp);
  return degrees;
}

namespace {

// The even-split bound with the embedding/head options of vocabulary-TP degree `vocab_tp` (0:
// any): per stage the best plan that mixes at most two options of one layout (as many layers of
// the faster as memory allows), with the embedding/head pair that makes the best single-option
// plan.
double mixed_bound(const CostInputs& inputs, const Shape& shape, const Configuration& config, double boundary,
                   double m_eff, int vocab_tp) {
  const int P = config.pipeline;
  const int L = int(inputs.model.layers);
  const double budget = double(inputs.budget_bytes());
  double objective = 0.0;
  for (int s = 0; s < P; ++s) {
    const int c = L / P + (s < L % P ? 1 : 0);
    const int in_flight = std::min(config.micro_batches, P - s);
    auto layer_memory = [&](const Option& o) {
      return double(o.state_bytes) + double(in_flight) * double(o.kept_bytes);
    };
    auto layer_weight = [&](const Option& o) { return m_eff * o.time_s + o.extra_s; };
    // The embedding/head pair of the best single-option plan.
    double best = kInfinity;
    Fixed chosen;
    for (const auto& [e, h] : vocab_pairs(shape, s, P, vocab_tp, inputs.model.tie_embeddings)) {
      const Fixed f = fixed_of(shape, e, h, s, P, in_flight, boundary, m_eff);
      for (const Option& o : shape.options) {
        const double layers = double(c) * layer_memory(o) + double(std::max(f.transient, o.transient_bytes));
        const double weight = f.weight + double(c) * layer_weight(o);
        if (layers <= budget - f.memory && weight < best) {
          best = weight;
          chosen = f;
        }
      }
    }
    if (best == kInfinity) return kInfinity;
    // Two options of one layout: k layers of the faster `a`, the rest of the leaner `b`.
    for (const Option& a : shape.options) {
      for (const Option& b : shape.options) {
        if (a.layout != b.layout || layer_memory(a) <= layer_memory(b) || layer_weight(a) >= layer_weight(b)) continue;
        const double room = budget - chosen.memory -
                            double(std::max({chosen.transient, a.transient_bytes, b.transient_bytes})) -
                            double(c) * layer_memory(b);
        if (room < 0.0) continue;
        const int k = int(std::min<double>(c, std::floor(room / (layer_memory(a) - layer_memory(b)))));
        best = std::min(best, chosen.weight + double(k) * layer_weight(a) + double(c - k) * layer_weight(b));
      }
    }
    objective = std::max(objective, best);
  }
  return objective;
}

// The least budget B, to the byte, with which `layers` bytes fit beside `fixed` ones as the
// knapsack tests it (layers <= double(B) - fixed).
int64_t least_budget(double layers, double fixed) {
  auto fits = [&](int64_t budget) { return layers <= double(budget) - fixed; };
  int64_t budget = int64_t(std::ceil(layers + fixed));
  while (fits(budget - 1)) --budget;
  while (!fits(budget)) ++budget;
  return budget;
}

}  // namespace

double mixed_bound(const CostInputs& inputs, const Shape& shape, const Configuration& config, double boundary,
                   double m_eff) {
  double least = kInfinity;
  for (int vocab_tp : vocab_degrees(shape, inputs.model.tie_embeddings))
    least = std::min(least, mixed_bound(inputs, shape, config, boundary, m_eff, vocab_tp));
  return least;
}

int64_t least_fitting_bytes(const CostInputs& inputs, const Shape& shape, const Configuration& config) {
  constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  const int P = config.pipeline;
  const int m = config.micro_batches;
  const int L = int(inputs.model.layers);
  const int max_layers = L - (P - 1);
  if (shape.options.empty() || shape.embeddings.empty()) return kNone;
  const double boundary = boundary_bytes(inputs, shape);
  int64_t least = kNone;
  for (int vocab_tp : vocab_degrees(shape, inputs.model.tie_embeddings)) {
    // need[s][c]: stage s's least budget with c layers (c = 0 unused).
    std::vector<std::vector<int64_t>> need(size_t(P), std::vector<int64_t>(size_t(max_layers) + 1, kNone));
    for (int s = 0; s < P; ++s) {
      const int in_flight = std::min(m, P - s);
      if (s > 1 && s + 1 < P && std::min(m, P - s + 1) == in_flight) {
        need[size_t(s)] = need[size_t(s) - 1];  // a middle stage like the one before
        continue;
      }
      const int first = P == 1 ? L : 1;  // one stage holds every layer
      for (const auto& [e, h] : vocab_pairs(shape, s, P, vocab_tp, inputs.model.tie_embeddings)) {
        const Fixed placed = fixed_of(shape, e, h, s, P, in_flight, boundary, 0.0);
        for (const Option& o : shape.options) {
          const double layer = double(o.state_bytes) + double(in_flight) * double(o.kept_bytes);
          const double transient = double(std::max(placed.transient, o.transient_bytes));
          for (int c = first; c <= max_layers; ++c) {
            int64_t& slot = need[size_t(s)][size_t(c)];
            slot = std::min(slot, least_budget(double(c) * layer + transient, placed.memory));
          }
        }
      }
    }
    // The least largest stage over partitions: the least value v such that the stages, each
    // taking the most layers it can hold within v, take all L.
    std::vector<int64_t> values;
    for (const auto& row : need)
      for (int64_t v : row)
        if (v != kNone) values.push_back(v);
    std::sort(values.begin(), values.end());
    auto enough = [&](int64_t limit) {
      int total = 0;
      for (const auto& row : need) {
        int c = 0;
        for (int k = 1; k <= max_layers; ++k)
          if (row[size_t(k)] <= limit) c = k;
        if (c == 0) return false;
        total += c;
      }
      return total >= L;
    };
    const auto it = std::partition_point(values.begin(), values.end(), [&](int64_t v) { return !enough(v); });
    if (it != values.end()) least = std::min(least, *it);
  }
  return least;
}

double lower_bound_per_sample(const CostInputs& inputs, const Shape& shape, const Configuration& config, int layers) {
  const int c = (layers + config.pipeline - 1) / config.pipeline;
  const double m_eff = double(config.micro_batches + config.pipeline - 1);
  std::vector<std::pair<double, double>> points;  // (memory, weight)
  for (const Option& o : shape.options)
    points.emplace_back(double(o.state_bytes) + double(o.kept_bytes), m_eff * o.time_s + o.extra_s);
  return double(c) * hull_at(falling_hull(std::move(points)), double(inputs.budget_bytes()) / double(c)) /
         double(config.batch);
}

}  // namespace loom::planner::detail
