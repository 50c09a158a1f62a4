// Topology generators: the common shapes as valid Topology values (topology.h), and a summary of
// a network for reports. The hosts and links of every shape come from one TopologyParams, whose
// defaults describe a CPU host on a 100 Gb/s network (cpu_topology_params) or a DGX H100 node
// (dgx_topology_params); the CLI overrides single fields. Every default is sourced or marked as
// assumed in topology_generators.cpp.
#pragma once

#include <string>

#include "topo/network.h"
#include "topo/topology.h"

namespace loom::topo {

struct TopologyParams {
  // Per device (HostSpec): memory traffic and reduction arithmetic rates.
  double memory_bandwidth_bytes_per_s = 0.0;
  double reduce_bytes_per_s = 0.0;
  // Between the devices of one host (used when a host has several).
  double intra_bandwidth_bytes_per_s = 0.0;
  double intra_latency_s = 0.0;
  // Every host link, per direction; switch links take their bandwidth from the shape.
  double link_bandwidth_bytes_per_s = 0.0;
  double link_latency_s = 0.0;  // every link, host or switch
  int links_per_host = 1;       // rails: device d uses link d mod links_per_host
  // Incast: penalty_s_per_byte = incast_penalty_fraction x (1 / link_bandwidth_bytes_per_s).
  int incast_threshold_flows = 4;
  double incast_penalty_fraction = 0.25;
  std::string name;  // empty: the shape's own name ("leaf-spine-4x8-os2")
};

// A CPU server: one rank per core, 100 Gb/s Ethernet-class host links.
TopologyParams cpu_topology_params();
// A DGX H100 node: NVLink/NVSwitch inside, one 400 Gb/s NIC (rail) per GPU.
TopologyParams dgx_topology_params(int gpus_per_node = 8);

// `hosts` hosts on one switch ("single-switch-8").
Topology single_switch_topology(int hosts, int devices_per_host = 1,
                                const TopologyParams& params = cpu_topology_params());
// `leaves` leaf switches of `hosts_per_leaf` hosts each, every leaf linked to every spine. A leaf's
// uplink capacity is hosts_per_leaf x links_per_host x link bandwidth / oversubscription, split
// evenly over the spines ("leaf-spine-4x8-os2"). One leaf needs no spine and gets none.
Topology leaf_spine_topology(int leaves, int hosts_per_leaf, double oversubscription = 1.0, int spines = 4,
                             int devices_per_host = 1, const TopologyParams& params = cpu_topology_params());
// Three-level k-ary fat tree (k even): k pods of k/2 edge and k/2 aggregation switches, (k/2)^2
// core switches, k/2 hosts per edge switch (k^3/4 hosts), every link at the host link's bandwidth
// ("fat-tree-k16": 1024 hosts).
Topology fat_tree_topology(int k, int devices_per_host = 1, const TopologyParams& params = cpu_topology_params());
// DGX nodes: `gpus_per_node` GPUs on NVLink, one rail per GPU to the node's leaf switch; as many
// nodes per leaf as its ports allow, leaves joined by non-blocking spines when there are several
// ("dgx-4x8"). params.links_per_host is taken as gpus_per_node.
Topology dgx_topology(int nodes, int gpus_per_node = 8, TopologyParams params = dgx_topology_params());

// Several lines for the CLI: hosts, ranks, switches per level, links, each switch level's
// oversubscription (capacity below / capacity above), host links, incast, hierarchy.
std::string describe_topology(const Network& network);

}  // namespace loom::topo
