// The group's topology from its node layout and the comm profile. The profile measures groups,
// not wires, so each topology field takes the nearest measured quantity (noted beside it).
#include "comm/group_topology.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace loom::comm {
namespace {

double rate_of(double seconds_per_byte) {
  return seconds_per_byte > 0.0 ? 1.0 / seconds_per_byte : 0.0;
}

}  // namespace

GroupTopology group_topology(const std::vector<int>& node_of_rank, const CommProfile& profile) {
  LOOM_CHECK(!node_of_rank.empty(), "group of no ranks");
  // Hosts in order of their first rank; each host's ranks in group order.
  std::map<int, int> host_of_node;
  std::vector<std::vector<int>> ranks_of_host;
  for (int rank = 0; rank < static_cast<int>(node_of_rank.size()); ++rank) {
    const auto [it, added] = host_of_node.emplace(node_of_rank[rank], static_cast<int>(ranks_of_host.size()));
    if (added) ranks_of_host.emplace_back();
    ranks_of_host[it->second].push_back(rank);
  }
  const int nodes = static_cast<int>(ranks_of_host.size());
  const int ranks = static_cast<int>(node_of_rank.size());
  // Between nodes: the inter-node parameters measured with as many nodes, else (one-node
  // profiles) the intra-node ones of the whole group, as the cost model's flat_link does.
  const LinkParameters inter = profile.inter_node.empty() ? profile.intra(ranks).link : profile.inter(nodes).link;

  GroupTopology group;
  topo::Topology& topology = group.topology;
  topology.name = fmt::format("group-{}-ranks-{}-nodes", ranks, nodes);
  topology.source = fmt::format("loom comm: node layout of the group, rates from '{}'", profile.source);
  topology.switches.push_back({"switch0", 1});
  for (int host = 0; host < nodes; ++host) {
    const int devices = static_cast<int>(ranks_of_host[host].size());
    const GroupParameters& local = profile.intra(devices);
    topo::HostSpec spec;
    spec.name = fmt::format("node{}", host);
    spec.devices = devices;
    // copy_s_per_byte is per byte copied, which reads one byte and writes one: 2 bytes of traffic.
    spec.memory_bandwidth_bytes_per_s = 2.0 * rate_of(local.copy_s_per_byte);
    // gamma is the reduce_into time per byte reduced with every rank reducing at once.
    spec.reduce_bytes_per_s = rate_of(local.link.gamma_s_per_byte);
    // alpha and beta of a ring exchange among the node's ranks: the whole device-to-device path.
    spec.intra_bandwidth_bytes_per_s = devices > 1 ? rate_of(local.link.beta_s_per_byte) : 0.0;
    spec.intra_latency_s = devices > 1 ? local.link.alpha_s : 0.0;
    topology.hosts.push_back(spec);
    // A message between nodes crosses two links (host -> switch -> host): half of alpha each.
    topology.links.push_back({spec.name, "switch0", rate_of(inter.beta_s_per_byte), inter.alpha_s / 2.0});
    for (int rank : ranks_of_host[host]) group.comm_rank_of_plan_rank.push_back(rank);
  }
  return group;
}

GroupTopology group_topology(Communicator& comm) {
  std::vector<int> node_of_rank(static_cast<size_t>(comm.size()));
  for (int rank = 0; rank < comm.size(); ++rank) node_of_rank[rank] = comm.transport().node_of(rank);
  return group_topology(node_of_rank, active_comm_profile());
}

}  // namespace loom::comm
