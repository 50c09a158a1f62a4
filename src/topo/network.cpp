// Network: the graph, routes and hierarchy of a validated topology (network.h).
//
// Vertex numbering: hosts [0, H) in file order, switches [H, H + S) in file order, then one vertex
// per device of every host of several devices, in rank order. Such a host's own vertex is the hub
// that joins its devices, and its links (rails) leave from it: a device reaches another host
// through its link to the hub, then the host's rail.
//
// Directed links: LinkSpec i gives link 2i (from -> to, upward) and 2i + 1 (to -> from, downward);
// the device <-> hub links follow, two per device (to the hub, then from it).
//
// Routing is up/down over bitsets of switches: below(s) holds s and every switch under it, and
// reach(s) every switch that a path going up from s then down can end at. A route climbs from the
// source rail's leaf until the destination rail's leaf is below, choosing among the upward links
// that can still reach it by D-mod-k, then descends the same way.
#include "topo/network.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <numeric>
#include <unordered_map>

#include "core/error.h"

namespace loom::topo {

namespace {

struct UnionFind {
  std::vector<int> parent;
  explicit UnionFind(int count) : parent(size_t(count)) { std::iota(parent.begin(), parent.end(), 0); }
  int find(int v) {
    while (parent[size_t(v)] != v) v = parent[size_t(v)] = parent[size_t(parent[size_t(v)])];
    return v;
  }
  void join(int a, int b) { parent[size_t(find(a))] = find(b); }
};

std::string level_name(int level, int max_level) {
  if (level == 1) return "leaf";
  if (level == max_level) return max_level == 2 ? "spine" : "core";
  if (level == 2) return "pod";
  return fmt::format("level{}", level);
}

// Level 0 by host, then the components of hosts and switches of level <= i, where they join
// something new.
std::vector<HierarchyLevel> build_hierarchy(const Topology& topology, const std::vector<int>& rank_host,
                                            const std::vector<DirectedLink>& links) {
  const int hosts = int(topology.hosts.size());
  const int switches = int(topology.switches.size());
  std::vector<HierarchyLevel> hierarchy;
  HierarchyLevel by_host;
  by_host.cluster_of_rank = rank_host;
  by_host.clusters = hosts;
  by_host.children = topology.hosts[0].devices;
  for (const HostSpec& host : topology.hosts)
    if (host.devices != by_host.children) by_host.children = -1;
  by_host.name = "host";
  hierarchy.push_back(std::move(by_host));
  int max_level = 0;
  for (const SwitchSpec& sw : topology.switches) max_level = std::max(max_level, sw.level);
  UnionFind components(hosts + switches);
  for (int level = 1; level <= max_level; ++level) {
    for (const DirectedLink& link : links)
      if (link.level == level && link.from_vertex < hosts + switches && link.to_vertex < hosts + switches)
        components.join(link.from_vertex, link.to_vertex);
    std::vector<int> cluster_of_root(size_t(hosts + switches), -1);
    std::vector<int> cluster_of_host(static_cast<size_t>(hosts));
    int clusters = 0;
    for (int h = 0; h < hosts; ++h) {
      int& cluster = cluster_of_root[size_t(components.find(h))];
      if (cluster < 0) cluster = clusters++;
      cluster_of_host[size_t(h)] = cluster;
    }
    const HierarchyLevel& below_level = hierarchy.back();
    if (clusters == below_level.clusters) continue;  // joins nothing new
    HierarchyLevel current;
    current.clusters = clusters;
    current.name = level_name(level, max_level);
    current.cluster_of_rank.resize(rank_host.size());
    for (size_t r = 0; r < rank_host.size(); ++r) current.cluster_of_rank[r] = cluster_of_host[size_t(rank_host[r])];
    // Children: the distinct clusters of the level below in each cluster (they nest).
    std::vector<int> parent_of_child(size_t(below_level.clusters), -1);
    for (size_t r = 0; r < rank_host.size(); ++r)
      parent_of_child[size_t(below_level.cluster_of_rank[r])] = current.cluster_of_rank[r];
    std::vector<int> children(size_t(clusters), 0);
    for (int parent : parent_of_child) ++children[size_t(parent)];
    current.children = children[0];
    for (int count : children)
      if (count != current.children) current.children = -1;
    hierarchy.push_back(std::move(current));
  }
  return hierarchy;
}

}  // namespace

struct Network::Graph {
  // A host's link to its leaf: the directed link ids each way and the leaf's switch index.
  struct Rail {
    int up_link = -1;
    int down_link = -1;
    int leaf = -1;
  };
  // A directed link between two switches and the switch at its far end.
  struct Hop {
    int link = -1;
    int next = -1;
  };
  // A downward hop of a switch that leads to the leaf `target` (a leaf with hosts).
  struct Toward {
    int target = -1;
    Hop hop;
  };

