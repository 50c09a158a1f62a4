// Topology files: the one parser, validator and writer of the topology format (topology.h). The
// parser checks types and whole numbers; every range and every structural rule lives in
// validate_topology, so that a generated topology and a read one pass the same checks.
#include "topo/topology.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <numeric>
#include <unordered_map>

#include "core/error.h"
#include "core/json_file.h"

namespace loom::topo {

namespace {

constexpr int kVersion = 1;
// Bounds that keep a typo (a byte count in a device field) from allocating the machine away.
constexpr double kLargestDevicesPerHost = 4096;
constexpr long long kLargestRanks = 1 << 22;
constexpr double kLargestLevel = 64;
constexpr double kLargestThresholdFlows = 1 << 20;
// How many names an error lists before "...".
constexpr size_t kNamesListed = 5;

std::string quoted(const std::string& text) {
  return nlohmann::json(text).dump();
}

std::string indexed(const char* array, size_t index) {
  return fmt::format("{}[{}]", array, index);
}

std::string field_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// "a, b, c, d, e, ..." for error messages.
std::string listed(const std::vector<std::string>& names) {
  std::vector<std::string> shown(names.begin(), names.begin() + std::min(names.size(), kNamesListed));
  if (names.size() > kNamesListed) shown.push_back("...");
  return shown.empty() ? "none" : fmt::format("{}", fmt::join(shown, ", "));
}

void reject_unknown_fields(const nlohmann::json& object, const std::string& prefix,
                           std::initializer_list<const char*> known, const std::string& origin) {
  for (const auto& item : object.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* name) { return item.key() == name; }))
      throw_user_error("{} {} is not a known field (valid: {})", origin, field_path(prefix, quoted(item.key())),
                       fmt::join(known, ", "));
  }
}

const nlohmann::json& required(const nlohmann::json& object, const std::string& prefix, const std::string& key,
                               const std::string& valid, const std::string& origin) {
  if (!object.contains(key)) throw_user_error("{} {} is missing (valid: {})", origin, field_path(prefix, key), valid);
  return object.at(key);
}

double number_field(const nlohmann::json& object, const std::string& prefix, const std::string& key,
                    const std::string& valid, const std::string& origin) {
  const nlohmann::json& value = required(object, prefix, key, valid, origin);
  if (!value.is_number())
    throw_user_error("{} {}={} must be a number (valid: {})", origin, field_path(prefix, key), value.dump(), valid);
  return value.get<double>();
}

double optional_number(const nlohmann::json& object, const std::string& prefix, const std::string& key,
                       const std::string& valid, const std::string& origin) {
  return object.contains(key) ? number_field(object, prefix, key, valid, origin) : 0.0;
}

// A whole number from 1 to `largest` (the range against the type; validate_topology checks the rest).
int whole_field(const nlohmann::json& object, const std::string& prefix, const std::string& key,
                const std::string& valid, double largest, const std::string& origin) {
  const double value = number_field(object, prefix, key, valid, origin);
  if (value != std::floor(value) || value < 1 || value > largest)
    throw_user_error("{} {}={} must be a whole number from 1 to {} (valid: {})", origin, field_path(prefix, key),
                     object.at(key).dump(), largest, valid);
  return static_cast<int>(value);
}

std::string string_field(const nlohmann::json& object, const std::string& prefix, const std::string& key,
                         bool is_required, const std::string& origin) {
  if (!object.contains(key)) {
    if (is_required) throw_user_error("{} {} is missing (valid: a string)", origin, field_path(prefix, key));
    return "";
  }
  const nlohmann::json& value = object.at(key);
  if (!value.is_string()) throw_user_error("{} {}={} must be a string", origin, field_path(prefix, key), value.dump());
  return value.get<std::string>();
}

const nlohmann::json& array_field(const nlohmann::json& document, const std::string& key, const std::string& valid,
                                  const std::string& origin) {
  const nlohmann::json& value = required(document, "", key, valid, origin);
  if (!value.is_array()) throw_user_error("{} {} must be an array (valid: {})", origin, key, valid);
  return value;
}

void object_at(const nlohmann::json& item, const std::string& path, const std::string& valid,
               const std::string& origin) {
  if (!item.is_object()) throw_user_error("{} {}={} must be an object (valid: {})", origin, path, item.dump(), valid);
}

