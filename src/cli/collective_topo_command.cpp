// loom collective topo: generate a topology of a common shape (or read one from a file), check
// it, print its summary (or with --json the topology itself) and with --out write it atomically.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "core/error.h"
#include "topo/network.h"
#include "topo/topology.h"
#include "topo/topology_generators.h"

namespace loom::cli {

namespace {

struct TopoFlags {
  std::string shape;
  std::string topology_path;
  int hosts = 8;
  int devices_per_host = 0;  // 0: the shape's default (1, or 8 GPUs for dgx)
  int leaves = 4;
  int hosts_per_leaf = 8;
  int spines = 4;
  double oversubscription = 1.0;
  int k = 4;
  int nodes = 2;
  std::string name;
  // Overrides of the shape's defaults (topology_generators.cpp).
  std::optional<double> link_gbps;
  std::optional<double> link_latency_us;
  std::optional<int> incast_threshold;
  std::optional<double> incast_penalty_fraction;
  std::string out;
  bool json = false;
};

topo::Topology generate(const TopoFlags& flags) {
  const bool dgx = flags.shape == "dgx";
  const int devices = flags.devices_per_host > 0 ? flags.devices_per_host : (dgx ? 8 : 1);
  if (flags.devices_per_host < 0)
    throw_user_error("--devices-per-host={} must be >= 1 (0: the shape's default)", flags.devices_per_host);
  topo::TopologyParams params = dgx ? topo::dgx_topology_params(devices) : topo::cpu_topology_params();
  params.name = flags.name;
  // The generators and the validator check the values and name them.
  if (flags.link_gbps) params.link_bandwidth_bytes_per_s = *flags.link_gbps * 1e9 / 8.0;
  if (flags.link_latency_us) params.link_latency_s = *flags.link_latency_us * 1e-6;
  if (flags.incast_threshold) params.incast_threshold_flows = *flags.incast_threshold;
  if (flags.incast_penalty_fraction) params.incast_penalty_fraction = *flags.incast_penalty_fraction;
  if (flags.shape == "single-switch") return topo::single_switch_topology(flags.hosts, devices, params);
  if (flags.shape == "leaf-spine")
    return topo::leaf_spine_topology(flags.leaves, flags.hosts_per_leaf, flags.oversubscription, flags.spines, devices,
                                     params);
  if (flags.shape == "fat-tree") return topo::fat_tree_topology(flags.k, devices, params);
  if (dgx) return topo::dgx_topology(flags.nodes, devices, params);
  throw_user_error("--shape={} is not a topology shape (valid: single-switch, leaf-spine, fat-tree, dgx)",
                   nlohmann::json(flags.shape).dump());
}

void run_topo(const TopoFlags& flags) {
  if (flags.shape.empty() == flags.topology_path.empty())
    throw_user_error(
        "loom collective topo needs exactly one of --shape (single-switch, leaf-spine, fat-tree, dgx) "
        "and --topology FILE");
  const topo::Topology topology =
      flags.topology_path.empty() ? generate(flags) : topo::load_topology(flags.topology_path);
  const topo::Network network(topology);  // validates, and checks that every pair of hosts has a route
  if (!flags.out.empty()) topo::write_topology(topology, flags.out);
  if (flags.json) {
    fmt::print("{}\n", topo::topology_to_json(topology).dump(2));
    return;
  }
  fmt::print("{}", topo::describe_topology(network));
  if (!flags.out.empty()) fmt::print("wrote {}\n", flags.out);
}

}  // namespace

void add_collective_topo_command(CLI::App& collective) {
  auto flags = std::make_shared<TopoFlags>();
  CLI::App* command =
      collective.add_subcommand("topo", "Generate a network topology (or check a topology file) and print its summary");
  command->add_option("--shape", flags->shape, "single-switch, leaf-spine, fat-tree or dgx");
  command->add_option("--topology", flags->topology_path, "Read, check and print this topology file instead");
  command->add_option("--hosts", flags->hosts, "single-switch: hosts")->capture_default_str();
  command->add_option("--devices-per-host", flags->devices_per_host,
                      "Ranks per host (default 1; dgx: GPUs per node, default 8)");
  command->add_option("--leaves", flags->leaves, "leaf-spine: leaf switches")->capture_default_str();
  command->add_option("--hosts-per-leaf", flags->hosts_per_leaf, "leaf-spine: hosts per leaf")->capture_default_str();
  command->add_option("--spines", flags->spines, "leaf-spine: spine switches")->capture_default_str();
  command
      ->add_option("--oversubscription", flags->oversubscription,
                   "leaf-spine: leaf capacity below / above (1, 2, 4, ...)")
      ->capture_default_str();
  command->add_option("--k", flags->k, "fat-tree: switch radix k (even; k^3/4 hosts)")->capture_default_str();
  command->add_option("--nodes", flags->nodes, "dgx: DGX nodes")->capture_default_str();
  command->add_option("--name", flags->name, "Topology name (default: from the shape, e.g. leaf-spine-4x8-os2)");
  command->add_option("--link-gbps", flags->link_gbps, "Host link bandwidth in Gb/s (default: 100, dgx 400)");
  command->add_option("--link-latency-us", flags->link_latency_us, "Latency of every link in us (default: 1)");
  command->add_option("--incast-threshold", flags->incast_threshold,
                      "Flows into a host before the penalty (default 4)");
  command->add_option("--incast-penalty-fraction", flags->incast_penalty_fraction,
                      "Incast penalty per extra flow as a fraction of the host link's beta (default 0.25)");
  command->add_option("--out", flags->out, "Write the topology file here (atomically)");
  command->add_flag("--json", flags->json, "Print the topology JSON instead of the summary");
  command->callback([flags] { run_topo(*flags); });
}

}  // namespace loom::cli
