// Cluster files and presets: the parser, validator and writer of the cluster format, and the
// built-in clusters. Vendor figures and the assumed latencies are explained in docs/clusters.md.
#include "planner/cluster.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>

#include "comm/comm_profile.h"
#include "core/error.h"
#include "core/json_file.h"

namespace loom::planner {

namespace {

// Peak fp32 GEMM throughput of the development machine with 2 threads: `loom bench step`
// measured oneDNN's sgemm at 347-393 GFLOP/s on 2026-11-28 (docs/benchmarks.md); 350e9 is the
// low end of that range, the rate a training step can count on.
constexpr double kLocalPeakFp32FlopsPerS = 350e9;

// Assumed latencies (no datasheet states them; docs/clusters.md says why these values): one
// NVLink step through NCCL costs a couple of microseconds, an InfiniBand RDMA step a few more.
constexpr double kNvlinkLatencyS = 2e-6;
constexpr double kInfinibandLatencyS = 5e-6;

// Bytes per second of `links` network ports of `gigabits_per_s` each.
constexpr double nic_bytes_per_s(int links, double gigabits_per_s) {
  return links * gigabits_per_s * 1e9 / 8.0;
}

// The largest value a count or a byte size may take: 2^53, exact in a JSON double.
constexpr double kLargestWholeNumber = 9007199254740992.0;
constexpr int kLargestCount = 1000000;

// ---- presets -----------------------------------------------------------------------------------

ClusterSpec dgx_a100_80g() {
  ClusterSpec c;
  c.name = "dgx-a100-80g";
  c.nodes = 1;
  c.devices_per_node = 8;
  c.device_name = "A100 SXM4 80GB";
  c.device_memory_bytes = 80'000'000'000;
  c.peak_flops = {19.5e12, 156e12, 312e12};
  c.memory_bandwidth_bytes_per_s = 2.039e12;                        // HBM2e, 2,039 GB/s
  c.intra_node = {300e9, kNvlinkLatencyS};                          // NVLink 3: 600 GB/s total per GPU
  c.inter_node = {nic_bytes_per_s(8, 200.0), kInfinibandLatencyS};  // 8x HDR 200 Gb/s (Selene)
  c.notes = "DGX A100: 8 GPUs per node, NVSwitch; 8x 200 Gb/s HDR InfiniBand per node as on Selene";
  c.source = "NVIDIA A100 Tensor Core GPU datasheet (80GB SXM, dense), DGX A100 datasheet; latencies assumed";
  return c;
}

ClusterSpec dgx_h100() {
  ClusterSpec c;
  c.name = "dgx-h100";
  c.nodes = 1;
  c.devices_per_node = 8;
  c.device_name = "H100 SXM5 80GB";
  c.device_memory_bytes = 80'000'000'000;
  c.peak_flops = {67e12, 494.7e12, 989.4e12};
  c.memory_bandwidth_bytes_per_s = 3.35e12;                         // HBM3, 3.35 TB/s
  c.intra_node = {450e9, kNvlinkLatencyS};                          // NVLink 4: 900 GB/s total per GPU
  c.inter_node = {nic_bytes_per_s(8, 400.0), kInfinibandLatencyS};  // 8x NDR 400 Gb/s
  c.notes = "DGX H100: 8 GPUs per node, NVSwitch; 8x 400 Gb/s NDR InfiniBand per node";
  c.source = "NVIDIA H100 Tensor Core GPU datasheet (SXM, dense), DGX H100 datasheet; latencies assumed";
  return c;
}

ClusterSpec dgx_h200() {
  ClusterSpec c = dgx_h100();
  c.name = "dgx-h200";
  c.device_name = "H200 SXM 141GB";
  c.device_memory_bytes = 141'000'000'000;
  c.memory_bandwidth_bytes_per_s = 4.8e12;  // HBM3e, 4.8 TB/s
  c.notes = "DGX H200: H100 compute with 141 GB HBM3e; NVLink 4, 8x 400 Gb/s NDR InfiniBand per node";
  c.source = "NVIDIA H200 Tensor Core GPU datasheet (SXM, dense), DGX H200 datasheet; latencies assumed";
  return c;
}

// MemTotal of /proc/meminfo in bytes.
std::int64_t local_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    std::int64_t kibibytes = 0;
    if (fields >> key >> kibibytes && key == "MemTotal:" && kibibytes > 0) return kibibytes * 1024;
  }
  throw_user_error("[cluster local] cannot read MemTotal from /proc/meminfo (write a cluster file instead)");
}