HostSpec parse_host(const nlohmann::json& item, const std::string& path, const std::string& origin) {
  object_at(item, path, "{\"name\": ..., \"devices\": G, \"memory_bandwidth_bytes_per_s\": ..., ...}", origin);
  reject_unknown_fields(item, path,
                        {"name", "devices", "memory_bandwidth_bytes_per_s", "reduce_bytes_per_s",
                         "intra_bandwidth_bytes_per_s", "intra_latency_s"},
                        origin);
  HostSpec host;
  host.name = string_field(item, path, "name", true, origin);
  host.devices = whole_field(item, path, "devices", "ranks on this host, >= 1", kLargestDevicesPerHost, origin);
  host.memory_bandwidth_bytes_per_s =
      number_field(item, path, "memory_bandwidth_bytes_per_s", "bytes/s per device, > 0", origin);
  host.reduce_bytes_per_s = number_field(item, path, "reduce_bytes_per_s", "bytes/s per device, > 0", origin);
  // Optional: a host of one device has no link between its devices.
  host.intra_bandwidth_bytes_per_s =
      optional_number(item, path, "intra_bandwidth_bytes_per_s", "bytes/s per device per direction", origin);
  host.intra_latency_s = optional_number(item, path, "intra_latency_s", "seconds, 0 to 1", origin);
  return host;
}

SwitchSpec parse_switch(const nlohmann::json& item, const std::string& path, const std::string& origin) {
  object_at(item, path, "{\"name\": ..., \"level\": 1}", origin);
  reject_unknown_fields(item, path, {"name", "level"}, origin);
  return {string_field(item, path, "name", true, origin),
          whole_field(item, path, "level", "1 for a leaf, n + 1 above level n", kLargestLevel, origin)};
}

LinkSpec parse_link(const nlohmann::json& item, const std::string& path, const std::string& origin) {
  object_at(item, path, "{\"from\": ..., \"to\": ..., \"bandwidth_bytes_per_s\": B, \"latency_s\": L}", origin);
  reject_unknown_fields(item, path, {"from", "to", "bandwidth_bytes_per_s", "latency_s"}, origin);
  return {string_field(item, path, "from", true, origin), string_field(item, path, "to", true, origin),
          number_field(item, path, "bandwidth_bytes_per_s", "bytes/s per direction, > 0", origin),
          number_field(item, path, "latency_s", "seconds, 0 to 1", origin)};
}

IncastSpec parse_incast(const nlohmann::json& item, const std::string& origin) {
  object_at(item, "incast", "{\"threshold_flows\": 4, \"penalty_s_per_byte\": 2e-11}", origin);
  reject_unknown_fields(item, "incast", {"threshold_flows", "penalty_s_per_byte"}, origin);
  return {
      whole_field(item, "incast", "threshold_flows", "flows a receiver absorbs, >= 1", kLargestThresholdFlows, origin),
      number_field(item, "incast", "penalty_s_per_byte", "seconds per byte per excess flow, >= 0", origin)};
}

// ---- validation --------------------------------------------------------------------------------

void check_positive(double value, const std::string& path, const char* unit, const std::string& origin) {
  if (!std::isfinite(value) || value <= 0.0)
    throw_user_error("{} {}={} must be > 0 and finite ({})", origin, path, value, unit);
}

void check_latency(double value, const std::string& path, const std::string& origin) {
  if (!std::isfinite(value) || value < 0.0 || value > 1.0)
    throw_user_error("{} {}={} must be from 0 to 1 (seconds)", origin, path, value);
}

void check_name(const std::string& name, const std::string& path, const std::string& origin) {
  if (name.empty()) throw_user_error("{} {}.name=\"\" must not be empty", origin, path);
}

void check_host(const HostSpec& host, const std::string& path, const std::string& origin) {
  check_name(host.name, path, origin);
  if (host.devices < 1 || host.devices > kLargestDevicesPerHost)
    throw_user_error("{} {}.devices={} must be from 1 to {}", origin, path, host.devices, kLargestDevicesPerHost);
  check_positive(host.memory_bandwidth_bytes_per_s, path + ".memory_bandwidth_bytes_per_s", "bytes/s per device",
                 origin);
  check_positive(host.reduce_bytes_per_s, path + ".reduce_bytes_per_s", "bytes/s per device", origin);
  if (host.devices > 1) {
    check_positive(host.intra_bandwidth_bytes_per_s, path + ".intra_bandwidth_bytes_per_s",
                   "bytes/s per device per direction; 0 only on a host of one device", origin);
  } else if (!std::isfinite(host.intra_bandwidth_bytes_per_s) || host.intra_bandwidth_bytes_per_s < 0.0) {
    throw_user_error("{} {}.intra_bandwidth_bytes_per_s={} must be >= 0 and finite (bytes/s)", origin, path,
                     host.intra_bandwidth_bytes_per_s);
  }
  check_latency(host.intra_latency_s, path + ".intra_latency_s", origin);
}

// Where a name points: a host index or a switch index.
struct NamedVertex {
  bool is_host = false;
  size_t index = 0;
  std::string path() const { return indexed(is_host ? "hosts" : "switches", index); }
};

