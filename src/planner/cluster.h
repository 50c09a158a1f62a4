// The cluster the planner plans for: nodes of identical devices, each device's memory and peak
// FLOP/s, and the two links between devices (inside a node, between nodes). One JSON format
// (docs/clusters.md) with one parser, one validator and one writer, and the built-in presets
// (`local`, `dgx-a100-80g`, `dgx-h100`, `dgx-h200`) that `--cluster NAME` names.
//
//   {"version": 1, "name": "dgx-h100", "nodes": 4, "devices_per_node": 8,
//    "device": {"name": "H100 SXM5 80GB", "memory_bytes": 80000000000,
//               "peak_flops": {"fp32": 6.7e13, "tf32": 4.947e14, "bf16": 9.894e14},
//               "memory_bandwidth_bytes_per_s": 3.35e12},
//    "intra_node": {"bandwidth_bytes_per_s": 4.5e11, "latency_s": 2e-06},
//    "inter_node": {"bandwidth_bytes_per_s": 4e11, "latency_s": 5e-06},
//    "notes": "...", "source": "..."}
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace loom::planner {

// Dense peak FLOP/s of one device for each compute dtype. fp16 runs at the bf16 rate on every
// device Loom models, so one figure serves both.
struct PeakFlops {
  double fp32_flops_per_s = 0.0;
  double tf32_flops_per_s = 0.0;
  double bf16_flops_per_s = 0.0;  // also fp16

  bool operator==(const PeakFlops&) const = default;
};

// A link as the cost model sees it: time = latency_s + bytes / bandwidth_bytes_per_s.
struct LinkSpec {
  double bandwidth_bytes_per_s = 0.0;  // one direction
  double latency_s = 0.0;

  bool operator==(const LinkSpec&) const = default;
};

struct ClusterSpec {
  static constexpr int kVersion = 1;

  std::string name;
  int nodes = 1;
  int devices_per_node = 1;
  std::string device_name;
  std::int64_t device_memory_bytes = 0;
  PeakFlops peak_flops;
  // Bandwidth of the device's own memory (HBM), reads and writes together; 0 = unknown (the file
  // may leave it out). The analytic compute profile (analytic_profile.h) needs it.
  double memory_bandwidth_bytes_per_s = 0.0;
  LinkSpec intra_node;  // bandwidth per device per direction (e.g. NVLink)
  LinkSpec inter_node;  // bandwidth per node per direction: NICs x rate (e.g. 8 x 400 Gb/s)
  std::string notes;    // optional free text
  std::string source;   // optional: where the figures come from

  int world_size() const { return nodes * devices_per_node; }

  bool operator==(const ClusterSpec&) const = default;
};

// The preset names, in the order errors and help list them.
std::vector<std::string> cluster_preset_names();

// A preset by name, one node; UserError listing the presets for an unknown name.
ClusterSpec cluster_preset(const std::string& name);

// What `--cluster NAME|cluster.json [--nodes N] [--devices-per-node G]` means: a preset or a
// cluster file, then the overrides (0 keeps the preset's or file's value). UserError for an
// unknown name, a bad file or an override < 0.
ClusterSpec load_cluster(const std::string& name_or_path, int nodes_override = 0, int devices_override = 0);

// Reads a cluster document; `where` prefixes errors ("[cluster.json]"). Every error is one line
// naming the field, its value and what would be valid.
ClusterSpec cluster_from_json(const nlohmann::json& document, const std::string& where = "[cluster]");
// Checks every field: UserError "[where] device.memory_bytes=0 must be > 0 (bytes)".
void validate_cluster(const ClusterSpec& cluster, const std::string& where = "[cluster]");
// The document cluster_from_json reads back into an equal ClusterSpec.
nlohmann::json cluster_to_json(const ClusterSpec& cluster);

ClusterSpec read_cluster(const std::string& path);
// Writes atomically: a temporary file beside `path`, renamed into place.
void write_cluster(const ClusterSpec& cluster, const std::string& path);

}  // namespace loom::planner
