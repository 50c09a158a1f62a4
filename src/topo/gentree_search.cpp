// GenTree's estimate and search. A digit's exchange pattern (which rank sends to which) is the
// same whatever the data size, so its network cost is priced once per (stride, fan-in, shape):
// every flow of the pattern is routed, each directed link's load and flow count summed, and the
// pattern costs its path latency plus, per byte of one piece, the busiest link's
// load x (1 / bandwidth + incast excess x epsilon) -- what max-min sharing gives when equal flows
// start together. On a regular tree only the smallest cluster holding one group is routed: the
// others are loaded alike. Host terms follow genmodel.h (a fused k-way reduction is (k + 2) passes).
#include "topo/gentree_search.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "core/error.h"

namespace loom::topo {

namespace {

// Network cost of one exchange pattern: seconds = latency_s + piece_bytes * s_per_piece_byte.
struct PatternCost {
  double latency_s = 0.0;
  double s_per_piece_byte = 0.0;
};

class Estimator {
 public:
  explicit Estimator(const Network& network) : network_(network) {
    for (const HostSpec& host : network.topology().hosts) {
      if (host.reduce_bytes_per_s > 0) gamma_ = std::max(gamma_, 1.0 / host.reduce_bytes_per_s);
      if (host.memory_bandwidth_bytes_per_s > 0) delta_ = std::max(delta_, 1.0 / host.memory_bandwidth_bytes_per_s);
    }
  }

  // Reduce-scatter plus its mirrored all-gather (or the whole-range all-reduce) of one digit on
  // a range of `range_bytes` per rank.
  double digit_s(const GenTreeDigit& digit, double range_bytes) {
    const int f = digit.fan_in;
    if (digit.mode == GenTreeMode::ring) {
      const PatternCost cost = pattern(digit.stride, f, true);
      const double piece = range_bytes / f;
      const double step = cost.latency_s + piece * cost.s_per_piece_byte;
      return (f - 1) * (2 * step + piece * (gamma_ + 3 * delta_));
    }
    const PatternCost cost = pattern(digit.stride, f, false);
    if (digit.mode == GenTreeMode::whole)
      return cost.latency_s + range_bytes * (cost.s_per_piece_byte + (f - 1) * gamma_ + (f + 1) * delta_);
    const double piece = range_bytes / f;
    return 2 * (cost.latency_s + piece * cost.s_per_piece_byte) + piece * ((f - 1) * gamma_ + (f + 1) * delta_);
  }

 private:
  PatternCost pattern(int stride, int fan_in, bool ring) {
    const auto key = std::make_tuple(stride, fan_in, ring);
    auto found = patterns_.find(key);
    if (found != patterns_.end()) return found->second;
    const std::vector<DirectedLink>& links = network_.links();
    std::vector<int> flows(links.size(), 0);
    std::vector<int> path;
    PatternCost cost;
    const int ranks = region_ranks(stride * fan_in);
    for (int rank = 0; rank < ranks; ++rank) {
      const int index = (rank / stride) % fan_in;
      for (int u = 0; u < fan_in; ++u) {
        if (u == index || (ring && u != (index + 1) % fan_in)) continue;
        const int peer = rank + (u - index) * stride;
        path.clear();
        network_.route(rank, peer, path);
        double latency = 0.0;
        for (int link : path) {
          ++flows[link];
          latency += links[link].latency_s;
        }
        cost.latency_s = std::max(cost.latency_s, latency);
      }
    }
    const IncastSpec& incast = network_.topology().incast;
    for (size_t link = 0; link < links.size(); ++link) {
      if (flows[link] == 0) continue;
      double s_per_byte = 1.0 / links[link].bandwidth_bytes_per_s;
      if (links[link].into_host)
        s_per_byte += std::max(flows[link] - incast.threshold_flows, 0) * incast.penalty_s_per_byte;
      cost.s_per_piece_byte = std::max(cost.s_per_piece_byte, flows[link] * s_per_byte);
    }
    patterns_.emplace(key, cost);
    return cost;
  }

  // The ranks whose flows load the links a pattern over [0, span) uses: on a regular tree, the
  // smallest cluster holding that span (every other cluster is loaded alike); else every rank.
  int region_ranks(int span) const {
    if (!network_.regular()) return network_.ranks();
    for (const HierarchyLevel& level : network_.hierarchy()) {
      const std::vector<int>& cluster = level.cluster_of_rank;
      if (cluster[0] != cluster[span - 1]) continue;
      return int(std::count(cluster.begin(), cluster.end(), cluster[0]));
    }
    return network_.ranks();
  }