void add_name(std::unordered_map<std::string, NamedVertex>& named, const std::string& name, NamedVertex vertex,
              const std::string& origin) {
  const auto [it, added] = named.emplace(name, vertex);
  if (!added)
    throw_user_error("{} {}.name={} is used twice (also {}; names are unique across hosts and switches)", origin,
                     vertex.path(), quoted(name), it->second.path());
}

// Union-find over hosts then switches, for the connectivity check.
struct Components {
  std::vector<size_t> parent;
  explicit Components(size_t count) : parent(count) { std::iota(parent.begin(), parent.end(), size_t{0}); }
  size_t find(size_t v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
  }
  void join(size_t a, size_t b) { parent[find(a)] = find(b); }
};

}  // namespace

int Topology::ranks() const {
  int total = 0;
  for (const HostSpec& host : hosts) total += host.devices;
  return total;
}

void validate_topology(const Topology& topology, const std::string& origin) {
  if (topology.hosts.empty()) throw_user_error("{} hosts=[] must hold at least one host", origin);
  long long ranks = 0;
  for (size_t i = 0; i < topology.hosts.size(); ++i) {
    check_host(topology.hosts[i], indexed("hosts", i), origin);
    ranks += topology.hosts[i].devices;
  }
  if (ranks > kLargestRanks)
    throw_user_error("{} hosts hold {} devices in all (valid: at most {})", origin, ranks, kLargestRanks);
  for (size_t i = 0; i < topology.switches.size(); ++i) {
    const SwitchSpec& sw = topology.switches[i];
    check_name(sw.name, indexed("switches", i), origin);
    if (sw.level < 1 || sw.level > kLargestLevel)
      throw_user_error("{} switches[{}].level={} must be from 1 to {}", origin, i, sw.level, kLargestLevel);
  }
  const IncastSpec& incast = topology.incast;
  if (incast.threshold_flows < 1)
    throw_user_error("{} incast.threshold_flows={} must be >= 1", origin, incast.threshold_flows);
  if (!std::isfinite(incast.penalty_s_per_byte) || incast.penalty_s_per_byte < 0.0)
    throw_user_error("{} incast.penalty_s_per_byte={} must be >= 0 and finite (seconds per byte)", origin,
                     incast.penalty_s_per_byte);

  // Names are unique across hosts and switches.
  std::unordered_map<std::string, NamedVertex> named;
  std::vector<std::string> host_names, switch_names;
  for (size_t i = 0; i < topology.hosts.size(); ++i) {
    add_name(named, topology.hosts[i].name, NamedVertex{true, i}, origin);
    host_names.push_back(topology.hosts[i].name);
  }
  for (size_t i = 0; i < topology.switches.size(); ++i) {
    add_name(named, topology.switches[i].name, NamedVertex{false, i}, origin);
    switch_names.push_back(topology.switches[i].name);
  }

  // Links: a host or switch to a switch, hosts to leaves, switches one level up.
  const size_t host_count = topology.hosts.size();
  Components components(host_count + topology.switches.size());
  std::vector<int> host_links(host_count, 0);
  for (size_t i = 0; i < topology.links.size(); ++i) {
    const LinkSpec& link = topology.links[i];
    const std::string path = indexed("links", i);
    const auto from = named.find(link.from);
    if (from == named.end()) {
      std::vector<std::string> names = host_names;
      names.insert(names.end(), switch_names.begin(), switch_names.end());
      throw_user_error("{} {}.from={} is not a host or a switch (valid: {})", origin, path, quoted(link.from),
                       listed(names));
    }
    const auto to = named.find(link.to);
    if (to == named.end() || to->second.is_host)
      throw_user_error("{} {}.to={} is not a switch (valid: {})", origin, path, quoted(link.to), listed(switch_names));
    const int to_level = topology.switches[to->second.index].level;
    if (from->second.is_host) {
      if (to_level != 1) {
        std::vector<std::string> leaves;
        for (const SwitchSpec& sw : topology.switches)
          if (sw.level == 1) leaves.push_back(sw.name);
        throw_user_error("{} {}.to={} is a level-{} switch; a host links to a level-1 switch (valid: {})", origin, path,
                         quoted(link.to), to_level, listed(leaves));
      }
      ++host_links[from->second.index];
    } else {
      const int from_level = topology.switches[from->second.index].level;
      if (to_level != from_level + 1) {
        std::vector<std::string> above;
        for (const SwitchSpec& sw : topology.switches)
          if (sw.level == from_level + 1) above.push_back(sw.name);
        throw_user_error("{} {}.to={} is a level-{} switch; {} (level {}) links to level {} (valid: {})", origin, path,
                         quoted(link.to), to_level, quoted(link.from), from_level, from_level + 1, listed(above));
      }
    }
    check_positive(link.bandwidth_bytes_per_s, path + ".bandwidth_bytes_per_s", "bytes/s per direction", origin);
    check_latency(link.latency_s, path + ".latency_s", origin);
    const size_t a = from->second.is_host ? from->second.index : host_count + from->second.index;
    components.join(a, host_count + to->second.index);
  }

  // A lone host needs no network; otherwise every host has a link and everything is connected.
  if (host_count == 1 && topology.switches.empty()) return;
  for (size_t i = 0; i < host_count; ++i)
    if (host_links[i] == 0)
      throw_user_error("{} hosts[{}] ({}) has no link (every host of a network links to a level-1 switch)", origin, i,
                       quoted(topology.hosts[i].name));
  const size_t root = components.find(0);
  for (size_t v = 1; v < components.parent.size(); ++v) {
    if (components.find(v) == root) continue;
    const std::string name = v < host_count ? topology.hosts[v].name : topology.switches[v - host_count].name;
    throw_user_error("{} the network is disconnected: {} cannot reach {} (links must join every host and switch)",
                     origin, quoted(name), quoted(topology.hosts[0].name));
  }
}

