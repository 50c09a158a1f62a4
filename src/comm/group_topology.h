// A communicator's group as GenTree sees it: one host per node of the group, one device per rank
// on it, every host on one switch, with link, reduce and memory rates taken from the comm
// profile (comm_profile.h). The plan generators (topo/generators.h) write plans for such a
// topology; all_reduce_with_generated_plan runs them on the group.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "comm/comm_profile.h"
#include "comm/communicator.h"
#include "topo/topology.h"

namespace loom::comm {

struct GroupTopology {
  topo::Topology topology;
  // A topology numbers its ranks host by host; a group need not (a strided sub-group has its
  // ranks interleaved over the nodes). Plan rank q runs on group rank comm_rank_of_plan_rank[q].
  std::vector<int> comm_rank_of_plan_rank;
};

// `node_of_rank[r]`: any id of group rank r's node (equal ids share a node). Hosts follow in the
// order of their first rank.
GroupTopology group_topology(const std::vector<int>& node_of_rank, const CommProfile& profile);
// The group's node layout from its transport, with the active profile. Local: no messages.
GroupTopology group_topology(Communicator& comm);

// An all-reduce with the plan that `generator` (topo::generate_plan's names: ring, gentree, ...)
// writes for this group's topology, generated and validated once per (group layout, count,
// dtype) and cached per thread. A whole collective: names the operation and divides for avg.
void all_reduce_with_generated_plan(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op,
                                    const std::string& generator);

}  // namespace loom::comm