// This machine as the planner sees it: each rank is a "device" of the cores it runs on. The link
// between ranks is the one `loom profile` measured for that many ranks (comm_profile.h), and so
// is the memory bandwidth: the profile's memcpy rate with every rank of the group copying at once.
// A copy reads and writes each byte, so the memory moves two bytes per byte copied (the count
// STREAM's "Copy" uses).
ClusterSpec local_cluster(int devices) {
  const comm::CommProfile& profile = comm::active_comm_profile();
  const int group = std::max(devices, 2);
  const comm::LinkParameters& intra = profile.intra(group).link;
  const double copy_s_per_byte = profile.intra(group).copy_s_per_byte;
  const comm::LinkParameters& inter = profile.inter(group).link;
  ClusterSpec c;
  c.name = "local";
  c.nodes = 1;
  c.devices_per_node = devices;
  c.device_name = "cpu (one rank)";
  c.device_memory_bytes = local_memory_bytes() / devices;  // ranks share the machine's memory
  c.peak_flops = {kLocalPeakFp32FlopsPerS, kLocalPeakFp32FlopsPerS, kLocalPeakFp32FlopsPerS};
  c.memory_bandwidth_bytes_per_s = copy_s_per_byte > 0.0 ? 2.0 / copy_s_per_byte : 0.0;
  c.intra_node = {1.0 / intra.beta_s_per_byte, intra.alpha_s};
  c.inter_node = {1.0 / inter.beta_s_per_byte, inter.alpha_s};
  c.notes = "this machine: memory from /proc/meminfo, fp32 peak from loom bench step (2 threads)";
  c.source = "links and memory bandwidth (2 / memcpy s per byte): comm profile (" + profile.source + ")";
  return c;
}

// ---- parsing -----------------------------------------------------------------------------------

std::string field_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

void reject_unknown_fields(const nlohmann::json& object, const std::string& prefix,
                           std::initializer_list<const char*> known, const std::string& where) {
  for (const auto& item : object.items()) {
    const bool is_known = std::any_of(known.begin(), known.end(), [&](const char* name) { return item.key() == name; });
    if (!is_known) {
      // The key is dumped as JSON so that a stray newline in it cannot break the one-line message.
      throw_user_error("{} {} is not a known field (valid: {})", where,
                       field_path(prefix, nlohmann::json(item.key()).dump()), fmt::join(known, ", "));
    }
  }
}

const nlohmann::json& required(const nlohmann::json& object, const std::string& prefix, const std::string& key,
                               const char* valid, const std::string& where) {
  if (!object.contains(key)) throw_user_error("{} {} is missing (valid: {})", where, field_path(prefix, key), valid);
  return object.at(key);
}

const nlohmann::json& object_field(const nlohmann::json& object, const std::string& prefix, const std::string& key,
                                   const char* valid, const std::string& where) {
  const nlohmann::json& value = required(object, prefix, key, valid, where);
  if (!value.is_object())
    throw_user_error("{} {}={} must be an object (valid: {})", where, field_path(prefix, key), value.dump(), valid);
  return value;
}

double number_field(const nlohmann::json& object, const std::string& prefix, const std::string& key, const char* valid,
                    const std::string& where) {
  const nlohmann::json& value = required(object, prefix, key, valid, where);
  if (!value.is_number())
    throw_user_error("{} {}={} must be a number (valid: {})", where, field_path(prefix, key), value.dump(), valid);
  return value.get<double>();
}

// A whole number >= 1 (a count, a byte size); the range check against the type is done here,
// the remaining checks by validate_cluster.
double whole_field(const nlohmann::json& object, const std::string& prefix, const std::string& key, const char* valid,
                   double largest, const std::string& where) {
  const double value = number_field(object, prefix, key, valid, where);
  if (value != std::floor(value) || value < 1 || value > largest)
    throw_user_error("{} {}={} must be a whole number from 1 to {} (valid: {})", where, field_path(prefix, key),
                     object.at(key).dump(), largest, valid);
  return value;
}

std::string string_field(const nlohmann::json& object, const std::string& prefix, const std::string& key,
                         const std::string& where) {
  if (!object.contains(key)) return "";
  const nlohmann::json& value = object.at(key);
  if (!value.is_string()) throw_user_error("{} {}={} must be a string", where, field_path(prefix, key), value.dump());
  return value.get<std::string>();
}

LinkSpec parse_link(const nlohmann::json& document, const std::string& key, const std::string& where) {
  const char* valid = "{\"bandwidth_bytes_per_s\": B > 0, \"latency_s\": L >= 0}";
  const nlohmann::json& link = object_field(document, "", key, valid, where);
  reject_unknown_fields(link, key, {"bandwidth_bytes_per_s", "latency_s"}, where);
  return {number_field(link, key, "bandwidth_bytes_per_s", "bytes per second per direction, > 0", where),
          number_field(link, key, "latency_s", "seconds, >= 0", where)};
}

void check_positive(double value, const std::string& path, const char* unit, const std::string& where) {
  if (!std::isfinite(value) || value <= 0.0)
    throw_user_error("{} {}={} must be > 0 and finite ({})", where, path, value, unit);
}

