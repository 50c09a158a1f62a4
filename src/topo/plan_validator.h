// Plan validator: proves that a collective plan computes an all-reduce before anything simulates
// or runs it. Three passes: structure (peers, chunk ranges, steps in order, element-aligned
// chunks), matching (the k-th send a -> b meets the k-th receive on b from a over the same
// chunks, and no two writes of one step touch the same chunk unless both are reductions), and an
// execution in the plan's own semantics (collective_plan.h) that tracks, for every rank, buffer
// and chunk, the set of ranks whose contribution it holds, as intervals: it fails on a deadlock
// (naming the ranks and steps that wait on each other), on a contribution counted twice, and
// unless every rank ends with every contribution of every chunk exactly once.
#pragma once

#include <string>

#include "topo/collective_plan.h"

namespace loom::topo {

// Throws UserError (one line, prefixed by `origin`) on the first problem found.
void validate_plan(const CollectivePlan& plan, const std::string& origin = "[plan]");

}  // namespace loom::topo
