// One stage's knapsack (stage_knapsack.h) against enumeration of every sequence of strategies on
// random instances: several layouts with resharding between them (time and kept memory), options
// whose memory, time and transient trade against each other, a fixed piece beside the layers. At
// every layer count and at budgets around each sequence's need, the knapsack's least weight must
// be the enumeration's. With a weight cap and a target layer count (the search's pruning) it must
// still find every plan under the cap from the target on.
#include "planner/stage_knapsack.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace loom::planner::detail {
namespace {

struct Instance {
  Shape shape;
  int in_flight = 1;
  double m_eff = 1.0;
};

Instance random_instance(std::mt19937& rng) {
  Instance instance;
  std::uniform_int_distribution<int> layouts_of(1, 3), options_of(1, 3), in_flight_of(1, 3);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const int layouts = layouts_of(rng);
  instance.in_flight = in_flight_of(rng);
  instance.m_eff = 1.0 + double(in_flight_of(rng));
  for (int l = 0; l < layouts; ++l) {
    const int count = options_of(rng);
    for (int o = 0; o < count; ++o) {
      Option option;
      option.layout = l;
      option.time_s = 1.0 + 4.0 * unit(rng);
      option.extra_s = unit(rng);
      option.state_bytes = 100 + int64_t(400 * unit(rng));
      option.kept_bytes = 50 + int64_t(300 * unit(rng));
      option.transient_bytes = int64_t(500 * unit(rng)) / 100 * 100;  // a few distinct sizes
      instance.shape.options.push_back(option);
    }
  }
  instance.shape.reshard.assign(size_t(layouts), std::vector<double>(size_t(layouts), 0.0));
  instance.shape.reshard_kept = instance.shape.reshard;
  for (int a = 0; a < layouts; ++a) {
    for (int b = 0; b < layouts; ++b) {
      if (a == b) continue;
      instance.shape.reshard[size_t(a)][size_t(b)] = 0.5 * unit(rng);
      instance.shape.reshard_kept[size_t(a)][size_t(b)] = double(int64_t(80 * unit(rng)));
    }
  }
  return instance;
}

// One sequence of options: its memory without transients, its largest transient and its weight.
struct Sequence {
  double memory = 0.0;
  int64_t transient = 0;
  double weight = 0.0;
};

void enumerate(const Instance& in, int c, std::vector<int>& prefix, std::vector<Sequence>& out) {
  if (int(prefix.size()) == c) {
    Sequence s;
    for (size_t i = 0; i < prefix.size(); ++i) {
      const Option& o = in.shape.options[size_t(prefix[i])];
      s.memory += double(o.state_bytes) + double(in.in_flight) * double(o.kept_bytes);
      s.weight += in.m_eff * o.time_s + o.extra_s;
      s.transient = std::max(s.transient, o.transient_bytes);
      if (i > 0) {
        const int from = in.shape.options[size_t(prefix[i - 1])].layout;
        s.memory += double(in.in_flight) * in.shape.reshard_kept[size_t(from)][size_t(o.layout)];
        s.weight += in.m_eff * in.shape.reshard[size_t(from)][size_t(o.layout)];
      }
    }
    out.push_back(s);
    return;
  }
  for (int o = 0; o < int(in.shape.options.size()); ++o) {
    prefix.push_back(o);
    enumerate(in, c, prefix, out);
    prefix.pop_back();
  }
}

// all[c]: every sequence of c options, for c up to max_c (all[0] empty).
std::vector<std::vector<Sequence>> every_sequence(const Instance& in, int max_c) {
  std::vector<std::vector<Sequence>> all(size_t(max_c) + 1);
  for (int c = 1; c <= max_c; ++c) {
    std::vector<int> prefix;
    enumerate(in, c, prefix, all[size_t(c)]);
  }
  return all;
}

// The least weight of a sequence that fits `budget` beside a fixed piece of `fixed` bytes whose
// transient is `fixed_transient`.
double least_weight(const std::vector<Sequence>& all, double budget, double fixed, int64_t fixed_transient) {
  double best = kInfinity;
  for (const Sequence& s : all)
    if (s.memory + double(std::max(s.transient, fixed_transient)) <= budget - fixed) best = std::min(best, s.weight);
  return best;
}

double knapsack_weight(Knapsack& k, const Shape& shape, int c, double fixed, int64_t fixed_transient) {
  if (!extend(k, shape, c)) return kInfinity;
  int layout = 0, index = 0;
  if (!query(k, c, k.budget - fixed, fixed_transient, layout, index)) return kInfinity;
  const Point& p = k.frontier[size_t(c)][size_t(layout)][size_t(index)];
  // The point's options rebuild it.
  const std::vector<int> options = reconstruct(k, c, layout, index);
  EXPECT_EQ(int(options.size()), c);
  return p.weight;
}

TEST(StageKnapsack, MatchesEnumerationAtEveryCountAndBudget) {
  std::mt19937 rng(7);
  int compared = 0, finite = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const Instance in = random_instance(rng);
    const int max_c = in.shape.options.size() > 6 ? 3 : 4;
    const std::vector<std::vector<Sequence>> all = every_sequence(in, max_c);
    // Budgets at each sequence's exact need (and one byte under), with and without a fixed piece.
    std::vector<double> budgets;
    for (int c = 1; c <= max_c; ++c)
      for (size_t i = 0; i < all[size_t(c)].size(); i += 7)
        budgets.push_back(all[size_t(c)][i].memory + double(all[size_t(c)][i].transient));
    for (double needed : budgets) {
      for (double below : {0.0, 1.0}) {
        for (const auto& [fixed, fixed_transient] : {std::pair<double, int64_t>{0.0, 0}, {120.0, 250}}) {
          const double budget = needed + fixed - below;
          Knapsack k = make_knapsack(in.shape, in.in_flight, budget, in.m_eff);
          for (int c = 1; c <= max_c; ++c) {
            const double expected = least_weight(all[size_t(c)], budget, fixed, fixed_transient);
            const double got = knapsack_weight(k, in.shape, c, fixed, fixed_transient);
            SCOPED_TRACE("trial " + std::to_string(trial) + ", c " + std::to_string(c) + ", budget " +
                         std::to_string(budget));
            if (expected == kInfinity) {
              EXPECT_EQ(got, kInfinity);
            } else {
              EXPECT_NEAR(got, expected, 1e-9 * expected);
              ++finite;
            }
            ++compared;
            if (got == kInfinity) break;  // extend stops once nothing fits
          }
        }
      }
    }
  }
  EXPECT_GT(finite, 1000);
  ::testing::Test::RecordProperty("compared", std::to_string(compared));
}