void check_link(const LinkSpec& link, const std::string& name, const char* unit, const std::string& where) {
  check_positive(link.bandwidth_bytes_per_s, name + ".bandwidth_bytes_per_s", unit, where);
  if (!std::isfinite(link.latency_s) || link.latency_s < 0.0)
    throw_user_error("{} {}.latency_s={} must be >= 0 and finite (seconds)", where, name, link.latency_s);
  if (link.latency_s > 1.0)
    throw_user_error("{} {}.latency_s={} is over one second (units are seconds; valid: 0 to 1)", where, name,
                     link.latency_s);
}

}  // namespace

std::vector<std::string> cluster_preset_names() {
  return {"dgx-a100-80g", "dgx-h100", "dgx-h200", "local"};
}

ClusterSpec cluster_preset(const std::string& name) {
  if (name == "dgx-a100-80g") return dgx_a100_80g();
  if (name == "dgx-h100") return dgx_h100();
  if (name == "dgx-h200") return dgx_h200();
  if (name == "local") return local_cluster(1);
  throw_user_error("[cluster] {} is not a preset (valid: {})", nlohmann::json(name).dump(),
                   fmt::join(cluster_preset_names(), ", "));
}

ClusterSpec load_cluster(const std::string& name_or_path, int nodes_override, int devices_override) {
  if (nodes_override < 0)
    throw_user_error("[cluster] --nodes={} must be >= 1 (0 keeps the cluster's {})", nodes_override, name_or_path);
  if (devices_override < 0)
    throw_user_error("[cluster] --devices-per-node={} must be >= 1 (0 keeps the cluster's {})", devices_override,
                     name_or_path);
  const std::vector<std::string> presets = cluster_preset_names();
  const bool is_preset = std::find(presets.begin(), presets.end(), name_or_path) != presets.end();
  const bool looks_like_path = name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".json") ||
                               std::filesystem::exists(name_or_path);
  if (!is_preset && !looks_like_path)
    throw_user_error("[cluster] {} is neither a preset nor a cluster file (valid: {}, or a path to a .json file)",
                     nlohmann::json(name_or_path).dump(), fmt::join(presets, ", "));
  ClusterSpec cluster;
  if (name_or_path == "local") {
    // The local link and per-rank memory depend on how many ranks share the machine.
    cluster = local_cluster(devices_override > 0 ? devices_override : 1);
  } else {
    cluster = is_preset ? cluster_preset(name_or_path) : read_cluster(name_or_path);
  }
  if (nodes_override > 0) cluster.nodes = nodes_override;
  if (devices_override > 0) cluster.devices_per_node = devices_override;
  validate_cluster(cluster, "[cluster " + name_or_path + "]");
  return cluster;
}

ClusterSpec cluster_from_json(const nlohmann::json& document, const std::string& where) {
  if (!document.is_object()) throw_user_error("{} must hold a JSON object (a cluster document)", where);
  reject_unknown_fields(
      document, "",
      {"version", "name", "nodes", "devices_per_node", "device", "intra_node", "inter_node", "notes", "source"}, where);
  const nlohmann::json& version = required(document, "", "version", "1", where);
  if (version != ClusterSpec::kVersion)
    throw_user_error("{} version={} is not supported (valid: {})", where, version.dump(), ClusterSpec::kVersion);

  ClusterSpec cluster;
  cluster.name = string_field(document, "", "name", where);
  cluster.nodes =
      static_cast<int>(whole_field(document, "", "nodes", "a whole number of nodes >= 1", kLargestCount, where));
  cluster.devices_per_node = static_cast<int>(
      whole_field(document, "", "devices_per_node", "a whole number of devices per node >= 1", kLargestCount, where));

  const nlohmann::json& device = object_field(
      document, "", "device", "{\"name\": ..., \"memory_bytes\": M, \"peak_flops\": {\"fp32\": F, ...}}", where);
  reject_unknown_fields(device, "device", {"name", "memory_bytes", "peak_flops", "memory_bandwidth_bytes_per_s"},
                        where);
  cluster.device_name = string_field(device, "device", "name", where);
  cluster.device_memory_bytes = static_cast<std::int64_t>(
      whole_field(device, "device", "memory_bytes", "bytes of memory per device", kLargestWholeNumber, where));

  const nlohmann::json& flops =
      object_field(device, "device", "peak_flops", "{\"fp32\": F, \"tf32\": F, \"bf16\": F} in FLOP/s", where);
  reject_unknown_fields(flops, "device.peak_flops", {"fp32", "tf32", "bf16"}, where);
  const char* rate = "dense FLOP/s per device, > 0";
  cluster.peak_flops.fp32_flops_per_s = number_field(flops, "device.peak_flops", "fp32", rate, where);
  // A device without a faster tf32 or bf16 path (a CPU) may leave them out: they run at fp32's rate.
  cluster.peak_flops.tf32_flops_per_s = flops.contains("tf32")
                                            ? number_field(flops, "device.peak_flops", "tf32", rate, where)
                                            : cluster.peak_flops.fp32_flops_per_s;
  cluster.peak_flops.bf16_flops_per_s = flops.contains("bf16")
                                            ? number_field(flops, "device.peak_flops", "bf16", rate, where)
                                            : cluster.peak_flops.fp32_flops_per_s;
  // Optional: absent means unknown (0), which only the analytic compute profile refuses.
  cluster.memory_bandwidth_bytes_per_s =
      device.contains("memory_bandwidth_bytes_per_s")
          ? number_field(device, "device", "memory_bandwidth_bytes_per_s", "bytes per second, >= 0 (0: unknown)", where)
          : 0.0;

  cluster.intra_node = parse_link(document, "intra_node", where);
  cluster.inter_node = parse_link(document, "inter_node", where);
  cluster.notes = string_field(document, "", "notes", where);
  cluster.source = string_field(document, "", "source", where);
  validate_cluster(cluster, where);
  return cluster;
}

