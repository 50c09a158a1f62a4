// Ring phases: the ring reduce-scatter and all-gather over any list of ranks and any run of
// chunks, shared by the ring, the hierarchical generator and GenTree-style compositions. With n
// members the run is cut into n parts; in step s of the reduce-scatter member j sends part
// (j - s) mod n to member j + 1, which adds it in, so after n - 1 steps member j holds part
// (j + 1) mod n complete. The all-gather starts from there and circulates the complete parts.
#pragma once

#include <vector>

#include "topo/plan_builder.h"

namespace loom::topo {

// Part k of the run is chunks [first_chunk + k * chunks_per_part, + chunks_per_part). Both add
// n - 1 steps starting at `step` (none for one member) and return the step after the last.
int add_ring_reduce_scatter(std::vector<Transfer>& out, const std::vector<int>& members, int first_chunk,
                            int chunks_per_part, int step);
int add_ring_all_gather(std::vector<Transfer>& out, const std::vector<int>& members, int first_chunk,
                        int chunks_per_part, int step);

}  // namespace loom::topo
