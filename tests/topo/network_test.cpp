// Network: routes (length, levels, continuity, D-mod-k spread, rails, hubs), latency and the
// hierarchy of every generator's topology.
#include "topo/network.h"

#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "topo/topology_generators.h"

namespace loom::topo {
namespace {

std::vector<int> route_of(const Network& network, int src, int dst) {
  std::vector<int> path;
  network.route(src, dst, path);
  return path;
}

std::vector<int> levels_of(const Network& network, const std::vector<int>& path) {
  std::vector<int> levels;
  for (int link : path) levels.push_back(network.links()[size_t(link)].level);
  return levels;
}

// Consecutive links meet, and only the last one ends at a host or a device.
void expect_connected_path(const Network& network, const std::vector<int>& path) {
  ASSERT_FALSE(path.empty());
  for (size_t i = 0; i + 1 < path.size(); ++i)
    EXPECT_EQ(network.links()[size_t(path[i])].to_vertex, network.links()[size_t(path[i + 1])].from_vertex);
  EXPECT_TRUE(network.links()[size_t(path.back())].into_host);
}

void expect_level(const HierarchyLevel& level, const std::string& name, int clusters, int children) {
  EXPECT_EQ(level.name, name);
  EXPECT_EQ(level.clusters, clusters) << name;
  EXPECT_EQ(level.children, children) << name;
}

TEST(TopoNetwork, SingleSwitchRoutesThroughTwoLinks) {
  const Network network(single_switch_topology(4));
  EXPECT_EQ(network.ranks(), 4);
  EXPECT_EQ(network.links().size(), 8u);
  const std::vector<int> path = route_of(network, 0, 3);
  ASSERT_EQ(path.size(), 2u);
  EXPECT_EQ(path[0], 0);  // h0 -> switch0, LinkSpec 0 upward
  EXPECT_EQ(path[1], 7);  // switch0 -> h3, LinkSpec 3 downward
  EXPECT_EQ(levels_of(network, path), (std::vector<int>{1, 1}));
  EXPECT_FALSE(network.links()[0].into_host);
  EXPECT_TRUE(network.links()[7].into_host);
  EXPECT_EQ(network.links()[7].to_vertex, 3);
  EXPECT_DOUBLE_EQ(network.path_latency_s(0, 3), 2e-6);
}

TEST(TopoNetwork, LeafSpineRoutesTwoLinksInALeafAndFourAcross) {
  const Network network(leaf_spine_topology(2, 4, 1.0, 2));
  EXPECT_EQ(levels_of(network, route_of(network, 0, 3)), (std::vector<int>{1, 1}));
  EXPECT_EQ(levels_of(network, route_of(network, 0, 4)), (std::vector<int>{1, 2, 2, 1}));
  for (int src = 0; src < network.ranks(); ++src)
    for (int dst = 0; dst < network.ranks(); ++dst)
      if (src != dst) expect_connected_path(network, route_of(network, src, dst));
}

TEST(TopoNetwork, FatTreeRoutesTwoFourAndSixLinks) {
  const Network network(fat_tree_topology(4));  // 2 hosts per edge, 4 per pod
  EXPECT_EQ(route_of(network, 0, 1).size(), 2u);
  EXPECT_EQ(levels_of(network, route_of(network, 0, 2)), (std::vector<int>{1, 2, 2, 1}));
  EXPECT_EQ(levels_of(network, route_of(network, 0, 4)), (std::vector<int>{1, 2, 3, 3, 2, 1}));
  EXPECT_EQ(route_of(network, 15, 0).size(), 6u);
  for (int src = 0; src < network.ranks(); ++src)
    for (int dst = 0; dst < network.ranks(); ++dst)
      if (src != dst) expect_connected_path(network, route_of(network, src, dst));
}

TEST(TopoNetwork, DevicesOfOneHostMeetAtTheHub) {
  const Network network(single_switch_topology(2, 2));
  ASSERT_EQ(network.ranks(), 4);
  EXPECT_EQ(network.host_of_rank(3), 1);
  EXPECT_EQ(network.device_of_rank(3), 1);
  const std::vector<int> inside = route_of(network, 0, 1);
  ASSERT_EQ(inside.size(), 2u);
  EXPECT_EQ(levels_of(network, inside), (std::vector<int>{0, 0}));
  EXPECT_FALSE(network.links()[size_t(inside[0])].into_host);
  EXPECT_TRUE(network.links()[size_t(inside[1])].into_host);
  EXPECT_EQ(network.links()[size_t(inside[0])].to_vertex, 0);  // the hub is the host's vertex
  EXPECT_DOUBLE_EQ(network.path_latency_s(0, 1), network.topology().hosts[0].intra_latency_s);
  const std::vector<int> across = route_of(network, 1, 2);
  EXPECT_EQ(levels_of(network, across), (std::vector<int>{0, 1, 1, 0}));
  expect_connected_path(network, across);
  // A lone host with no network at all.
  Topology lone;
  lone.name = "lone";
  lone.hosts.push_back({"h0", 3, 1e10, 1e10, 5e9, 1e-6});
  const Network alone(lone);
  EXPECT_EQ(route_of(alone, 2, 0).size(), 2u);
  ASSERT_EQ(alone.hierarchy().size(), 1u);
  expect_level(alone.hierarchy()[0], "host", 1, 3);
  EXPECT_TRUE(alone.regular());
}

TEST(TopoNetwork, DeviceDUsesRailDModLinks) {
  const Network network(dgx_topology(2, 8));  // LinkSpec 8 n + d: rail d of node n
  for (int gpu = 0; gpu < 8; ++gpu) {
    const std::vector<int> path = route_of(network, gpu, 8 + gpu);
    ASSERT_EQ(path.size(), 4u);  // device -> hub -> leaf -> hub -> device
    EXPECT_EQ(levels_of(network, path), (std::vector<int>{0, 1, 1, 0}));
    EXPECT_EQ(path[1], 2 * gpu);
    EXPECT_EQ(path[2], 2 * (8 + gpu) + 1);
  }
  TopologyParams params = cpu_topology_params();
  params.links_per_host = 2;
  const Network two_rails(single_switch_topology(2, 3, params));  // LinkSpecs h0: 0, 1; h1: 2, 3
  EXPECT_EQ(route_of(two_rails, 2, 3)[1], 0);                     // device 2 of h0: rail 0
  EXPECT_EQ(route_of(two_rails, 1, 4)[1], 2);                     // device 1 of h0: rail 1
  EXPECT_EQ(route_of(two_rails, 1, 4)[2], 2 * 3 + 1);             // device 1 of h1: rail 1
}

TEST(TopoNetwork, DestinationModKSpreadsOverEverySpine) {
  const int spines = 4;
  const Network network(leaf_spine_topology(3, 8, 1.0, spines));
  const int first_spine_vertex = 24 + 3;  // hosts, then leaves
  for (int src = 0; src < 8; ++src) {
    std::set<int> used;
    for (int dst = 8; dst < 16; ++dst) {
      const std::vector<int> path = route_of(network, src, dst);
      ASSERT_EQ(path.size(), 4u);
      used.insert(network.links()[size_t(path[1])].to_vertex);
    }
    EXPECT_EQ(used.size(), size_t(spines));
    for (int spine : used) EXPECT_GE(spine, first_spine_vertex);
  }
  // A fat tree: one host reaches the other pods through every core.
  const Network fat_tree(fat_tree_topology(4));
  std::set<int> cores;
  for (int dst = 4; dst < 16; ++dst) cores.insert(fat_tree.links()[size_t(route_of(fat_tree, 0, dst)[2])].to_vertex);
  EXPECT_EQ(cores.size(), 4u);
}

TEST(TopoNetwork, LargeFatTreeRoutesStayShort) {
  const Network network(fat_tree_topology(16));
  ASSERT_EQ(network.ranks(), 1024);
  std::vector<int> path;
  for (int dst = 1; dst < network.ranks(); ++dst) {
    path.clear();
    network.route(0, dst, path);
    EXPECT_LE(path.size(), 6u);
    EXPECT_EQ(path.size() % 2, 0u);
  }
}

TEST(TopoNetwork, HierarchyOfEveryGenerator) {
  const Network single(single_switch_topology(8));
  ASSERT_EQ(single.hierarchy().size(), 2u);
  expect_level(single.hierarchy()[0], "host", 8, 1);
  expect_level(single.hierarchy()[1], "leaf", 1, 8);
  EXPECT_TRUE(single.regular());

  const Network leaf_spine(leaf_spine_topology(4, 8, 2.0));
  ASSERT_EQ(leaf_spine.hierarchy().size(), 3u);
  expect_level(leaf_spine.hierarchy()[0], "host", 32, 1);
  expect_level(leaf_spine.hierarchy()[1], "leaf", 4, 8);
  expect_level(leaf_spine.hierarchy()[2], "spine", 1, 4);
  EXPECT_EQ(leaf_spine.hierarchy()[1].cluster_of_rank[9], 1);
  EXPECT_TRUE(leaf_spine.regular());

  const Network fat_tree(fat_tree_topology(4));
  ASSERT_EQ(fat_tree.hierarchy().size(), 4u);
  expect_level(fat_tree.hierarchy()[0], "host", 16, 1);
  expect_level(fat_tree.hierarchy()[1], "leaf", 8, 2);
  expect_level(fat_tree.hierarchy()[2], "pod", 4, 2);
  expect_level(fat_tree.hierarchy()[3], "core", 1, 4);
  EXPECT_TRUE(fat_tree.regular());

  const Network dgx(dgx_topology(2));
  ASSERT_EQ(dgx.hierarchy().size(), 2u);
  expect_level(dgx.hierarchy()[0], "host", 2, 8);
  expect_level(dgx.hierarchy()[1], "leaf", 1, 2);
  EXPECT_EQ(dgx.hierarchy()[0].cluster_of_rank[9], 1);
  EXPECT_TRUE(dgx.regular());

  const Network uneven(dgx_topology(9));  // leaves of 4, 4 and 1 nodes
  ASSERT_EQ(uneven.hierarchy().size(), 3u);
  expect_level(uneven.hierarchy()[1], "leaf", 3, -1);
  expect_level(uneven.hierarchy()[2], "spine", 1, 3);
  EXPECT_FALSE(uneven.regular());

  // One host per leaf: the leaf level joins nothing and is left out.
  const Network one_per_leaf(leaf_spine_topology(4, 1));
  ASSERT_EQ(one_per_leaf.hierarchy().size(), 2u);
  expect_level(one_per_leaf.hierarchy()[1], "spine", 1, 4);
}

TEST(TopoNetwork, InterleavedLeavesAreNotRegular) {
  Topology topology = single_switch_topology(4);
  topology.switches = {{"leaf0", 1}, {"leaf1", 1}, {"spine0", 2}};
  for (size_t h = 0; h < 4; ++h) topology.links[h].to = h % 2 == 0 ? "leaf0" : "leaf1";
  topology.links.push_back({"leaf0", "spine0", 25e9, 1e-6});
  topology.links.push_back({"leaf1", "spine0", 25e9, 1e-6});
  const Network network(topology);
  expect_level(network.hierarchy()[1], "leaf", 2, 2);
  EXPECT_EQ(network.hierarchy()[1].cluster_of_rank, (std::vector<int>{0, 1, 0, 1}));
  EXPECT_FALSE(network.regular());
}

TEST(TopoNetwork, RejectsTopologiesWithoutAnUpDownRoute) {
  Topology topology = leaf_spine_topology(3, 2, 1.0, 2);
  // leaf0 only reaches spine0 and leaf1 only spine1: connected through leaf2, but not up/down.
  std::vector<LinkSpec> links;
  for (const LinkSpec& link : topology.links)
    if (!(link.from == "leaf0" && link.to == "spine1") && !(link.from == "leaf1" && link.to == "spine0"))
      links.push_back(link);
  topology.links = links;
  try {
    Network network(topology);
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("leaf0 and leaf1 have no switch above both"), std::string::npos) << e.what();
  }
  topology.hosts[0].devices = 0;
  EXPECT_THROW(Network{topology}, UserError);
}

}  // namespace
}  // namespace loom::topo
