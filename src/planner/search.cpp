#include "planner/search.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include "core/error.h"
#include "planner/search_bounds.h"
#include "planner/search_space.h"
#include "planner/stage_knapsack.h"

namespace loom::planner {

using parallel::LayerStrategy;
using parallel::ParallelPlan;
using parallel::VocabStrategy;

using namespace detail;

namespace {

struct StageChoice {
  double weight = kInfinity;
  double time_s = 0.0;
  double extra_s = 0.0;
  int64_t peak_bytes = 0;
  std::vector<int> options;
  int embedding = -1;
  int head = -1;
};

// Everything a configuration's stages need, solved.
struct Solved {
  bool feasible = false;
  double objective = kInfinity;  // max over stages of the stage weight
  std::vector<int> layers_per_stage;
  std::vector<StageChoice> stages;
};

// The best choice for stage s of a configuration with c layers, over its embedding/head options.
StageChoice best_stage_choice(const Shape& shape, Knapsack& knapsack, int s, int P, int c, int vocab_tp, bool tied,
                              double boundary, int in_flight) {
  StageChoice best;
  if (!extend(knapsack, shape, c)) return best;
  for (const auto& [e, h] : vocab_pairs(shape, s, P, vocab_tp, tied)) {
    const Fixed fixed = fixed_of(shape, e, h, s, P, in_flight, boundary, knapsack.m_eff);
    int layout = 0, index = 0;
    if (!query(knapsack, c, knapsack.budget - fixed.memory, fixed.transient, layout, index)) continue;
    const Point& p = knapsack.frontier[size_t(c)][size_t(layout)][size_t(index)];
    const double weight = p.weight + fixed.weight;
    if (weight >= best.weight) continue;
    best.weight = weight;
    best.options = reconstruct(knapsack, c, layout, index);
    best.embedding = e;
    best.head = h;
    best.peak_bytes =
        int64_t(p.memory + fixed.memory + double(std::max(fixed.transient, knapsack.transients[size_t(p.transient)])));
    best.time_s = fixed.time_s;
    best.extra_s = fixed.extra_s;
    for (int o : best.options) {
      best.time_s += shape.options[size_t(o)].time_s;
      best.extra_s += shape.options[size_t(o)].extra_s;
    }
  }
  return best;
}

Solved solve_configuration(const CostInputs& inputs, const Shape& shape, const Configuration& config,
                           double incumbent) {
  const int P = config.pipeline;
  const int m = config.micro_batches;
  const int L = int(inputs.model.layers);
  const double m_eff = double(m + P - 1);
  const double budget = double(inputs.budget_bytes());
  const int max_layers = L - (P - 1);
  Solved best;
  if (shape.options.empty() || shape.embeddings.empty()) return best;
  const double boundary = boundary_bytes(inputs, shape);
  // One knapsack per number of micro-batches in flight (1F1B: stage s holds min(m, P - s)).
  std::map<int, Knapsack> knapsacks;
  const double upper = std::min(incumbent, mixed_bound(inputs, shape, config, boundary, m_eff));
  for (int s = 0; s < P; ++s) {
    const int in_flight = std::min(m, P - s);
    if (knapsacks.count(in_flight)) continue;
    Knapsack k = make_knapsack(shape, in_flight, budget, m_eff);
    // The bound is a plan's weight summed in another order: a little slack so that rounding
    // cannot prune the plan that makes it.
    k.weight_cap = upper * (1.0 + 1e-9);
    knapsacks.emplace(in_flight, std::move(k));
  }
  // The layers a stage must hold: all L with one stage; with more, what the other P - 1 cannot
  // take, each holding at most the most layers any stage can hold under the cap (by the
  // relaxation of Knapsack::rest_weight).
  int most = 0;
  for (const auto& [in_flight, k] : knapsacks)
    while (most < max_layers && k.rest_weight(most + 1, k.budget) <= k.weight_cap) ++most;
  const int least = std::max(1, L - (P - 1) * most);
  for (auto& [in_flight, k] : knapsacks) k.target = least;
  double fastest_layer = kInfinity;
  for (const Option& o : shape.options) fastest_layer = std::min(fastest_layer, m_eff * o.time_s + o.extra_s);
  const bool tied = inputs.model.tie_embeddings;
  for (int vocab_tp : vocab_degrees(shape, tied)) {
    // tables[s][c]: stage s's best with c layers, filled up to the depth that can matter.
    std::vector<std::vector<StageChoice>> tables(static_cast<size_t>(P));
    auto fill = [&](int s, int depth) {
      auto& table = tables[size_t(s)];
      const int in_flight = std::min(m, P - s);
      Knapsack& knapsack = knapsacks.at(in_flight);
      while (int(table.size()) <= depth) {
        const int c = std::max<int>(1, int(table.size()));
        if (table.empty()) table.emplace_back();  // c = 0 unused
        table.push_back(best_stage_choice(shape, knapsack, s, P, c, vocab_tp, tied, boundary, in_flight));
        if (table.back().weight == kInfinity) break;  // more layers will not fit either
      }
    };
    // The even split bounds the objective; no stage takes more layers than that bound allows.
    const int even = (L + P - 1) / P;
    for (int s = 0; s < P; ++s) fill(s, std::min(even, max_layers));
    double bound = 0.0;
    for (int s = 0; s < P; ++s) {
      const auto& table = tables[size_t(s)];
      const int c = L / P + (s < L % P ? 1 : 0);
      bound = std::max(bound, c < int(table.size()) ? table[size_t(c)].weight : kInfinity);
    }
    const int depth = bound < kInfinity ? std::min(max_layers, int(bound / fastest_layer) + 1) : max_layers;
    for (int s = 0; s < P; ++s) fill(s, depth);
    // The partition: the least M such that every stage can take a layer with weight <= M and
    // together they take all L layers (a stage's weight grows with its layers).
    std::vector<double> candidates;
    for (const auto& table : tables)
      for (size_t c = 1; c < table.size(); ++c)
        if (table[c].weight < kInfinity) candidates.push_back(table[c].weight);
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    auto take = [&](double limit, std::vector<int>& counts) {
      counts.assign(size_t(P), 0);
      int total = 0;
      for (int s = 0; s < P; ++s) {
        const auto& table = tables[size_t(s)];
        int c = 0;
        while (c + 1 < int(table.size()) && table[size_t(c + 1)].weight <= limit) ++c;
        if (c == 0) return false;
        counts[size_t(s)] = c;
        total += c;
      }
      return total >= L;
    };
    auto it = std::partition_point(candidates.begin(), candidates.end(), [&](double limit) {
      std::vector<int> scratch;
      return !take(limit, scratch);
    });
    if (it == candidates.end()) continue;
    std::vector<int> counts;
    take(*it, counts);
    // Give back the surplus where it saves the most, keeping every stage at least one layer.
    for (int surplus = std::accumulate(counts.begin(), counts.end(), 0) - L; surplus > 0; --surplus) {
      int pick = -1;
      double saving = -kInfinity;
      for (int s = 0; s < P; ++s) {
        const int c = counts[size_t(s)];
        if (c <= 1) continue;
        const double gain = tables[size_t(s)][size_t(c)].weight - tables[size_t(s)][size_t(c - 1)].weight;
        if (gain > saving) {
          saving = gain;
          pick = s;
        }
      }
      --counts[size_t(pick)];
    }
    Solved result;
    result.feasible = true;
    result.objective = 0.0;
    result.layers_per_stage = counts;
    for (int s = 0; s < P; ++s) {
      result.stages.push_back(tables[size_t(s)][size_t(counts[size_t(s)])]);
      result.objective = std::max(result.objective, result.stages.back().weight);
    }
    if (result.objective < best.objective) best = std::move(result);
  }
  return best;
}

ParallelPlan build_plan(const CostInputs& inputs, const Shape& shape, const Configuration& config,
                        const Solved& solved) {
  ParallelPlan plan;
  plan.world_size = inputs.cluster.world_size();
  plan.global_batch = config.batch;
  plan.micro_batches = config.micro_batches;
  plan.schedule = parallel::PipelineSchedule::one_f_one_b;
  int layer = 0;
  for (int s = 0; s < config.pipeline; ++s) {
    parallel::StagePlan stage;
    stage.first_layer = layer;
    // Within a run of one layout the order of the layers costs nothing: group equal strategies.
    std::vector<int> options = solved.stages[size_t(s)].options;
    for (size_t begin = 0; begin < options.size();) {
      size_t end = begin + 1;
      while (end < options.size() &&
             shape.options[size_t(options[end])].layout == shape.options[size_t(options[begin])].layout)
        ++end;
      std::sort(options.begin() + std::ptrdiff_t(begin), options.begin() + std::ptrdiff_t(end));
      begin = end;
    }
    for (int o : options) plan.layers.push_back(shape.options[size_t(o)].strategy);
    layer += int(solved.stages[size_t(s)].options.size());
    stage.last_layer = layer;
    stage.ranks.resize(size_t(shape.stage_size));
    std::iota(stage.ranks.begin(), stage.ranks.end(), s * shape.stage_size);
    plan.stages.push_back(stage);
  }
  plan.embedding = shape.embeddings[size_t(solved.stages.front().embedding)].strategy;
  plan.head = shape.heads[size_t(solved.stages.back().head)].strategy;
  (void)inputs;
  return plan;
}

}  // namespace

std::string summarize_plan(const ParallelPlan& plan) {
  std::string text = fmt::format(
      "pp{} x {} micro-batch{}{}", plan.stages.size(), plan.micro_batches, plan.micro_batches == 1 ? "" : "es",
      plan.stages.size() > 1 ? std::string(" ") + parallel::schedule_name(plan.schedule) : "");
  for (size_t s = 0; s < plan.stages.size(); ++s) {
    const parallel::StagePlan& stage = plan.stages[s];
    text += fmt::format("; stage {} ({} ranks):", s, stage.ranks.size());
    int l = stage.first_layer;
    while (l < stage.last_layer) {
      int end = l + 1;
      while (end < stage.last_layer && plan.layers[size_t(end)] == plan.layers[size_t(l)]) ++end;
      const LayerStrategy& x = plan.layers[size_t(l)];
      text += fmt::format(" {}x[tp{}{}{} zero{}{}]", end - l, x.tp, x.tp > 1 && !x.tp_consecutive ? " strided" : "",
                          x.sequence_parallel ? " sp" : "", x.sharding, x.recompute ? " recompute" : "");
      l = end;
    }
  }
  return text;
}

SearchResult search_plan(const CostInputs& inputs, const SearchOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  SearchResult result;
  const int world = inputs.cluster.world_size();
  const int L = int(inputs.model.layers);
  const int max_pipeline = options.max_pipeline > 0 ? std::min(options.max_pipeline, L) : L;

  // The configurations, each with its shape (per-layer strategies), costed in parallel.
  std::vector<Configuration> configs;
  for (int64_t batch : inputs.training.batches()) {
    for (int P : divisors_of(world, max_pipeline)) {
      const int64_t limit = options.max_micro_batches > 0 ? options.max_micro_batches : batch;
      for (int64_t m = 1; m <= std::min(batch, limit); ++m) {
        if (batch % m != 0) continue;
        configs.push_back({batch, P, int(m), 0.0});
      }
    }
  }
  const int threads = std::max(1, options.threads > 0 ? options.threads : int(std::thread::hardware_concurrency()));
  std::vector<Shape> shapes(configs.size());
  std::vector<int64_t> costed(configs.size(), 0);
  auto parallel_for = [&](size_t count, auto&& body) {
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    std::mutex error_mutex;
    std::exception_ptr error;
    for (int t = 0; t < std::min<int>(threads, int(count)); ++t) {
      pool.emplace_back([&] {
        for (size_t i; (i = next++) < count;) {
          try {
            body(i);
          } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
          }
        }
      });
    }
    for (auto& thread : pool) thread.join();
    if (error) std::rethrow_exception(error);
  };
  parallel_for(configs.size(), [&](size_t i) {
    const Configuration& c = configs[i];
    shapes[i] = build_shape(inputs, options, world, c.pipeline, c.batch, c.micro_batches, costed[i]);
    configs[i].lower_bound = shapes[i].options.empty() ? kInfinity : lower_bound_per_sample(inputs, shapes[i], c, L);
  });
  for (int64_t n : costed) result.strategies += n;
  result.configurations = int64_t(configs.size());

