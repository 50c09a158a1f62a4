// Algorithm selection: the group's shape and the transport's abilities, then the cost model.
#include "comm/algorithm_selection.h"

#include <algorithm>
#include <map>
#include <string>

#include "comm/comm_profile.h"

namespace loom::comm {

GroupShape group_shape(Communicator& comm) {
  std::map<int, int> ranks_on_node;
  for (int r = 0; r < comm.size(); ++r) ++ranks_on_node[comm.transport().node_of(r)];
  GroupShape shape;
  shape.ranks = comm.size();
  shape.nodes = static_cast<int>(ranks_on_node.size());
  shape.ranks_per_node = 1;
  for (const auto& [node, count] : ranks_on_node) shape.ranks_per_node = std::max(shape.ranks_per_node, count);
  return shape;
}

TransportAbilities transport_abilities(Communicator& comm) {
  // The Transport interface has no query for these, so they follow the transport's kind: MPI
  // has MPI_Allreduce and shared windows (among ranks of one host), the thread transport has
  // shared heap segments.
  TransportAbilities abilities;
  const std::string kind = comm.transport().kind();
  abilities.native_all_reduce = kind == "mpi";
  abilities.shared_segments = kind == "mpi" || kind == "threads";
  return abilities;
}

AllReduceAlgorithm choose_all_reduce_algorithm(Communicator& comm, size_t bytes) {
  return cheapest_all_reduce(group_shape(comm), transport_abilities(comm), bytes, active_comm_profile());
}

}  // namespace loom::comm
