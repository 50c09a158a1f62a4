// GenTree's search: every way of cutting the rank index into digits (local first), each digit a
// ring or a direct round that splits the data or not, priced with GenModel's terms on the
// network's links; a dynamic program over (ranks covered, data divided by) keeps the best few.
#pragma once

#include <cstdint>
#include <vector>

#include "topo/gentree.h"
#include "topo/network.h"

namespace loom::topo {

// How many strategies the search hands to the simulator.
inline constexpr int kGenTreeFinalists = 3;
// The widest direct round priced: past this fan-in every incast threshold Loom has seen is far
// exceeded, and a round's flows grow as fan-in squared.
inline constexpr int kGenTreeMaxFanIn = 64;

struct GenTreeSearchResult {
  std::vector<GenTreeStrategy> best;  // by the estimate, fastest first; at least one for ranks >= 2
  int strategies_priced = 0;          // digit choices priced (transitions of the program)
};

GenTreeSearchResult search_gentree(const Network& network, int64_t bytes, int element_bytes, int finalists);

// The estimate of one strategy (what the search minimises).
double estimate_gentree_s(const Network& network, const GenTreeStrategy& strategy, int64_t bytes);

}  // namespace loom::topo
