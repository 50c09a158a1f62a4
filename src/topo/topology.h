// Topology: the network a collective runs on, as GenTree sees it. Hosts carry devices (one rank
// per device); hosts hang off leaf switches, switches sit in levels (1 = leaf, 2 = spine or
// aggregation, 3 = core) and links join a host to a switch or a switch to a switch of the next
// level. One JSON format (docs/gentree.md) with one parser, one validator and one writer, and
// generators for the common shapes (topology_generators.h).
//
//   {"version": 1, "name": "leaf-spine-4x8-os2",
//    "hosts": [{"name": "h0", "devices": 1, "memory_bandwidth_bytes_per_s": 2e10,
//               "reduce_bytes_per_s": 1e10, "intra_bandwidth_bytes_per_s": 0, "intra_latency_s": 0}, ...],
//    "switches": [{"name": "leaf0", "level": 1}, {"name": "spine0", "level": 2}, ...],
//    "links": [{"from": "h0", "to": "leaf0", "bandwidth_bytes_per_s": 1.25e10, "latency_s": 1e-6}, ...],
//    "incast": {"threshold_flows": 4, "penalty_s_per_byte": 2e-11},
//    "notes": "...", "source": "..."}
//
// Ranks are numbered host by host in file order, devices in order inside a host.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace loom::topo {

struct HostSpec {
  std::string name;
  int devices = 1;  // ranks on this host
  // Per device: bytes read plus written per second when reducing or copying (delta = 1 / this).
  double memory_bandwidth_bytes_per_s = 0.0;
  // Per device: bytes reduced per second by the arithmetic alone (gamma = 1 / this).
  double reduce_bytes_per_s = 0.0;
  // Between two devices of this host (NVLink, shared memory), per device per direction; unused
  // (and may be 0) when devices == 1.
  double intra_bandwidth_bytes_per_s = 0.0;
  double intra_latency_s = 0.0;

  bool operator==(const HostSpec&) const = default;
};

struct SwitchSpec {
  std::string name;
  int level = 1;  // 1: hosts attach here; n + 1: above level n

  bool operator==(const SwitchSpec&) const = default;
};

// A full-duplex link: each direction carries bandwidth_bytes_per_s on its own. A host may have
// several links (NICs, "rails"): device d of a host uses the host's (d mod links)-th link, in
// file order.
struct LinkSpec {
  std::string from;  // a host or a switch
  std::string to;    // a switch
  double bandwidth_bytes_per_s = 0.0;
  double latency_s = 0.0;

  bool operator==(const LinkSpec&) const = default;
};

// GenModel's incast term: a receiving link that w flows converge on carries each byte at
// beta + max(w - threshold_flows, 0) * penalty_s_per_byte.
struct IncastSpec {
  int threshold_flows = 1;          // w_t
  double penalty_s_per_byte = 0.0;  // epsilon

  bool operator==(const IncastSpec&) const = default;
};

struct Topology {
  std::string name;
  std::vector<HostSpec> hosts;
  std::vector<SwitchSpec> switches;
  std::vector<LinkSpec> links;
  IncastSpec incast;
  std::string notes;
  std::string source;

  int ranks() const;  // devices over all hosts

  bool operator==(const Topology&) const = default;
};

// One parser, one validator, one writer. `origin` names the file in error messages ("[t.json]").
// Every error is one line naming the field, the value and what would be valid.
Topology topology_from_json(const nlohmann::json& document, const std::string& origin);
void validate_topology(const Topology& topology, const std::string& origin);
nlohmann::json topology_to_json(const Topology& topology);
// A file path (validated on reading).
Topology load_topology(const std::string& path);
// Atomically: a temporary file beside `path`, renamed into place.
void write_topology(const Topology& topology, const std::string& path);

}  // namespace loom::topo