  // Solve in order of the lower bound, a wave at a time; a configuration whose bound is no better
  // than the best objective found cannot win. Waves make the set solved independent of timing.
  std::vector<size_t> order(configs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return configs[a].lower_bound < configs[b].lower_bound; });
  std::vector<Solved> solved(configs.size());
  std::vector<bool> done(configs.size(), false);
  double best_per_sample = kInfinity;
  // A fixed wave, not one per thread: which configurations are solved (and so the runner-ups)
  // must not depend on the thread count either.
  const size_t wave = 16;
  for (size_t begin = 0; begin < order.size(); begin += wave) {
    std::vector<size_t> batch;
    for (size_t k = begin; k < std::min(order.size(), begin + wave); ++k) {
      const size_t i = order[k];
      if (configs[i].lower_bound >= best_per_sample) {
        ++result.pruned;
        continue;
      }
      batch.push_back(i);
    }
    parallel_for(batch.size(), [&](size_t k) {
      const size_t i = batch[k];
      solved[i] = solve_configuration(inputs, shapes[i], configs[i], best_per_sample * double(configs[i].batch));
    });
    for (size_t i : batch) {
      done[i] = true;
      if (solved[i].feasible)
        best_per_sample = std::min(best_per_sample, solved[i].objective / double(configs[i].batch));
    }
  }

  // The best few by the search's objective, costed by the cost model; the winner is the fastest
  // per sample among them, the others are the runner-ups (one per pipeline degree and batch).
  std::vector<size_t> feasible;
  for (size_t i = 0; i < configs.size(); ++i)
    if (done[i] && solved[i].feasible) feasible.push_back(i);
  std::stable_sort(feasible.begin(), feasible.end(), [&](size_t a, size_t b) {
    return solved[a].objective / double(configs[a].batch) < solved[b].objective / double(configs[b].batch);
  });
  std::vector<Candidate> evaluated;
  std::vector<std::pair<int64_t, int>> seen;  // (batch, P) already represented
  for (size_t i : feasible) {
    const std::pair<int64_t, int> key{configs[i].batch, configs[i].pipeline};
    const bool repeat = std::find(seen.begin(), seen.end(), key) != seen.end();
    if (repeat && !evaluated.empty()) continue;
    seen.push_back(key);
    Candidate candidate;
    candidate.plan = build_plan(inputs, shapes[i], configs[i], solved[i]);
    candidate.prediction = evaluate_plan(inputs, candidate.plan);
    if (configs[i].pipeline > 1) {
      // GPipe holds more activations but can hide transfers 1F1B waits for: the cost model decides.
      parallel::ParallelPlan gpipe = candidate.plan;
      gpipe.schedule = parallel::PipelineSchedule::gpipe;
      const Prediction p = evaluate_plan(inputs, gpipe);
      if (p.fits && p.step_ms < candidate.prediction.step_ms) {
        candidate.plan = gpipe;
        candidate.prediction = p;
      }
    }
    candidate.summary = summarize_plan(candidate.plan);
    evaluated.push_back(std::move(candidate));
    if (int(evaluated.size()) > options.runner_ups + 2) break;
  }
  std::stable_sort(evaluated.begin(), evaluated.end(), [](const Candidate& a, const Candidate& b) {
    return a.prediction.samples_per_s > b.prediction.samples_per_s;
  });
  if (!evaluated.empty()) {
    result.found = true;
    result.best = evaluated.front();
    for (size_t k = 1; k < evaluated.size() && int(k) <= options.runner_ups; ++k)
      result.runner_ups.push_back(evaluated[k]);
  } else {
    // Nothing fits: the least per-device memory with which the search finds a plan.
    int64_t least = std::numeric_limits<int64_t>::max();
    for (size_t i = 0; i < configs.size(); ++i)
      least = std::min(least, least_fitting_bytes(inputs, shapes[i], configs[i]));
    result.min_fitting_bytes = least == std::numeric_limits<int64_t>::max() ? 0 : least;
  }
  result.search_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace loom::planner