Topology topology_from_json(const nlohmann::json& document, const std::string& origin) {
  if (!document.is_object()) throw_user_error("{} must hold a JSON object (a topology document)", origin);
  reject_unknown_fields(document, "", {"version", "name", "hosts", "switches", "links", "incast", "notes", "source"},
                        origin);
  const nlohmann::json& version = required(document, "", "version", "1", origin);
  if (version != kVersion)
    throw_user_error("{} version={} is not supported (valid: {})", origin, version.dump(), kVersion);

  Topology topology;
  topology.name = string_field(document, "", "name", true, origin);
  const nlohmann::json& hosts = array_field(document, "hosts", "[{\"name\": ..., \"devices\": G, ...}, ...]", origin);
  for (size_t i = 0; i < hosts.size(); ++i) topology.hosts.push_back(parse_host(hosts[i], indexed("hosts", i), origin));
  const nlohmann::json& switches = array_field(document, "switches", "[{\"name\": ..., \"level\": 1}, ...]", origin);
  for (size_t i = 0; i < switches.size(); ++i)
    topology.switches.push_back(parse_switch(switches[i], indexed("switches", i), origin));
  const nlohmann::json& links = array_field(document, "links", "[{\"from\": ..., \"to\": ..., ...}, ...]", origin);
  for (size_t i = 0; i < links.size(); ++i) topology.links.push_back(parse_link(links[i], indexed("links", i), origin));
  // Optional: without it no receiver is penalised.
  if (document.contains("incast")) topology.incast = parse_incast(document.at("incast"), origin);
  topology.notes = string_field(document, "", "notes", false, origin);
  topology.source = string_field(document, "", "source", false, origin);
  validate_topology(topology, origin);
  return topology;
}

nlohmann::json topology_to_json(const Topology& topology) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const HostSpec& host : topology.hosts)
    hosts.push_back({{"name", host.name},
                     {"devices", host.devices},
                     {"memory_bandwidth_bytes_per_s", host.memory_bandwidth_bytes_per_s},
                     {"reduce_bytes_per_s", host.reduce_bytes_per_s},
                     {"intra_bandwidth_bytes_per_s", host.intra_bandwidth_bytes_per_s},
                     {"intra_latency_s", host.intra_latency_s}});
  nlohmann::json switches = nlohmann::json::array();
  for (const SwitchSpec& sw : topology.switches) switches.push_back({{"name", sw.name}, {"level", sw.level}});
  nlohmann::json links = nlohmann::json::array();
  for (const LinkSpec& link : topology.links)
    links.push_back({{"from", link.from},
                     {"to", link.to},
                     {"bandwidth_bytes_per_s", link.bandwidth_bytes_per_s},
                     {"latency_s", link.latency_s}});
  nlohmann::json document;
  document["version"] = kVersion;
  document["name"] = topology.name;
  document["hosts"] = std::move(hosts);
  document["switches"] = std::move(switches);
  document["links"] = std::move(links);
  document["incast"] = {{"threshold_flows", topology.incast.threshold_flows},
                        {"penalty_s_per_byte", topology.incast.penalty_s_per_byte}};
  document["notes"] = topology.notes;
  document["source"] = topology.source;
  return document;
}

Topology load_topology(const std::string& path) {
  return topology_from_json(read_json_file(path, "topology file, docs/gentree.md"), "[" + path + "]");
}

void write_topology(const Topology& topology, const std::string& path) {
  validate_topology(topology, "[" + path + "]");
  write_file_atomically(path, [&](std::ostream& out) { out << topology_to_json(topology).dump(2) << "\n"; });
}

}  // namespace loom::topo
