// Topology generators (topology_generators.h): single switch, leaf-spine, k-ary fat tree and DGX
// nodes, with sourced or explicitly assumed defaults, and the topology summary of the CLI.
#include "topo/topology_generators.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "core/error.h"

namespace loom::topo {

namespace {

// ---- CPU host defaults (all assumed: no datasheet describes "a core doing reductions") -----------

// One core of a current server CPU streams about 10-20 GB/s of reads plus writes (STREAM copy,
// single thread); the upper end, since a reduction streams without stores in between.
constexpr double kCpuMemoryBytesPerS = 20e9;
// One 256-bit float add per cycle at 2.5 GHz consumes 80 GB/s of one input; loads and loop
// overhead leave about half of that to one core.
constexpr double kCpuReduceBytesPerS = 40e9;
// Ranks of one CPU host exchange through shared memory: one core copying, about 10 GB/s, with
// about a microsecond to hand a buffer over (assumed).
constexpr double kCpuIntraBytesPerS = 10e9;
constexpr double kCpuIntraLatencyS = 1e-6;
// 100 Gb/s Ethernet or InfiniBand EDR host links: 100e9 / 8 bytes per second per direction.
constexpr double kCpuLinkBytesPerS = 100e9 / 8.0;
// One hop (NIC or switch) of a data-centre fabric: about a microsecond (assumed).
constexpr double kLinkLatencyS = 1e-6;

// ---- DGX H100 defaults -------------------------------------------------------------------------

// H100 SXM5 datasheet: HBM3 at 3.35 TB/s.
constexpr double kH100MemoryBytesPerS = 3.35e12;
// H100 SXM5 datasheet: 67 TFLOP/s dense FP32, one add of 4 bytes per FLOP.
constexpr double kH100ReduceBytesPerS = 67e12 * 4.0;
// H100 SXM5 datasheet: NVLink 4 at 900 GB/s per GPU in total, 450 GB/s per direction; the latency
// of one NVLink step through NCCL is assumed (as planner/cluster.cpp).
constexpr double kNvlinkBytesPerS = 450e9;
constexpr double kNvlinkLatencyS = 2e-6;
// DGX H100 datasheet: 8x ConnectX-7 at 400 Gb/s (NDR) for the compute fabric, one per GPU.
constexpr double kNdrBytesPerS = 400e9 / 8.0;
// NVIDIA Quantum-2 QM9700 datasheet: 64 ports of 400 Gb/s; half down and half up is the
// non-blocking split (assumed), so 32 rails per leaf.
constexpr int kLeafDownPorts = 32;
// Spines joining DGX leaves (assumed; only their total capacity, non-blocking, matters here).
constexpr int kDgxSpines = 4;

// Bounds that keep a mistyped size from building a network larger than the validator allows.
constexpr int kLargestCount = 1 << 20;
constexpr int kLargestFatTreeK = 64;

void check_count(const char* shape, const char* name, int value, int largest) {
  if (value < 1 || value > largest) throw_user_error("[{}] {}={} must be from 1 to {}", shape, name, value, largest);
}

void check_params(const char* shape, const TopologyParams& params) {
  const auto positive = [&](const char* name, double value) {
    if (!std::isfinite(value) || value <= 0.0)
      throw_user_error("[{}] {}={} must be > 0 and finite", shape, name, value);
  };
  positive("link_bandwidth_bytes_per_s", params.link_bandwidth_bytes_per_s);
  positive("memory_bandwidth_bytes_per_s", params.memory_bandwidth_bytes_per_s);
  positive("reduce_bytes_per_s", params.reduce_bytes_per_s);
  if (!std::isfinite(params.link_latency_s) || params.link_latency_s < 0.0 || params.link_latency_s > 1.0)
    throw_user_error("[{}] link_latency_s={} must be from 0 to 1 (seconds)", shape, params.link_latency_s);
  check_count(shape, "links_per_host", params.links_per_host, 1024);
  check_count(shape, "incast_threshold_flows", params.incast_threshold_flows, kLargestCount);
  if (!std::isfinite(params.incast_penalty_fraction) || params.incast_penalty_fraction < 0.0)
    throw_user_error("[{}] incast_penalty_fraction={} must be >= 0 and finite", shape, params.incast_penalty_fraction);
}

// "-g4" when hosts hold several devices, so that the name tells the rank count.
std::string devices_suffix(int devices_per_host) {
  return devices_per_host == 1 ? "" : fmt::format("-g{}", devices_per_host);
}

// A topology with the params' hosts, incast and name, and no switches or links yet.
Topology with_hosts(const std::string& shape_name, int hosts, int devices_per_host, const std::string& host_prefix,
                    const TopologyParams& params) {
  Topology topology;
  topology.name = params.name.empty() ? shape_name : params.name;
  for (int h = 0; h < hosts; ++h)
    topology.hosts.push_back({fmt::format("{}{}", host_prefix, h), devices_per_host,
                              params.memory_bandwidth_bytes_per_s, params.reduce_bytes_per_s,
                              devices_per_host > 1 ? params.intra_bandwidth_bytes_per_s : 0.0,
                              devices_per_host > 1 ? params.intra_latency_s : 0.0});
  topology.incast.threshold_flows = params.incast_threshold_flows;
  topology.incast.penalty_s_per_byte = params.incast_penalty_fraction / params.link_bandwidth_bytes_per_s;
  topology.source =
      "generated by loom (topo/topology_generators.cpp): host and link figures as documented there; incast "
      "threshold and penalty assumed, to be replaced by a fit";
  return topology;
}

void link_host(Topology& topology, int host, const std::string& leaf, const TopologyParams& params) {
  for (int rail = 0; rail < params.links_per_host; ++rail)
    topology.links.push_back(
        {topology.hosts[size_t(host)].name, leaf, params.link_bandwidth_bytes_per_s, params.link_latency_s});
}

// Hosts filled leaf by leaf (the last leaf may hold fewer), every leaf linked to every spine with
// the leaf's uplink capacity split evenly; no spine when there is one leaf.
void add_leaf_spine(Topology& topology, int hosts_per_leaf, double oversubscription, int spines,
                    const TopologyParams& params) {
  const int hosts = int(topology.hosts.size());
  const int leaves = (hosts + hosts_per_leaf - 1) / hosts_per_leaf;
  for (int l = 0; l < leaves; ++l) topology.switches.push_back({fmt::format("leaf{}", l), 1});
  for (int h = 0; h < hosts; ++h) link_host(topology, h, fmt::format("leaf{}", h / hosts_per_leaf), params);
  if (leaves == 1) return;
  for (int s = 0; s < spines; ++s) topology.switches.push_back({fmt::format("spine{}", s), 2});
  const double uplink_bytes_per_s =
      double(hosts_per_leaf) * params.links_per_host * params.link_bandwidth_bytes_per_s / oversubscription;
  for (int l = 0; l < leaves; ++l)
    for (int s = 0; s < spines; ++s)
      topology.links.push_back(
          {fmt::format("leaf{}", l), fmt::format("spine{}", s), uplink_bytes_per_s / spines, params.link_latency_s});
}

// ---- describe ----------------------------------------------------------------------------------

std::string format_rate(double bytes_per_s) {
  if (bytes_per_s >= 1e12) return fmt::format("{:.4g} TB/s", bytes_per_s / 1e12);
  if (bytes_per_s >= 1e9) return fmt::format("{:.4g} GB/s", bytes_per_s / 1e9);
  return fmt::format("{:.4g} MB/s", bytes_per_s / 1e6);
}

std::string format_latency(double seconds) {
  return fmt::format("{:.3g} us", seconds * 1e6);
}

// "a" when every value is the same, "a to b" otherwise.
template <typename Format>
std::string value_range(const std::vector<double>& values, Format format) {
  if (values.empty()) return "none";
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  return *low == *high ? format(*low) : format(*low) + " to " + format(*high);
}

}  // namespace

TopologyParams cpu_topology_params() {
  TopologyParams params;
  params.memory_bandwidth_bytes_per_s = kCpuMemoryBytesPerS;
  params.reduce_bytes_per_s = kCpuReduceBytesPerS;
  params.intra_bandwidth_bytes_per_s = kCpuIntraBytesPerS;
  params.intra_latency_s = kCpuIntraLatencyS;
  params.link_bandwidth_bytes_per_s = kCpuLinkBytesPerS;
  params.link_latency_s = kLinkLatencyS;
  return params;
}

TopologyParams dgx_topology_params(int gpus_per_node) {
  TopologyParams params;
  params.memory_bandwidth_bytes_per_s = kH100MemoryBytesPerS;
  params.reduce_bytes_per_s = kH100ReduceBytesPerS;
  params.intra_bandwidth_bytes_per_s = kNvlinkBytesPerS;
  params.intra_latency_s = kNvlinkLatencyS;
  params.link_bandwidth_bytes_per_s = kNdrBytesPerS;
  params.link_latency_s = kLinkLatencyS;
  params.links_per_host = std::max(gpus_per_node, 1);
  return params;
}

Topology single_switch_topology(int hosts, int devices_per_host, const TopologyParams& params) {
  check_count("single-switch", "hosts", hosts, kLargestCount);
  check_count("single-switch", "devices_per_host", devices_per_host, 4096);
  check_params("single-switch", params);
  Topology topology = with_hosts(fmt::format("single-switch-{}{}", hosts, devices_suffix(devices_per_host)), hosts,
                                 devices_per_host, "h", params);
  topology.switches.push_back({"switch0", 1});
  for (int h = 0; h < hosts; ++h) link_host(topology, h, "switch0", params);
  topology.notes = fmt::format("{} hosts on one non-blocking switch, {} rank(s) per host", hosts, devices_per_host);
  return topology;
}

Topology leaf_spine_topology(int leaves, int hosts_per_leaf, double oversubscription, int spines, int devices_per_host,
                             const TopologyParams& params) {
  check_count("leaf-spine", "leaves", leaves, kLargestCount);
  check_count("leaf-spine", "hosts_per_leaf", hosts_per_leaf, kLargestCount);
  check_count("leaf-spine", "spines", spines, 4096);
  check_count("leaf-spine", "devices_per_host", devices_per_host, 4096);
  if (!std::isfinite(oversubscription) || oversubscription <= 0.0)
    throw_user_error("[leaf-spine] oversubscription={} must be > 0 (1: non-blocking, 2, 4, ...)", oversubscription);
  if (double(leaves) * hosts_per_leaf > kLargestCount)
    throw_user_error("[leaf-spine] leaves={} x hosts_per_leaf={} is over {} hosts", leaves, hosts_per_leaf,
                     kLargestCount);
  check_params("leaf-spine", params);
  Topology topology = with_hosts(fmt::format("leaf-spine-{}x{}-os{:g}{}", leaves, hosts_per_leaf, oversubscription,
                                             devices_suffix(devices_per_host)),
                                 leaves * hosts_per_leaf, devices_per_host, "h", params);
  add_leaf_spine(topology, hosts_per_leaf, oversubscription, spines, params);
  topology.notes = leaves == 1 ? fmt::format("one leaf of {} hosts (no spine needed)", hosts_per_leaf)
                               : fmt::format("{} leaves of {} hosts, {} spines, oversubscription {:g}:1", leaves,
                                             hosts_per_leaf, spines, oversubscription);
  return topology;
}

Topology fat_tree_topology(int k, int devices_per_host, const TopologyParams& params) {
  if (k < 2 || k > kLargestFatTreeK || k % 2 != 0)
    throw_user_error("[fat-tree] k={} must be even, from 2 to {} (k^3/4 hosts; 16: 1024 hosts)", k, kLargestFatTreeK);
  check_count("fat-tree", "devices_per_host", devices_per_host, 4096);
  check_params("fat-tree", params);
  const int half = k / 2;
  Topology topology = with_hosts(fmt::format("fat-tree-k{}{}", k, devices_suffix(devices_per_host)), k * half * half,
                                 devices_per_host, "h", params);
  const double bandwidth = params.link_bandwidth_bytes_per_s * params.links_per_host;
  const auto edge = [](int pod, int e) { return fmt::format("pod{}-edge{}", pod, e); };
  const auto aggregation = [](int pod, int a) { return fmt::format("pod{}-agg{}", pod, a); };
  const auto core = [](int c) { return fmt::format("core{}", c); };
  for (int pod = 0; pod < k; ++pod)
    for (int e = 0; e < half; ++e) topology.switches.push_back({edge(pod, e), 1});
  for (int pod = 0; pod < k; ++pod)
    for (int a = 0; a < half; ++a) topology.switches.push_back({aggregation(pod, a), 2});
  for (int c = 0; c < half * half; ++c) topology.switches.push_back({core(c), 3});
  // Hosts pod by pod, edge by edge; edge e of a pod reaches every aggregation switch of the pod;
  // aggregation switch a of every pod reaches cores a * k/2 .. a * k/2 + k/2 - 1.
  for (int h = 0; h < k * half * half; ++h) link_host(topology, h, edge(h / (half * half), (h / half) % half), params);
  for (int pod = 0; pod < k; ++pod)
    for (int e = 0; e < half; ++e)
      for (int a = 0; a < half; ++a)
        topology.links.push_back({edge(pod, e), aggregation(pod, a), bandwidth, params.link_latency_s});
  for (int pod = 0; pod < k; ++pod)
    for (int a = 0; a < half; ++a)
      for (int c = 0; c < half; ++c)
        topology.links.push_back({aggregation(pod, a), core(a * half + c), bandwidth, params.link_latency_s});
  topology.notes = fmt::format("{}-ary fat tree: {} pods of {} edge and {} aggregation switches, {} cores, {} hosts", k,
                               k, half, half, half * half, k * half * half);
  return topology;
}

Topology dgx_topology(int nodes, int gpus_per_node, TopologyParams params) {
  check_count("dgx", "nodes", nodes, kLargestCount);
  check_count("dgx", "gpus_per_node", gpus_per_node, 4096);
  params.links_per_host = gpus_per_node;
  check_params("dgx", params);
  const int nodes_per_leaf = std::max(1, kLeafDownPorts / gpus_per_node);
  Topology topology = with_hosts(fmt::format("dgx-{}x{}", nodes, gpus_per_node), nodes, gpus_per_node, "dgx", params);
  add_leaf_spine(topology, nodes_per_leaf, 1.0, kDgxSpines, params);
  topology.notes = fmt::format(
      "{} DGX H100-class nodes of {} GPUs on NVLink, one 400 Gb/s rail per GPU, {} nodes per leaf{}", nodes,
      gpus_per_node, nodes_per_leaf, nodes > nodes_per_leaf ? fmt::format(", {} non-blocking spines", kDgxSpines) : "");
  topology.source =
      "H100 SXM5 and DGX H100 datasheets (HBM3 3.35 TB/s, FP32 67 TFLOP/s, NVLink 450 GB/s per direction, 8x "
      "400 Gb/s ConnectX-7), Quantum-2 QM9700 (64 ports); latencies, spines and incast assumed "
      "(topo/topology_generators.cpp)";
  return topology;
}

std::string describe_topology(const Network& network) {
  const Topology& topology = network.topology();
  std::string text;
  std::vector<double> devices;
  for (const HostSpec& host : topology.hosts) devices.push_back(host.devices);
  text += fmt::format("topology {}: {} hosts, {} ranks ({} per host)\n", topology.name, topology.hosts.size(),
                      network.ranks(), value_range(devices, [](double v) { return fmt::format("{:g}", v); }));

  std::map<int, int> switches_per_level;
  for (const SwitchSpec& sw : topology.switches) ++switches_per_level[sw.level];
  std::string levels;
  for (const auto& [level, count] : switches_per_level)
    levels += fmt::format("{}level {}: {}", levels.empty() ? "" : ", ", level, count);
  text += fmt::format("switches: {}{}; links: {} ({} directed)\n", topology.switches.size(),
                      levels.empty() ? "" : " (" + levels + ")", topology.links.size(), network.links().size());

  std::vector<double> memory, reduce, intra;
  for (const HostSpec& host : topology.hosts) {
    memory.push_back(host.memory_bandwidth_bytes_per_s);
    reduce.push_back(host.reduce_bytes_per_s);
    if (host.devices > 1) intra.push_back(host.intra_bandwidth_bytes_per_s);
  }
  text += fmt::format("per device: memory {}, reduce {}{}\n", value_range(memory, format_rate),
                      value_range(reduce, format_rate),
                      intra.empty() ? "" : ", between devices " + value_range(intra, format_rate));

  // Capacity into each switch from below and out of it above, and the host links.
  std::map<std::string, double> below_bytes_per_s, above_bytes_per_s;
  std::map<std::string, int> level_of;
  for (const SwitchSpec& sw : topology.switches) level_of[sw.name] = sw.level;
  std::vector<double> host_link_bandwidth, host_link_latency;
  for (const LinkSpec& link : topology.links) {
    below_bytes_per_s[link.to] += link.bandwidth_bytes_per_s;
    if (level_of.count(link.from)) {
      above_bytes_per_s[link.from] += link.bandwidth_bytes_per_s;
    } else {
      host_link_bandwidth.push_back(link.bandwidth_bytes_per_s);
      host_link_latency.push_back(link.latency_s);
    }
  }
  if (!host_link_bandwidth.empty())
    text += fmt::format("host links: {} ({} Gb/s) per direction, {}, {} in all\n",
                        value_range(host_link_bandwidth, format_rate),
                        value_range(host_link_bandwidth, [](double v) { return fmt::format("{:.4g}", v * 8 / 1e9); }),
                        value_range(host_link_latency, format_latency), host_link_bandwidth.size());
  for (const auto& [level, count] : switches_per_level) {
    std::vector<double> ratios;
    for (const SwitchSpec& sw : topology.switches)
      if (sw.level == level && above_bytes_per_s.count(sw.name))
        ratios.push_back(below_bytes_per_s[sw.name] / above_bytes_per_s[sw.name]);
    if (!ratios.empty())
      text += fmt::format("oversubscription at level {}: {} (capacity below / capacity above, per switch)\n", level,
                          value_range(ratios, [](double v) { return fmt::format("{:.3g}:1", v); }));
  }
  const double host_link = host_link_bandwidth.empty() ? 0.0 : host_link_bandwidth.front();
  text += fmt::format(
      "incast: {} flows into a host before a penalty of {:.3g} s/byte per extra flow{}\n",
      topology.incast.threshold_flows, topology.incast.penalty_s_per_byte,
      host_link > 0.0 ? fmt::format(" ({:.3g} x the host link's beta)", topology.incast.penalty_s_per_byte * host_link)
                      : "");
  std::string hierarchy;
  for (const HierarchyLevel& level : network.hierarchy())
    hierarchy += fmt::format("{}{} {} x {}", hierarchy.empty() ? "" : ", ", level.name, level.clusters,
                             level.children < 0 ? std::string("uneven") : std::to_string(level.children));
  text += fmt::format("hierarchy: {} ({})\n", hierarchy, network.regular() ? "regular" : "irregular");
  if (!topology.notes.empty()) text += "notes: " + topology.notes + "\n";
  if (!topology.source.empty()) text += "source: " + topology.source + "\n";
  return text;
}

}  // namespace loom::topo
