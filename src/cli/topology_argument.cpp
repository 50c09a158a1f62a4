// The --topology argument and byte counts of the `loom collective` verbs.
#include "cli/topology_argument.h"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "topo/topology_generators.h"

namespace loom::cli {

namespace {

constexpr const char* kTopologyForms =
    "a topology file, single-switch:HOSTS[xDEVICES], leaf-spine:LEAVESxHOSTS[:osRATIO], fat-tree:K, dgx:NODES[xGPUS]";

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

int whole_number(const std::string& text, const std::string& argument) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1)
    throw_user_error("--topology '{}': '{}' is not a whole number >= 1 (valid: {})", argument, text, kTopologyForms);
  return value;
}

// "AxB" -> {A, B}; "A" -> {A, fallback}.
std::pair<int, int> pair_of(const std::string& text, int fallback, const std::string& argument) {
  const std::vector<std::string> parts = split(text, 'x');
  if (parts.size() > 2)
    throw_user_error("--topology '{}': '{}' should be N or NxM (valid: {})", argument, text, kTopologyForms);
  return {whole_number(parts[0], argument), parts.size() == 2 ? whole_number(parts[1], argument) : fallback};
}

}  // namespace

topo::Topology topology_from_argument(const std::string& argument) {
  const std::vector<std::string> parts = split(argument, ':');
  const std::string& shape = parts[0];
  const bool generated = parts.size() > 1 && !std::filesystem::exists(argument);
  if (!generated) {
    if (!std::filesystem::exists(argument))
      throw_user_error("--topology '{}' is not a file (valid: {})", argument, kTopologyForms);
    return topo::load_topology(argument);
  }
  if (shape == "single-switch" && parts.size() == 2) {
    const auto [hosts, devices] = pair_of(parts[1], 1, argument);
    return topo::single_switch_topology(hosts, devices);
  }
  if (shape == "leaf-spine" && (parts.size() == 2 || parts.size() == 3)) {
    const auto [leaves, hosts] = pair_of(parts[1], 1, argument);
    double oversubscription = 1.0;
    if (parts.size() == 3) {
      if (parts[2].rfind("os", 0) != 0)
        throw_user_error("--topology '{}': '{}' should be osRATIO, e.g. os2 (valid: {})", argument, parts[2],
                         kTopologyForms);
      oversubscription = whole_number(parts[2].substr(2), argument);
    }
    return topo::leaf_spine_topology(leaves, hosts, oversubscription);
  }
  if (shape == "fat-tree" && parts.size() == 2) return topo::fat_tree_topology(whole_number(parts[1], argument));
  if (shape == "dgx" && parts.size() == 2) {
    const auto [nodes, gpus] = pair_of(parts[1], 8, argument);
    return topo::dgx_topology(nodes, gpus, topo::dgx_topology_params(gpus));
  }
  throw_user_error("--topology '{}' is not a known shape (valid: {})", argument, kTopologyForms);
}

int64_t parse_byte_count(const std::string& text, const std::string& flag) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string unit(end, text.data() + text.size());
  int64_t scale = 1;
  if (unit == "K" || unit == "KiB")
    scale = int64_t{1} << 10;
  else if (unit == "M" || unit == "MiB")
    scale = int64_t{1} << 20;
  else if (unit == "G" || unit == "GiB")
    scale = int64_t{1} << 30;
  else if (!unit.empty() && unit != "B")
    scale = 0;
  if (error != std::errc() || value < 0 || scale == 0 || value > (int64_t{1} << 42) / scale)
    throw_user_error("{} '{}' is not a byte count (valid: a whole number >= 0 with an optional K, M or G)", flag, text);
  return value * scale;
}

std::string format_byte_count(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30) && bytes % (int64_t{1} << 30) == 0) return fmt::format("{} GiB", bytes >> 30);
  if (bytes >= (int64_t{1} << 20) && bytes % (int64_t{1} << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= (int64_t{1} << 10) && bytes % (int64_t{1} << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} B", bytes);
}

}  // namespace loom::cli