  int words = 0;                // 64-bit words per switch set
  std::vector<uint64_t> below;  // switches x words
  std::vector<uint64_t> reach;  // switches x words
  std::vector<std::vector<Hop>> up, down;
  // Per switch: every upward link reaches every leaf with hosts (a fat tree, a leaf-spine), so
  // D-mod-k picks among all of them without testing each.
  std::vector<char> all_up_qualify;
  // Per switch: its downward hops by the leaves below them, sorted by leaf (then in link order),
  // so that a descent finds its choices by binary search rather than by scanning every child.
  std::vector<std::vector<Toward>> toward;
  std::vector<std::vector<Rail>> rails;  // per host, in file order
  std::vector<int> to_hub, from_hub;     // per rank; -1 on a host of one device

  bool contains(const std::vector<uint64_t>& sets, int set, int member) const {
    return (sets[size_t(set) * size_t(words) + size_t(member >> 6)] >> (member & 63)) & 1u;
  }
  void insert(std::vector<uint64_t>& sets, int set, int member) {
    sets[size_t(set) * size_t(words) + size_t(member >> 6)] |= uint64_t{1} << (member & 63);
  }
  // Whether set `set` of `sets` holds every member of the single set `mask`.
  bool covers(const std::vector<uint64_t>& sets, int set, const std::vector<uint64_t>& mask) const {
    for (int w = 0; w < words; ++w)
      if ((sets[size_t(set) * size_t(words) + size_t(w)] & mask[size_t(w)]) != mask[size_t(w)]) return false;
    return true;
  }
  void index_routes(const Topology& topology, const std::string& origin);
  void merge_into(std::vector<uint64_t>& sets, int set, const std::vector<uint64_t>& from, int from_set) {
    for (int w = 0; w < words; ++w)
      sets[size_t(set) * size_t(words) + size_t(w)] |= from[size_t(from_set) * size_t(words) + size_t(w)];
  }
};

// below and reach (bottom up, then top down), the up/down check and the descent tables.
void Network::Graph::index_routes(const Topology& topology, const std::string& origin) {
  const int switches = int(topology.switches.size());
  words = (switches + 63) / 64;
  below.assign(size_t(switches) * size_t(words), 0);
  reach.assign(size_t(switches) * size_t(words), 0);
  std::vector<int> by_level(static_cast<size_t>(switches));
  std::iota(by_level.begin(), by_level.end(), 0);
  std::stable_sort(by_level.begin(), by_level.end(), [&](int a, int b) {
    return topology.switches[size_t(a)].level < topology.switches[size_t(b)].level;
  });
  for (int s : by_level) {
    insert(below, s, s);
    for (const Hop& hop : down[size_t(s)]) merge_into(below, s, below, hop.next);
  }
  for (auto it = by_level.rbegin(); it != by_level.rend(); ++it) {
    merge_into(reach, *it, below, *it);
    for (const Hop& hop : up[size_t(*it)]) merge_into(reach, *it, reach, hop.next);
  }

  // Every pair of leaves with hosts needs a switch above both.
  std::vector<uint64_t> leaves(size_t(words), 0);
  for (const auto& host_rails : rails)
    for (const Rail& rail : host_rails) insert(leaves, 0, rail.leaf);
  for (int s = 0; s < switches; ++s) {
    if (!contains(leaves, 0, s) || covers(reach, s, leaves)) continue;
    for (int other = 0; other < switches; ++other)
      if (contains(leaves, 0, other) && !contains(reach, s, other))
        throw_user_error("{} switches {} and {} have no switch above both (up/down routing needs one)", origin,
                         topology.switches[size_t(s)].name, topology.switches[size_t(other)].name);
  }
  all_up_qualify.assign(size_t(switches), 1);
  for (int s = 0; s < switches; ++s)
    for (const Hop& hop : up[size_t(s)])
      if (!covers(reach, hop.next, leaves)) all_up_qualify[size_t(s)] = 0;
  toward.resize(size_t(switches));
  for (int s = 0; s < switches; ++s) {
    for (const Hop& hop : down[size_t(s)])
      for (int w = 0; w < words; ++w)
        for (uint64_t bits = below[size_t(hop.next) * size_t(words) + size_t(w)] & leaves[size_t(w)]; bits != 0;
             bits &= bits - 1)
          toward[size_t(s)].push_back({w * 64 + std::countr_zero(bits), hop});
    std::stable_sort(toward[size_t(s)].begin(), toward[size_t(s)].end(),
                     [](const Toward& a, const Toward& b) { return a.target < b.target; });
  }
}

Network::Network(const Topology& topology) : topology_(topology) {
  const std::string origin = "[topology " + nlohmann::json(topology_.name).dump() + "]";
  validate_topology(topology_, origin);
  auto graph = std::make_shared<Graph>();
  Graph& g = *graph;
  const int hosts = int(topology_.hosts.size());
  const int switches = int(topology_.switches.size());

  std::unordered_map<std::string, int> vertex_of;  // hosts then switches
  for (int h = 0; h < hosts; ++h) vertex_of[topology_.hosts[size_t(h)].name] = h;
  for (int s = 0; s < switches; ++s) vertex_of[topology_.switches[size_t(s)].name] = hosts + s;

  g.up.resize(size_t(switches));
  g.down.resize(size_t(switches));
  g.rails.resize(size_t(hosts));
  for (const LinkSpec& spec : topology_.links) {
    const int from = vertex_of.at(spec.from);
    const int to = vertex_of.at(spec.to);
    const bool from_host = from < hosts;
    const int level = from_host ? 1 : topology_.switches[size_t(to - hosts)].level;
    const int up_link = int(links_.size());
    links_.push_back({from, to, spec.bandwidth_bytes_per_s, spec.latency_s, level, false});
    links_.push_back({to, from, spec.bandwidth_bytes_per_s, spec.latency_s, level, from_host});
    if (from_host) {
      g.rails[size_t(from)].push_back({up_link, up_link + 1, to - hosts});
    } else {
      g.up[size_t(from - hosts)].push_back({up_link, to - hosts});
      g.down[size_t(to - hosts)].push_back({up_link + 1, from - hosts});
    }
  }

  // Ranks, and the links between each device of a multi-device host and its hub.
  int next_vertex = hosts + switches;
  for (int h = 0; h < hosts; ++h) {
    const HostSpec& host = topology_.hosts[size_t(h)];
    for (int d = 0; d < host.devices; ++d) {
      rank_host_.push_back(h);
      rank_device_.push_back(d);
      if (host.devices == 1) {
        g.to_hub.push_back(-1);
        g.from_hub.push_back(-1);
        continue;
      }
      const int device = next_vertex++;
      const double half_latency_s = host.intra_latency_s / 2.0;
      g.to_hub.push_back(int(links_.size()));
      links_.push_back({device, h, host.intra_bandwidth_bytes_per_s, half_latency_s, 0, false});
      g.from_hub.push_back(int(links_.size()));
      links_.push_back({h, device, host.intra_bandwidth_bytes_per_s, half_latency_s, 0, true});
    }
  }

  g.index_routes(topology_, origin);
  graph_ = std::move(graph);

  hierarchy_ = build_hierarchy(topology_, rank_host_, links_);
}

void Network::route(int src_rank, int dst_rank, std::vector<int>& out) const {
  LOOM_CHECK(src_rank != dst_rank && src_rank >= 0 && dst_rank >= 0 && src_rank < ranks() && dst_rank < ranks(),
             "route({}, {}) on {} ranks", src_rank, dst_rank, ranks());
  const Graph& g = *graph_;
  const int src_host = rank_host_[size_t(src_rank)];
  const int dst_host = rank_host_[size_t(dst_rank)];
  if (src_host == dst_host) {
    out.push_back(g.to_hub[size_t(src_rank)]);
    out.push_back(g.from_hub[size_t(dst_rank)]);
    return;
  }
  if (g.to_hub[size_t(src_rank)] >= 0) out.push_back(g.to_hub[size_t(src_rank)]);
  const auto& src_rails = g.rails[size_t(src_host)];
  const auto& dst_rails = g.rails[size_t(dst_host)];
  const Graph::Rail& leave = src_rails[size_t(rank_device_[size_t(src_rank)]) % src_rails.size()];
  const Graph::Rail& enter = dst_rails[size_t(rank_device_[size_t(dst_rank)]) % dst_rails.size()];
  out.push_back(leave.up_link);
  const int target = enter.leaf;
  int current = leave.leaf;
  uint64_t choice = uint64_t(dst_host);  // D-mod-k: divided down at every choice
  while (!g.contains(g.below, current, target)) {
    const auto& hops = g.up[size_t(current)];
    const Graph::Hop* taken = nullptr;
    if (g.all_up_qualify[size_t(current)]) {
      taken = &hops[choice % hops.size()];
      choice /= hops.size();
    } else {
      uint64_t count = 0;
      for (const Graph::Hop& hop : hops) count += g.contains(g.reach, hop.next, target);
      LOOM_CHECK(count > 0, "no upward link from switch {} reaches switch {}", current, target);
      uint64_t pick = choice % count;
      choice /= count;
      for (const Graph::Hop& hop : hops)
        if (g.contains(g.reach, hop.next, target) && pick-- == 0) {
          taken = &hop;
          break;
        }
    }
    out.push_back(taken->link);
    current = taken->next;
  }
  while (current != target) {
    const auto& table = g.toward[size_t(current)];
    const auto [first, last] =
        std::equal_range(table.begin(), table.end(), Graph::Toward{target, {}},
                         [](const Graph::Toward& a, const Graph::Toward& b) { return a.target < b.target; });
    const uint64_t count = uint64_t(last - first);
    LOOM_CHECK(count > 0, "no downward link from switch {} reaches switch {}", current, target);
    const Graph::Hop& hop = first[ptrdiff_t(choice % count)].hop;
    choice /= count;
    out.push_back(hop.link);
    current = hop.next;
  }
  out.push_back(enter.down_link);
  if (g.from_hub[size_t(dst_rank)] >= 0) out.push_back(g.from_hub[size_t(dst_rank)]);
}

double Network::path_latency_s(int src_rank, int dst_rank) const {
  thread_local std::vector<int> path;
  path.clear();
  route(src_rank, dst_rank, path);
  double latency_s = 0.0;
  for (int link : path) latency_s += links_[size_t(link)].latency_s;
  return latency_s;
}

bool Network::regular() const {
  for (const HierarchyLevel& level : hierarchy_) {
    if (level.children < 0) return false;
    // Clusters are numbered in order of first rank, so consecutive ranks never go back.
    for (size_t r = 1; r < level.cluster_of_rank.size(); ++r)
      if (level.cluster_of_rank[r] < level.cluster_of_rank[r - 1]) return false;
  }
  return true;
}

}  // namespace loom::topo
