// GenTree: an all-reduce plan shaped by the switch tree. The rank index is cut into digits,
// local ones first (inside a host, then under a leaf, then under a pod, ...); the ranks that
// differ in one digit exchange among themselves, as a ring or as one round of direct exchanges
// of fan-in k - 1, splitting the data (a reduce-scatter, mirrored by an all-gather on the way
// back) or not (an all-reduce of the whole range). Every choice is priced with GenModel's terms
// on the network's own links, so the generator trades few memory passes and few rounds (wide
// fan-in) against low incast (narrow fan-in, more rounds); the best few by that estimate are
// simulated and the fastest wins. docs/gentree.md describes the algorithm.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topo/collective_plan.h"
#include "topo/network.h"

namespace loom::topo {

// One digit of GenTree's strategy: the ranks r, r + stride, ..., r + (fan_in - 1) stride that
// agree on every other digit exchange among themselves. `split`: each keeps 1/fan_in of its
// range, reduced (one round of direct exchanges, fan-in fan_in - 1), and the all-gather mirrors
// it; `whole`: each sends its whole range to the others and all reduce it (one round, no
// all-gather); `ring`: a ring reduce-scatter of fan_in - 1 steps, mirrored by a ring all-gather.
enum class GenTreeMode : uint8_t { split, whole, ring };
struct GenTreeDigit {
  int stride = 1;
  int fan_in = 1;
  GenTreeMode mode = GenTreeMode::split;
  bool operator==(const GenTreeDigit&) const = default;
};
struct GenTreeStrategy {
  std::vector<GenTreeDigit> digits;  // in order of increasing stride: local exchanges first
  double estimated_s = 0.0;          // GenModel estimate on the network's links
  double simulated_s = 0.0;          // the simulator's time (0 where not simulated)
};
std::string gentree_mode_name(GenTreeMode mode);
// "ring(8)@1 split(4)@8 ..." for reports.
std::string describe_gentree_strategy(const GenTreeStrategy& strategy);

// What the generator priced and chose, for `loom collective gen --explain`.
struct GenTreeChoice {
  GenTreeStrategy chosen;
  std::vector<GenTreeStrategy> finalists;  // the best by the estimate, each simulated
  int strategies_priced = 0;
};

CollectivePlan generate_gentree(const Network& network, int64_t bytes, int element_bytes = 4,
                                GenTreeChoice* choice = nullptr);
// The plan of one strategy (its digits' fan-ins must multiply to the rank count).
CollectivePlan gentree_plan(const GenTreeStrategy& strategy, int ranks, int64_t bytes, int element_bytes);

}  // namespace loom::topo
