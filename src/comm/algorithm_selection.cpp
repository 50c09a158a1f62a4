// Algorithm selection: the group's shape and the transport's abilities, then the cost model.
#include "comm/algorithm_selection.h"

#include <algorithm>
#include <map>
#include <string>

#include "comm/comm_profile.h"

namespace loom::comm {

GroupShape group_shape(Communicator& comm) {
  // `auto` asks on every call, so the common case (one node) allocates nothing.
  const Transport& transport = comm.transport();
  const int first_node = transport.node_of(0);
  int r = 1;
  while (r < comm.size() && transport.node_of(r) == first_node) ++r;
  if (r == comm.size()) return GroupShape{comm.size(), comm.size(), 1};
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
  // `auto` runs this before every all-reduce, where a microsecond matters: remember the last
  // answer per thread. The memo is keyed on every input of the (pure) choice, so it cannot
  // make ranks disagree.
  struct Memo {
    GroupShape shape;
    TransportAbilities abilities;
    size_t bytes = 0;
    const CommProfile* profile = nullptr;
    AllReduceAlgorithm algorithm = AllReduceAlgorithm::ring;
  };
  thread_local Memo memo;
  const GroupShape shape = group_shape(comm);
  const TransportAbilities abilities = transport_abilities(comm);
  const CommProfile& profile = active_comm_profile();
  if (memo.profile != &profile || memo.bytes != bytes || memo.shape.ranks != shape.ranks ||
      memo.shape.ranks_per_node != shape.ranks_per_node || memo.shape.nodes != shape.nodes ||
      memo.abilities.native_all_reduce != abilities.native_all_reduce ||
      memo.abilities.shared_segments != abilities.shared_segments) {
    memo = {shape, abilities, bytes, &profile, cheapest_all_reduce(shape, abilities, bytes, profile)};
  }
  return memo.algorithm;
}

}  // namespace loom::comm