void validate_cluster(const ClusterSpec& cluster, const std::string& where) {
  if (cluster.nodes < 1 || cluster.nodes > kLargestCount)
    throw_user_error("{} nodes={} must be from 1 to {}", where, cluster.nodes, kLargestCount);
  if (cluster.devices_per_node < 1 || cluster.devices_per_node > kLargestCount)
    throw_user_error("{} devices_per_node={} must be from 1 to {}", where, cluster.devices_per_node, kLargestCount);
  if (static_cast<std::int64_t>(cluster.nodes) * cluster.devices_per_node > kLargestCount)
    throw_user_error("{} nodes={} x devices_per_node={} is over {} devices", where, cluster.nodes,
                     cluster.devices_per_node, kLargestCount);
  if (cluster.device_memory_bytes < 1)
    throw_user_error("{} device.memory_bytes={} must be > 0 (bytes)", where, cluster.device_memory_bytes);
  check_positive(cluster.peak_flops.fp32_flops_per_s, "device.peak_flops.fp32", "FLOP/s", where);
  check_positive(cluster.peak_flops.tf32_flops_per_s, "device.peak_flops.tf32", "FLOP/s", where);
  check_positive(cluster.peak_flops.bf16_flops_per_s, "device.peak_flops.bf16", "FLOP/s", where);
  if (!std::isfinite(cluster.memory_bandwidth_bytes_per_s) || cluster.memory_bandwidth_bytes_per_s < 0.0)
    throw_user_error("{} device.memory_bandwidth_bytes_per_s={} must be >= 0 and finite (bytes/s; 0: unknown)", where,
                     cluster.memory_bandwidth_bytes_per_s);
  check_link(cluster.intra_node, "intra_node", "bytes/s per device per direction", where);
  check_link(cluster.inter_node, "inter_node", "bytes/s per node per direction", where);
}

nlohmann::json cluster_to_json(const ClusterSpec& cluster) {
  nlohmann::json document = {
      {"version", ClusterSpec::kVersion},
      {"name", cluster.name},
      {"nodes", cluster.nodes},
      {"devices_per_node", cluster.devices_per_node},
      {"device",
       {{"name", cluster.device_name},
        {"memory_bytes", cluster.device_memory_bytes},
        {"peak_flops",
         {{"fp32", cluster.peak_flops.fp32_flops_per_s},
          {"tf32", cluster.peak_flops.tf32_flops_per_s},
          {"bf16", cluster.peak_flops.bf16_flops_per_s}}}}},
      {"intra_node",
       {{"bandwidth_bytes_per_s", cluster.intra_node.bandwidth_bytes_per_s},
        {"latency_s", cluster.intra_node.latency_s}}},
      {"inter_node",
       {{"bandwidth_bytes_per_s", cluster.inter_node.bandwidth_bytes_per_s},
        {"latency_s", cluster.inter_node.latency_s}}},
  };
  if (cluster.memory_bandwidth_bytes_per_s > 0.0)
    document["device"]["memory_bandwidth_bytes_per_s"] = cluster.memory_bandwidth_bytes_per_s;
  if (!cluster.notes.empty()) document["notes"] = cluster.notes;
  if (!cluster.source.empty()) document["source"] = cluster.source;
  return document;
}

ClusterSpec read_cluster(const std::string& path) {
  return cluster_from_json(read_json_file(path, "cluster file, docs/clusters.md"), "[" + path + "]");
}

void write_cluster(const ClusterSpec& cluster, const std::string& path) {
  validate_cluster(cluster, "[" + path + "]");
  write_file_atomically(path, [&](std::ostream& out) { out << cluster_to_json(cluster).dump(2) << "\n"; });
}

}  // namespace loom::planner
