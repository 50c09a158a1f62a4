// Cluster files and presets: the documented preset figures, overrides, the round trip through
// the writer, and one-line errors naming the field for each kind of bad input.
#include "planner/cluster.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/comm_profile.h"
#include "core/error.h"
#include "test_support.h"

namespace {

using loom::UserError;
using loom::planner::cluster_from_json;
using loom::planner::cluster_preset;
using loom::planner::cluster_preset_names;
using loom::planner::cluster_to_json;
using loom::planner::ClusterSpec;
using loom::planner::load_cluster;
using loom::planner::read_cluster;
using loom::planner::write_cluster;
using loom::testing_support::unique_temp_path;
using json = nlohmann::json;

// The message of the UserError `action` throws; "" when it throws none.
using loom::testing_support::user_error_of;

TEST(ClusterPresets, DgxA100MatchesTheDatasheet) {
  const ClusterSpec c = cluster_preset("dgx-a100-80g");
  EXPECT_EQ(c.name, "dgx-a100-80g");
  EXPECT_EQ(c.nodes, 1);
  EXPECT_EQ(c.devices_per_node, 8);
  EXPECT_EQ(c.world_size(), 8);
  EXPECT_EQ(c.device_memory_bytes, 80'000'000'000);
  EXPECT_DOUBLE_EQ(c.peak_flops.fp32_flops_per_s, 19.5e12);
  EXPECT_DOUBLE_EQ(c.peak_flops.tf32_flops_per_s, 156e12);
  EXPECT_DOUBLE_EQ(c.peak_flops.bf16_flops_per_s, 312e12);
  EXPECT_DOUBLE_EQ(c.memory_bandwidth_bytes_per_s, 2.039e12);   // HBM2e, 2,039 GB/s
  EXPECT_DOUBLE_EQ(c.intra_node.bandwidth_bytes_per_s, 300e9);  // NVLink 3, per direction
  EXPECT_DOUBLE_EQ(c.inter_node.bandwidth_bytes_per_s, 200e9);  // 8 x 200 Gb/s
  EXPECT_DOUBLE_EQ(c.intra_node.latency_s, 2e-6);
  EXPECT_DOUBLE_EQ(c.inter_node.latency_s, 5e-6);
  EXPECT_FALSE(c.source.empty());
}

TEST(ClusterPresets, DgxH100MatchesTheDatasheet) {
  const ClusterSpec c = cluster_preset("dgx-h100");
  EXPECT_EQ(c.devices_per_node, 8);
  EXPECT_EQ(c.device_memory_bytes, 80'000'000'000);
  EXPECT_DOUBLE_EQ(c.peak_flops.fp32_flops_per_s, 67e12);
  EXPECT_DOUBLE_EQ(c.peak_flops.tf32_flops_per_s, 494.7e12);
  EXPECT_DOUBLE_EQ(c.peak_flops.bf16_flops_per_s, 989.4e12);
  EXPECT_DOUBLE_EQ(c.memory_bandwidth_bytes_per_s, 3.35e12);    // HBM3, 3.35 TB/s
  EXPECT_DOUBLE_EQ(c.intra_node.bandwidth_bytes_per_s, 450e9);  // NVLink 4, per direction
  EXPECT_DOUBLE_EQ(c.inter_node.bandwidth_bytes_per_s, 400e9);  // 8 x 400 Gb/s
}

TEST(ClusterPresets, DgxH200HasH100ComputeAndMoreMemory) {
  const ClusterSpec h100 = cluster_preset("dgx-h100");
  const ClusterSpec c = cluster_preset("dgx-h200");
  EXPECT_EQ(c.name, "dgx-h200");
  EXPECT_EQ(c.device_memory_bytes, 141'000'000'000);
  EXPECT_EQ(c.peak_flops, h100.peak_flops);
  EXPECT_DOUBLE_EQ(c.memory_bandwidth_bytes_per_s, 4.8e12);  // HBM3e, 4.8 TB/s
  EXPECT_EQ(c.intra_node, h100.intra_node);
  EXPECT_EQ(c.inter_node, h100.inter_node);
}

TEST(ClusterPresets, LocalIsThisMachineWithTheCommProfileLinks) {
  const ClusterSpec c = load_cluster("local");
  EXPECT_EQ(c.nodes, 1);
  EXPECT_EQ(c.devices_per_node, 1);
  EXPECT_GT(c.device_memory_bytes, 64LL << 20);
  EXPECT_DOUBLE_EQ(c.peak_flops.fp32_flops_per_s, 350e9);
  const loom::comm::LinkParameters& link = loom::comm::active_comm_profile().intra(2).link;
  EXPECT_DOUBLE_EQ(c.intra_node.bandwidth_bytes_per_s, 1.0 / link.beta_s_per_byte);
  EXPECT_DOUBLE_EQ(c.intra_node.latency_s, link.alpha_s);
  // A memcpy reads and writes each byte: two bytes of memory traffic per byte copied.
  EXPECT_DOUBLE_EQ(c.memory_bandwidth_bytes_per_s, 2.0 / loom::comm::active_comm_profile().intra(2).copy_s_per_byte);

  // Ranks share the machine: more of them get less memory each and the link of that group size.
  const ClusterSpec four = load_cluster("local", 0, 4);
  EXPECT_EQ(four.devices_per_node, 4);
  EXPECT_EQ(four.device_memory_bytes, c.device_memory_bytes / 4);
  const loom::comm::LinkParameters& link4 = loom::comm::active_comm_profile().intra(4).link;
  EXPECT_DOUBLE_EQ(four.intra_node.bandwidth_bytes_per_s, 1.0 / link4.beta_s_per_byte);
  EXPECT_DOUBLE_EQ(four.memory_bandwidth_bytes_per_s, 2.0 / loom::comm::active_comm_profile().intra(4).copy_s_per_byte);
}

TEST(ClusterPresets, EveryPresetValidatesAndRoundTrips) {
  for (const std::string& name : cluster_preset_names()) {
    const ClusterSpec c = cluster_preset(name);
    EXPECT_EQ(c.name, name);
    EXPECT_EQ(cluster_from_json(cluster_to_json(c)), c) << name;
  }
}

TEST(ClusterPresets, UnknownNameListsThePresets) {
  const std::string message = user_error_of([] { load_cluster("dgx-b200"); });
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find("\"dgx-b200\""), std::string::npos) << message;
  EXPECT_NE(message.find("dgx-a100-80g, dgx-h100, dgx-h200, local"), std::string::npos) << message;
  EXPECT_NE(user_error_of([] { cluster_preset("dgx-b200"); }).find("valid: dgx-a100-80g"), std::string::npos);
}

TEST(ClusterLoad, OverridesReplaceNodesAndDevices) {
  const ClusterSpec c = load_cluster("dgx-h100", 16);
  EXPECT_EQ(c.nodes, 16);
  EXPECT_EQ(c.devices_per_node, 8);
  EXPECT_EQ(c.world_size(), 128);
  const ClusterSpec d = load_cluster("dgx-a100-80g", 2, 4);
  EXPECT_EQ(d.nodes, 2);
  EXPECT_EQ(d.devices_per_node, 4);
  EXPECT_EQ(d.world_size(), 8);
  EXPECT_NE(user_error_of([] { load_cluster("dgx-h100", -1); }).find("--nodes=-1"), std::string::npos);
  EXPECT_NE(user_error_of([] { load_cluster("dgx-h100", 0, -2); }).find("--devices-per-node=-2"), std::string::npos);
}

TEST(ClusterFile, WrittenFileLoadsByPathWithOverrides) {
  ClusterSpec c = cluster_preset("dgx-a100-80g");
  c.name = "my-cluster";
  c.nodes = 4;
  c.notes = "a test cluster";
  const std::string path = unique_temp_path("cluster.json");
  write_cluster(c, path);
  EXPECT_EQ(read_cluster(path), c);
  EXPECT_EQ(load_cluster(path), c);
  const ClusterSpec overridden = load_cluster(path, 8, 2);
  EXPECT_EQ(overridden.nodes, 8);
  EXPECT_EQ(overridden.devices_per_node, 2);
  EXPECT_EQ(overridden.device_memory_bytes, c.device_memory_bytes);
  std::remove(path.c_str());
}

TEST(ClusterFile, BadFilesNameThePath) {
  const std::string missing = unique_temp_path("no_such_cluster.json");
  const std::string message = user_error_of([&] { load_cluster(missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("cannot be opened"), std::string::npos) << message;

  const std::string path = unique_temp_path("broken_cluster.json");
  std::ofstream(path) << "{\"version\": 1,";
  const std::string broken = user_error_of([&] { read_cluster(path); });
  EXPECT_NE(broken.find("is not valid JSON"), std::string::npos) << broken;
  EXPECT_EQ(broken.find('\n'), std::string::npos) << broken;
  std::remove(path.c_str());
}

TEST(ClusterFile, MinimalFileFillsTf32AndBf16WithFp32) {
  const json document = R"({"version": 1, "nodes": 2, "devices_per_node": 4,
      "device": {"memory_bytes": 1000000, "peak_flops": {"fp32": 1e12}},
      "intra_node": {"bandwidth_bytes_per_s": 1e10, "latency_s": 0},
      "inter_node": {"bandwidth_bytes_per_s": 1e9, "latency_s": 1e-5}})"_json;
  const ClusterSpec c = cluster_from_json(document);
  EXPECT_EQ(c.world_size(), 8);
  EXPECT_DOUBLE_EQ(c.peak_flops.tf32_flops_per_s, 1e12);
  EXPECT_DOUBLE_EQ(c.peak_flops.bf16_flops_per_s, 1e12);
  EXPECT_DOUBLE_EQ(c.memory_bandwidth_bytes_per_s, 0.0);  // absent: unknown
  EXPECT_EQ(cluster_from_json(cluster_to_json(c)), c);
  EXPECT_FALSE(cluster_to_json(c)["device"].contains("memory_bandwidth_bytes_per_s"));
}

TEST(ClusterFile, MemoryBandwidthIsReadWrittenAndRoundTrips) {
  json document = cluster_to_json(cluster_preset("dgx-a100-80g"));
  EXPECT_DOUBLE_EQ(document["device"]["memory_bandwidth_bytes_per_s"].get<double>(), 2.039e12);
  document["device"]["memory_bandwidth_bytes_per_s"] = 1.5e12;
  const ClusterSpec c = cluster_from_json(document);
  EXPECT_DOUBLE_EQ(c.memory_bandwidth_bytes_per_s, 1.5e12);
  EXPECT_EQ(cluster_from_json(cluster_to_json(c)), c);
  // 0 is allowed and means unknown, like leaving the field out.
  document["device"]["memory_bandwidth_bytes_per_s"] = 0;
  const ClusterSpec unknown = cluster_from_json(document);
  EXPECT_DOUBLE_EQ(unknown.memory_bandwidth_bytes_per_s, 0.0);
  EXPECT_EQ(cluster_from_json(cluster_to_json(unknown)), unknown);
  // Through a file as well.
  const std::string path = unique_temp_path("bandwidth_cluster.json");
  write_cluster(c, path);
  EXPECT_DOUBLE_EQ(read_cluster(path).memory_bandwidth_bytes_per_s, 1.5e12);
  std::remove(path.c_str());
}

struct InvalidClusterCase {
  std::string name;
  std::function<void(json&)> edit;
  std::vector<std::string> expected;  // each must appear in the message
};

void PrintTo(const InvalidClusterCase& test_case, std::ostream* out) {
  *out << test_case.name;
}

std::vector<InvalidClusterCase> invalid_cluster_cases() {
  return {
      {"NotAnObject", [](json& d) { d = json::array(); }, {"must hold a JSON object"}},
      {"MissingVersion", [](json& d) { d.erase("version"); }, {"version is missing", "valid: 1"}},
      {"WrongVersion", [](json& d) { d["version"] = 2; }, {"version=2", "valid: 1"}},
      {"UnknownTopField",
       [](json& d) { d["gpus"] = 8; },
       {"\"gpus\" is not a known field", "valid: version, name, nodes, devices_per_node"}},
      {"UnknownFieldWithNewline", [](json& d) { d["a\nb"] = 1; }, {"\"a\\nb\" is not a known field"}},
      {"UnknownDeviceField",
       [](json& d) { d["device"]["memory_gb"] = 80; },
       {"device.\"memory_gb\" is not a known field",
        "valid: name, memory_bytes, peak_flops, memory_bandwidth_bytes_per_s"}},
      {"UnknownDtype",
       [](json& d) { d["device"]["peak_flops"]["fp8"] = 1e15; },
       {"device.peak_flops.\"fp8\"", "valid: fp32, tf32, bf16"}},
      {"UnknownLinkField",
       [](json& d) { d["inter_node"]["nics"] = 8; },
       {"inter_node.\"nics\"", "valid: bandwidth_bytes_per_s, latency_s"}},
      {"NodesString", [](json& d) { d["nodes"] = "4"; }, {"nodes=\"4\" must be a number"}},
      {"NodesZero", [](json& d) { d["nodes"] = 0; }, {"nodes=0", "whole number from 1"}},
      {"NodesFraction", [](json& d) { d["nodes"] = 1.5; }, {"nodes=1.5", "whole number"}},
      {"DevicesNegative", [](json& d) { d["devices_per_node"] = -8; }, {"devices_per_node=-8"}},
      {"DevicesMissing", [](json& d) { d.erase("devices_per_node"); }, {"devices_per_node is missing"}},
      {"TooManyDevices",
       [](json& d) {
         d["nodes"] = 100000;
         d["devices_per_node"] = 100;
       },
       {"nodes=100000 x devices_per_node=100"}},
      {"DeviceNotObject", [](json& d) { d["device"] = "h100"; }, {"device=\"h100\" must be an object"}},
      {"DeviceNameNumber", [](json& d) { d["device"]["name"] = 7; }, {"device.name=7 must be a string"}},
      {"MemoryZero", [](json& d) { d["device"]["memory_bytes"] = 0; }, {"device.memory_bytes=0"}},
      {"MemoryBool",
       [](json& d) { d["device"]["memory_bytes"] = true; },
       {"device.memory_bytes=true must be a number"}},
      {"MemoryMissing", [](json& d) { d["device"].erase("memory_bytes"); }, {"device.memory_bytes is missing"}},
      {"Fp32Missing", [](json& d) { d["device"]["peak_flops"].erase("fp32"); }, {"device.peak_flops.fp32 is missing"}},
      {"Bf16Negative",
       [](json& d) { d["device"]["peak_flops"]["bf16"] = -1.0; },
       {"device.peak_flops.bf16=-1 must be > 0"}},
      {"BandwidthNegative",
       [](json& d) { d["device"]["memory_bandwidth_bytes_per_s"] = -5.0; },
       {"device.memory_bandwidth_bytes_per_s=-5 must be >= 0", "0: unknown"}},
      {"BandwidthString",
       [](json& d) { d["device"]["memory_bandwidth_bytes_per_s"] = "3.35 TB/s"; },
       {"device.memory_bandwidth_bytes_per_s=\"3.35 TB/s\" must be a number"}},
      {"Tf32Zero", [](json& d) { d["device"]["peak_flops"]["tf32"] = 0; }, {"device.peak_flops.tf32=0 must be > 0"}},
      {"PeakFlopsList",
       [](json& d) {
         d["device"]["peak_flops"] = {1, 2};
       },
       {"device.peak_flops=[1,2] must be an object"}},
      {"IntraMissing", [](json& d) { d.erase("intra_node"); }, {"intra_node is missing"}},
      {"IntraBandwidthZero",
       [](json& d) { d["intra_node"]["bandwidth_bytes_per_s"] = 0; },
       {"intra_node.bandwidth_bytes_per_s=0 must be > 0", "bytes/s per device per direction"}},
      {"InterBandwidthString",
       [](json& d) { d["inter_node"]["bandwidth_bytes_per_s"] = "400Gb"; },
       {"inter_node.bandwidth_bytes_per_s=\"400Gb\" must be a number"}},
      {"InterLatencyNegative",
       [](json& d) { d["inter_node"]["latency_s"] = -1e-6; },
       {"inter_node.latency_s=-1e-06 must be >= 0"}},
      {"LatencyInMicroseconds",
       [](json& d) { d["intra_node"]["latency_s"] = 2.0; },
       {"intra_node.latency_s=2 is over one second"}},
      {"LatencyMissing", [](json& d) { d["inter_node"].erase("latency_s"); }, {"inter_node.latency_s is missing"}},
      {"NotesNumber", [](json& d) { d["notes"] = 1; }, {"notes=1 must be a string"}},
  };
}

class ClusterInvalidTest : public ::testing::TestWithParam<InvalidClusterCase> {};

TEST_P(ClusterInvalidTest, ErrorNamesFieldAndValueOnOneLine) {
  const InvalidClusterCase& test_case = GetParam();
  json document = cluster_to_json(cluster_preset("dgx-h100"));
  test_case.edit(document);
  const std::string message = user_error_of([&] { cluster_from_json(document, "[c.json]"); });
  ASSERT_FALSE(message.empty()) << "no UserError for " << document.dump();
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.rfind("[c.json] ", 0), 0u) << message;
  for (const std::string& expected : test_case.expected)
    EXPECT_NE(message.find(expected), std::string::npos) << "'" << expected << "' not in: " << message;
}

INSTANTIATE_TEST_SUITE_P(Clusters, ClusterInvalidTest, ::testing::ValuesIn(invalid_cluster_cases()),
                         [](const ::testing::TestParamInfo<InvalidClusterCase>& info) { return info.param.name; });

// Specs built in code skip the parser: the validator checks them the same way.
TEST(ClusterFile, WriterRejectsAnInvalidSpec) {
  ClusterSpec c = cluster_preset("dgx-h100");
  c.intra_node.bandwidth_bytes_per_s = 0.0;
  const std::string path = unique_temp_path("invalid_cluster.json");
  const std::string message = user_error_of([&] { write_cluster(c, path); });
  EXPECT_NE(message.find("intra_node.bandwidth_bytes_per_s=0"), std::string::npos) << message;
}

}  // namespace