  const Network& network_;
  double gamma_ = 0.0;
  double delta_ = 0.0;
  std::map<std::tuple<int, int, bool>, PatternCost> patterns_;
};

std::vector<int> divisors_of(int n) {
  std::vector<int> divisors;
  for (int d = 1; d <= n; ++d)
    if (n % d == 0) divisors.push_back(d);
  return divisors;
}

// One way to reach a state of the program: its cost, the digit taken and where it came from.
struct Entry {
  double cost_s = 0.0;
  int from_state = -1;
  int from_entry = -1;
  GenTreeDigit digit;
};

}  // namespace

double estimate_gentree_s(const Network& network, const GenTreeStrategy& strategy, int64_t bytes) {
  Estimator estimator(network);
  double range = double(bytes), total = 0.0;
  for (const GenTreeDigit& digit : strategy.digits) {
    total += estimator.digit_s(digit, range);
    if (digit.mode != GenTreeMode::whole) range /= digit.fan_in;
  }
  return total;
}

GenTreeSearchResult search_gentree(const Network& network, int64_t bytes, int element_bytes, int finalists) {
  (void)element_bytes;
  const int ranks = network.ranks();
  LOOM_CHECK(ranks >= 2 && finalists >= 1, "gentree search needs >= 2 ranks, got {}", ranks);
  Estimator estimator(network);
  const std::vector<int> divisors = divisors_of(ranks);
  const int count = int(divisors.size());
  auto position = [&](int divisor) {
    return int(std::lower_bound(divisors.begin(), divisors.end(), divisor) - divisors.begin());
  };
  // State (covered, divided): the digits so far multiply to divisors[covered]; the split ones to
  // divisors[divided]. Each keeps its `finalists` cheapest entries.
  std::vector<std::vector<Entry>> states(size_t(count) * count);
  auto state_of = [&](int covered, int divided) { return covered * count + divided; };
  states[state_of(0, 0)].push_back(Entry{});
  GenTreeSearchResult result;
  for (int covered = 0; covered < count; ++covered) {
    const int product = divisors[covered];
    for (int divided = 0; divided <= covered; ++divided) {
      const int state = state_of(covered, divided);
      std::vector<Entry>& entries = states[state];
      if (entries.empty() || product == ranks) continue;
      const double range_bytes = double(bytes) / divisors[divided];
      for (int fan_in : divisors_of(ranks / product)) {
        if (fan_in < 2) continue;
        for (GenTreeMode mode : {GenTreeMode::split, GenTreeMode::whole, GenTreeMode::ring}) {
          if (mode != GenTreeMode::ring && fan_in > kGenTreeMaxFanIn) continue;
          const GenTreeDigit digit{product, fan_in, mode};
          const double digit_s = estimator.digit_s(digit, range_bytes);
          ++result.strategies_priced;
          const int next_divided = mode == GenTreeMode::whole ? divided : position(divisors[divided] * fan_in);
          std::vector<Entry>& next = states[state_of(position(product * fan_in), next_divided)];
          for (size_t e = 0; e < entries.size(); ++e) {
            next.push_back(Entry{entries[e].cost_s + digit_s, state, int(e), digit});
          }
          std::sort(next.begin(), next.end(), [](const Entry& a, const Entry& b) { return a.cost_s < b.cost_s; });
          if (int(next.size()) > finalists) next.resize(finalists);
        }
      }
    }
  }
  // The cheapest complete strategies, read back through their entries.
  std::vector<std::pair<int, int>> ends;
  for (int divided = 0; divided < count; ++divided)
    for (size_t e = 0; e < states[state_of(count - 1, divided)].size(); ++e)
      ends.emplace_back(state_of(count - 1, divided), int(e));
  std::sort(ends.begin(), ends.end(),
            [&](auto a, auto b) { return states[a.first][a.second].cost_s < states[b.first][b.second].cost_s; });
  if (int(ends.size()) > finalists) ends.resize(finalists);
  for (auto [state, e] : ends) {
    GenTreeStrategy strategy;
    strategy.estimated_s = states[state][e].cost_s;
    while (states[state][e].from_state >= 0) {
      const Entry& entry = states[state][e];
      strategy.digits.push_back(entry.digit);
      std::tie(state, e) = std::make_pair(entry.from_state, entry.from_entry);
    }
    std::reverse(strategy.digits.begin(), strategy.digits.end());
    result.best.push_back(strategy);
  }
  LOOM_CHECK(!result.best.empty(), "gentree search found no strategy for {} ranks", ranks);
  return result;
}

}  // namespace loom::topo
