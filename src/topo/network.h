// Network: a validated topology as a graph the simulator and the topology-aware generators use:
// directed links with their bandwidth and latency, a deterministic route between any two ranks,
// and the hierarchy of the switch tree (which ranks share a host, a leaf, a pod, ...).
//
// Vertices: one per host, one per switch, and for a host with several devices one hub joining
// them (links device <-> hub at the host's intra bandwidth, half its intra latency each way).
// Routing goes up the tree until a switch above the destination, then down. Where several
// upward links qualify, the choice is by destination (D-mod-k: the destination host index modulo
// the number of choices, divided down level by level), so a permutation of hosts spreads over
// the spines as fat-tree routing does. A host's device d leaves and enters through the host's
// link (d mod links).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "topo/topology.h"

namespace loom::topo {

struct DirectedLink {
  int from_vertex = -1;
  int to_vertex = -1;
  double bandwidth_bytes_per_s = 0.0;
  double latency_s = 0.0;
  int level = 0;          // 0: inside a host; 1: host <-> leaf; n: between levels n - 1 and n
  bool into_host = false;  // ends at a host or a device: where incast is charged
};

// The switch tree seen from the ranks. levels[0] groups ranks by host; levels[i] (i >= 1) groups
// the clusters of levels[i - 1] that switches of level <= i join; the last level is one cluster,
// the whole network. Levels that join nothing new are left out.
struct HierarchyLevel {
  std::vector<int> cluster_of_rank;  // cluster id (0-based, in order of first rank) of each rank
  int clusters = 0;
  // How many clusters of the level below each cluster of this level holds (level 0: devices per
  // host); -1 when they differ.
  int children = -1;
  std::string name;  // "host", "leaf", "pod", "spine", ... for reports
};

class Network {
 public:
  explicit Network(const Topology& topology);  // validates (UserError naming the field)

  const Topology& topology() const { return topology_; }
  int ranks() const { return int(rank_host_.size()); }
  int host_of_rank(int rank) const { return rank_host_[rank]; }
  int device_of_rank(int rank) const { return rank_device_[rank]; }
  const std::vector<DirectedLink>& links() const { return links_; }

  // Appends the directed links from src_rank to dst_rank (src != dst) to `out`, in path order.
  void route(int src_rank, int dst_rank, std::vector<int>& out) const;
  double path_latency_s(int src_rank, int dst_rank) const;

  const std::vector<HierarchyLevel>& hierarchy() const { return hierarchy_; }
  // True when every level's clusters hold the same number of children and the ranks of every
  // cluster are consecutive (what the topology-aware generators need).
  bool regular() const;

 private:
  Topology topology_;
  std::vector<int> rank_host_;
  std::vector<int> rank_device_;
  std::vector<DirectedLink> links_;
  std::vector<HierarchyLevel> hierarchy_;
  // Implementation state (adjacency, subtree membership) lives here.
  struct Graph;
  std::shared_ptr<const Graph> graph_;
};

}  // namespace loom::topo
