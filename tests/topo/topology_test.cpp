// Topology format and generators: every generator's topology survives the JSON round trip, every
// malformed document is a UserError naming the field, and the example files load.
#include "topo/topology.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "topo/network.h"
#include "topo/topology_generators.h"

namespace loom::topo {
namespace {

std::vector<Topology> generated_topologies() {
  return {single_switch_topology(8), single_switch_topology(2, 2), leaf_spine_topology(4, 8, 2.0),
          leaf_spine_topology(1, 4), fat_tree_topology(4),         fat_tree_topology(2, 3),
          dgx_topology(2),           dgx_topology(9, 8),           dgx_topology(3, 4)};
}

TEST(TopoTopology, EveryGeneratorSurvivesTheJsonRoundTrip) {
  for (const Topology& topology : generated_topologies()) {
    SCOPED_TRACE(topology.name);
    EXPECT_NO_THROW(validate_topology(topology, "[test]"));
    const nlohmann::json document = topology_to_json(topology);
    EXPECT_EQ(topology_from_json(document, "[test]"), topology);
    EXPECT_EQ(topology_from_json(nlohmann::json::parse(document.dump()), "[test]"), topology);
  }
}

TEST(TopoTopology, WriteThenLoadGivesAnEqualTopology) {
  const std::string path = (std::filesystem::temp_directory_path() / "loom_topo_roundtrip.json").string();
  const Topology topology = leaf_spine_topology(2, 3, 4.0, 2, 2);
  write_topology(topology, path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(load_topology(path), topology);
  std::filesystem::remove(path);
}

TEST(TopoTopology, GeneratorsBuildTheDocumentedShapes) {
  EXPECT_EQ(single_switch_topology(8).name, "single-switch-8");
  EXPECT_EQ(leaf_spine_topology(4, 8, 2.0).name, "leaf-spine-4x8-os2");
  EXPECT_EQ(fat_tree_topology(16).name, "fat-tree-k16");
  EXPECT_EQ(dgx_topology(4).name, "dgx-4x8");

  const Topology fat_tree = fat_tree_topology(16);
  EXPECT_EQ(fat_tree.hosts.size(), 1024u);
  EXPECT_EQ(fat_tree.switches.size(), 16u * 8 * 2 + 64);
  EXPECT_EQ(fat_tree.ranks(), 1024);

  // Uplinks of a leaf: 8 hosts x 12.5 GB/s / 2, over 4 spines.
  const Topology leaf_spine = leaf_spine_topology(4, 8, 2.0, 4);
  EXPECT_EQ(leaf_spine.switches.size(), 8u);
  ASSERT_EQ(leaf_spine.links.size(), 32u + 16u);
  EXPECT_DOUBLE_EQ(leaf_spine.links.back().bandwidth_bytes_per_s, 8 * 12.5e9 / 2 / 4);
  EXPECT_DOUBLE_EQ(leaf_spine.incast.penalty_s_per_byte, 0.25 / 12.5e9);
  EXPECT_EQ(leaf_spine.incast.threshold_flows, 4);

  // DGX: a rail per GPU, four 8-GPU nodes per leaf, spines once there are two leaves.
  const Topology one_leaf = dgx_topology(2);
  EXPECT_EQ(one_leaf.ranks(), 16);
  EXPECT_EQ(one_leaf.links.size(), 16u);
  EXPECT_EQ(one_leaf.switches.size(), 1u);
  const Topology three_leaves = dgx_topology(9);
  EXPECT_EQ(three_leaves.switches.size(), 3u + 4u);
  EXPECT_GT(three_leaves.hosts[0].intra_bandwidth_bytes_per_s, three_leaves.links[0].bandwidth_bytes_per_s);
}

TEST(TopoTopology, GeneratorsRejectBadParametersNamingThem) {
  const auto expect_error = [](const std::function<void()>& make, const std::string& fragment) {
    try {
      make();
      ADD_FAILURE() << "no error, expected " << fragment;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error([] { fat_tree_topology(3); }, "k=3");
  expect_error([] { single_switch_topology(0); }, "hosts=0");
  expect_error([] { leaf_spine_topology(2, 4, 0.0); }, "oversubscription=0");
  expect_error([] { dgx_topology(2, 0); }, "gpus_per_node=0");
  TopologyParams params = cpu_topology_params();
  params.link_bandwidth_bytes_per_s = -1;
  expect_error([&] { single_switch_topology(2, 1, params); }, "link_bandwidth_bytes_per_s=-1");
}

// A small valid document: 2 leaves x 2 hosts, 2 spines.
nlohmann::json valid_document() {
  return topology_to_json(leaf_spine_topology(2, 2, 1.0, 2));
}

struct MalformedCase {
  const char* what;
  std::function<void(nlohmann::json&)> edit;
  const char* fragment;  // the error message must contain it
};

TEST(TopoTopology, MalformedDocumentsNameTheField) {
  const std::vector<MalformedCase> cases = {
      {"not an object", [](nlohmann::json& d) { d = nlohmann::json::array(); }, "must hold a JSON object"},
      {"bad version", [](nlohmann::json& d) { d["version"] = 2; }, "version=2 is not supported (valid: 1)"},
      {"missing version", [](nlohmann::json& d) { d.erase("version"); }, "version is missing"},
      {"missing hosts", [](nlohmann::json& d) { d.erase("hosts"); }, "hosts is missing"},
      {"missing devices", [](nlohmann::json& d) { d["hosts"][1].erase("devices"); }, "hosts[1].devices is missing"},
      {"missing link end", [](nlohmann::json& d) { d["links"][2].erase("to"); }, "links[2].to is missing"},
      {"unknown top field", [](nlohmann::json& d) { d["colour"] = 1; },
       "\"colour\" is not a known field (valid: version, name, hosts"},
      {"unknown host field", [](nlohmann::json& d) { d["hosts"][1]["speed"] = 1; },
       "hosts[1].\"speed\" is not a known field"},
      {"unknown incast field", [](nlohmann::json& d) { d["incast"]["w"] = 1; }, "incast.\"w\" is not a known field"},
      {"devices not a number", [](nlohmann::json& d) { d["hosts"][0]["devices"] = "two"; },
       "hosts[0].devices=\"two\" must be a number"},
      {"zero devices", [](nlohmann::json& d) { d["hosts"][0]["devices"] = 0; }, "hosts[0].devices=0"},
      {"fractional devices", [](nlohmann::json& d) { d["hosts"][0]["devices"] = 1.5; }, "hosts[0].devices=1.5"},
      {"negative bandwidth", [](nlohmann::json& d) { d["links"][3]["bandwidth_bytes_per_s"] = -1; },
       "links[3].bandwidth_bytes_per_s=-1 must be > 0"},
      {"latency in microseconds", [](nlohmann::json& d) { d["links"][0]["latency_s"] = 5; },
       "links[0].latency_s=5 must be from 0 to 1"},
      {"zero memory bandwidth", [](nlohmann::json& d) { d["hosts"][2]["memory_bandwidth_bytes_per_s"] = 0; },
       "hosts[2].memory_bandwidth_bytes_per_s=0"},
      {"no intra link for two devices", [](nlohmann::json& d) { d["hosts"][0]["devices"] = 2; },
       "hosts[0].intra_bandwidth_bytes_per_s=0"},
      {"level zero", [](nlohmann::json& d) { d["switches"][0]["level"] = 0; }, "switches[0].level=0"},
      {"threshold zero", [](nlohmann::json& d) { d["incast"]["threshold_flows"] = 0; }, "incast.threshold_flows=0"},
      {"negative penalty", [](nlohmann::json& d) { d["incast"]["penalty_s_per_byte"] = -1; },
       "incast.penalty_s_per_byte=-1"},
      {"unknown link end", [](nlohmann::json& d) { d["links"][0]["to"] = "leafX"; },
       "links[0].to=\"leafX\" is not a switch (valid: leaf0, leaf1, spine0, spine1)"},
      {"unknown link start", [](nlohmann::json& d) { d["links"][1]["from"] = "nobody"; },
       "links[1].from=\"nobody\" is not a host or a switch"},
      {"link to a host", [](nlohmann::json& d) { d["links"][1]["to"] = "h0"; }, "links[1].to=\"h0\" is not a switch"},
      {"duplicate name", [](nlohmann::json& d) { d["switches"][1]["name"] = "h0"; },
       "switches[1].name=\"h0\" is used twice (also hosts[0]"},
      {"host to level 2", [](nlohmann::json& d) { d["links"][0]["to"] = "spine0"; },
       "links[0].to=\"spine0\" is a level-2 switch; a host links to a level-1 switch (valid: leaf0, leaf1)"},
      {"leaf to leaf", [](nlohmann::json& d) { d["links"][4]["to"] = "leaf1"; },
       "links[4].to=\"leaf1\" is a level-1 switch; \"leaf0\" (level 1) links to level 2"},
      {"lonely switch",
       [](nlohmann::json& d) {
         d["switches"].push_back({{"name", "lonely"}, {"level", 1}});
       },
       "the network is disconnected: \"lonely\""},
      {"host without a link", [](nlohmann::json& d) { d["links"].erase(3); }, "hosts[3] (\"h3\") has no link"},
      {"disconnected leaves",
       [](nlohmann::json& d) {
         nlohmann::json links = nlohmann::json::array();
         for (const auto& link : d["links"])
           if (link["from"] != "leaf1") links.push_back(link);
         d["links"] = links;
       },
       "the network is disconnected"},
      {"no hosts", [](nlohmann::json& d) { d["hosts"] = nlohmann::json::array(); }, "hosts=[] must hold"},
      {"empty name", [](nlohmann::json& d) { d["hosts"][0]["name"] = ""; }, "hosts[0].name=\"\""},
  };
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.what);
    nlohmann::json document = valid_document();
    c.edit(document);
    try {
      topology_from_json(document, "[t.json]");
      ADD_FAILURE() << "no error for " << c.what;
    } catch (const UserError& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind("[t.json] ", 0), 0u) << message;
      EXPECT_NE(message.find(c.fragment), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  }
}

TEST(TopoTopology, ALoneHostNeedsNoSwitch) {
  Topology topology;
  topology.name = "one";
  topology.hosts.push_back({"h0", 4, 1e10, 1e10, 1e10, 1e-6});
  EXPECT_NO_THROW(validate_topology(topology, "[one]"));
  EXPECT_EQ(topology_from_json(topology_to_json(topology), "[one]"), topology);
  topology.hosts.push_back({"h1", 1, 1e10, 1e10, 0, 0});
  EXPECT_THROW(validate_topology(topology, "[two]"), UserError);
}

TEST(TopoTopology, FileErrorsNameThePath) {
  const std::string missing = "/nonexistent/loom-topology.json";
  try {
    load_topology(missing);
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("[" + missing + "] cannot be opened"), std::string::npos) << e.what();
  }
  const std::string garbage = (std::filesystem::temp_directory_path() / "loom_topo_garbage.json").string();
  std::ofstream(garbage) << "{ not json";
  try {
    load_topology(garbage);
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("[" + garbage + "] is not valid JSON"), std::string::npos) << e.what();
  }
  std::filesystem::remove(garbage);
}

TEST(TopoTopology, DescribeNamesTheOversubscriptionAndIncast) {
  const std::string text = describe_topology(Network(leaf_spine_topology(4, 8, 2.0)));
  EXPECT_NE(text.find("32 hosts, 32 ranks"), std::string::npos) << text;
  EXPECT_NE(text.find("oversubscription at level 1: 2:1"), std::string::npos) << text;
  EXPECT_NE(text.find("12.5 GB/s (100 Gb/s)"), std::string::npos) << text;
  EXPECT_NE(text.find("incast: 4 flows"), std::string::npos) << text;
  EXPECT_NE(text.find("hierarchy: host 32 x 1, leaf 4 x 8, spine 1 x 4 (regular)"), std::string::npos) << text;
}

TEST(TopoTopology, ExampleFilesLoadAndValidate) {
  const std::filesystem::path folder = std::filesystem::path(LOOM_SOURCE_DIR) / "examples" / "topologies";
  const std::vector<std::string> expected = {"single-switch-8.json", "leaf-spine-4x8-os2.json", "fat-tree-k4.json",
                                             "dgx-2x8.json", "two-hosts-2x2.json"};
  for (const std::string& name : expected) EXPECT_TRUE(std::filesystem::exists(folder / name)) << name;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const Topology topology = load_topology(entry.path().string());
    EXPECT_NO_THROW(Network{topology});
    ++files;
  }
  EXPECT_GE(files, int(expected.size()));
  const Topology two_hosts = load_topology((folder / "two-hosts-2x2.json").string());
  EXPECT_EQ(two_hosts.hosts.size(), 2u);
  EXPECT_EQ(two_hosts.ranks(), 4);
}

}  // namespace
}  // namespace loom::topo