TEST(StageKnapsack, PruningKeepsEveryPlanUnderTheCapFromTheTargetOn) {
  std::mt19937 rng(11);
  int tight = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const Instance in = random_instance(rng);
    const int max_c = in.shape.options.size() > 6 ? 3 : 4;
    const std::vector<std::vector<Sequence>> all = every_sequence(in, max_c);
    // A budget where memory binds: the median need at the deepest count.
    std::vector<double> needs;
    for (const Sequence& s : all[size_t(max_c)]) needs.push_back(s.memory + double(s.transient));
    std::nth_element(needs.begin(), needs.begin() + std::ptrdiff_t(needs.size() / 2), needs.end());
    const double budget = needs[needs.size() / 2];
    for (int target = 1; target <= max_c; ++target) {
      // The cap: exactly the optimum at the target (as tight as an incumbent can be), with the
      // search's slack.
      const double optimum = least_weight(all[size_t(target)], budget, 0.0, 0);
      if (optimum == kInfinity) continue;
      Knapsack k = make_knapsack(in.shape, in.in_flight, budget, in.m_eff);
      k.weight_cap = optimum * (1.0 + 1e-9);
      k.target = target;
      for (int c = target; c <= max_c; ++c) {
        const double expected = least_weight(all[size_t(c)], budget, 0.0, 0);
        const double got = knapsack_weight(k, in.shape, c, 0.0, 0);
        SCOPED_TRACE("trial " + std::to_string(trial) + ", target " + std::to_string(target) + ", c " +
                     std::to_string(c));
        if (expected <= k.weight_cap) {
          EXPECT_NEAR(got, expected, 1e-9 * expected);
          ++tight;
        } else if (got != kInfinity) {
          EXPECT_GE(got, expected * (1.0 - 1e-9));  // a real sequence
        }
        if (got == kInfinity) break;
      }
    }
  }
  EXPECT_GT(tight, 50);
}

TEST(StageKnapsack, RestWeightNeverExceedsTheBestMix) {
  // rest_weight(n, room): the relaxation below every way to fill n layers within `room` bytes.
  std::mt19937 rng(5);
  for (int trial = 0; trial < 40; ++trial) {
    Instance in = random_instance(rng);
    for (auto& row : in.shape.reshard) std::fill(row.begin(), row.end(), 0.0);
    for (auto& row : in.shape.reshard_kept) std::fill(row.begin(), row.end(), 0.0);
    const Knapsack k = make_knapsack(in.shape, in.in_flight, 1e12, in.m_eff);
    for (int n = 1; n <= 3; ++n) {
      std::vector<Sequence> all;
      std::vector<int> prefix;
      enumerate(in, n, prefix, all);
      for (const Sequence& s : all)
        EXPECT_LE(k.rest_weight(n, s.memory), s.weight * (1.0 + 1e-12)) << "trial " << trial << ", n " << n;
      // Below n times the leanest layer nothing fits.
      double leanest = kInfinity;
      for (double m : k.memory) leanest = std::min(leanest, m);
      EXPECT_EQ(k.rest_weight(n, double(n) * leanest - 1.0), kInfinity);
      EXPECT_LT(k.rest_weight(n, double(n) * leanest), kInfinity);
    }
  }
}

}  // namespace
}  // namespace loom::planner::detail
