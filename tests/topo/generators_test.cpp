// Plan generators and the plan file: every flat generator's plan validates for 1..17 ranks and
// awkward sizes, takes the textbook number of steps, survives the JSON round trip; the
// hierarchical generator validates on hand-built hosts; malformed plan documents are UserErrors
// naming the rank, the op and the field.
#include "topo/generators.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_support.h"
#include "topo/plan_validator.h"
#include "topo/topology_generators.h"

namespace loom::topo {
namespace {

using loom::testing_support::user_error_of;

struct FlatGenerator {
  const char* name;
  std::function<CollectivePlan(int ranks, int64_t bytes)> generate;
};

std::vector<FlatGenerator> flat_generators() {
  return {
      {"ring", [](int p, int64_t b) { return generate_ring(p, b); }},
      {"recursive_doubling", [](int p, int64_t b) { return generate_recursive_doubling(p, b); }},
      {"rabenseifner", [](int p, int64_t b) { return generate_rabenseifner(p, b); }},
      {"tree", [](int p, int64_t b) { return generate_binomial_tree(p, b); }},
      {"direct", [](int p, int64_t b) { return generate_direct(p, b); }},
      {"double_binary_tree", [](int p, int64_t b) { return generate_double_binary_tree(p, b); }},
      {"double_binary_tree_3_pieces", [](int p, int64_t b) { return generate_double_binary_tree(p, b, 4, 3); }},
  };
}

int ceil_log2(int p) {
  int levels = 0;
  while ((1 << levels) < p) ++levels;
  return levels;
}

TEST(TopoGenerators, EveryFlatGeneratorValidatesForAwkwardSizes) {
  for (const FlatGenerator& generator : flat_generators()) {
    for (int ranks = 1; ranks <= 17; ++ranks) {
      for (int64_t bytes : {0, 4, 28, 4000}) {
        SCOPED_TRACE(fmt::format("{} ranks={} bytes={}", generator.name, ranks, bytes));
        const CollectivePlan plan = generator.generate(ranks, bytes);
        EXPECT_EQ(plan.ranks, ranks);
        EXPECT_EQ(plan.bytes(), bytes);
        EXPECT_FALSE(plan.algorithm.empty());
        EXPECT_NO_THROW(validate_plan(plan, "[test]"));
        if (ranks == 1) {
          EXPECT_EQ(plan.op_count(), 0u);
        }
      }
    }
  }
}

TEST(TopoGenerators, StepCountsMatchTheTextbook) {
  for (int ranks = 2; ranks <= 17; ++ranks) {
    SCOPED_TRACE(ranks);
    const int levels = ceil_log2(ranks);
    const bool power_of_two = (1 << levels) == ranks;
    EXPECT_EQ(generate_ring(ranks, 4000).steps(), 2 * (ranks - 1));
    EXPECT_EQ(generate_binomial_tree(ranks, 4000).steps(), 2 * levels);
    EXPECT_EQ(generate_direct(ranks, 4000).steps(), 2);
    if (power_of_two) {
      EXPECT_EQ(generate_recursive_doubling(ranks, 4000).steps(), levels);
      EXPECT_EQ(generate_rabenseifner(ranks, 4000).steps(), 2 * levels);
    } else {
      // The fold adds one step before and one after the largest power of two below.
      EXPECT_EQ(generate_recursive_doubling(ranks, 4000).steps(), levels - 1 + 2);
      EXPECT_EQ(generate_rabenseifner(ranks, 4000).steps(), 2 * (levels - 1) + 2);
    }
  }
  EXPECT_EQ(generate_ring(1, 4000).steps(), 0);
}

TEST(TopoGenerators, RingStepsAreOneSendAndOneReceive) {
  const CollectivePlan plan = generate_ring(5, 4000);
  for (const auto& ops : plan.ops) {
    ASSERT_EQ(ops.size(), 2u * 2 * 4);
    for (size_t i = 0; i < ops.size(); i += 2) {
      EXPECT_EQ(ops[i].step, int(i / 2));
      EXPECT_EQ(ops[i + 1].step, int(i / 2));
      // One of the two sends, the other receives (recv_reduce in the reduce-scatter).
      EXPECT_NE(ops[i].kind == PlanOpKind::send, ops[i + 1].kind == PlanOpKind::send);
      const PlanOpKind receive = ops[i].kind == PlanOpKind::send ? ops[i + 1].kind : ops[i].kind;
      EXPECT_EQ(receive, i / 2 < 4 ? PlanOpKind::recv_reduce : PlanOpKind::recv);
    }
  }
}

TEST(TopoGenerators, DoubleBinaryTreePipelinesAndKeepsInteriorNodesApart) {
  // 1 MiB per half in 512 KiB pieces: two pieces per half, four chunks.
  const CollectivePlan plan = generate_double_binary_tree(8, 2 << 20);
  EXPECT_EQ(plan.chunk_bytes.size(), 4u);
  EXPECT_EQ(generate_double_binary_tree(8, 4000).chunk_bytes.size(), 2u);
  EXPECT_EQ(generate_double_binary_tree(8, int64_t{1} << 30).chunk_bytes.size(), 2u * 64);
  // A rank receives from at most two children per tree and is interior in at most one tree:
  // at most two reducing peers in all.
  for (int ranks : {2, 5, 8, 13, 16}) {
    const CollectivePlan tree = generate_double_binary_tree(ranks, 4000, 4, 6);
    for (int r = 0; r < ranks; ++r) {
      std::vector<int> children;
      for (const PlanOp& op : tree.ops[size_t(r)])
        if (op.kind == PlanOpKind::recv_reduce &&
            std::find(children.begin(), children.end(), op.peer) == children.end())
          children.push_back(op.peer);
      EXPECT_LE(children.size(), 2u) << "rank " << r << " of " << ranks;
    }
    // m pieces through trees of height floor(lg p): m + 2 floor(lg p) - 1 steps.
    EXPECT_EQ(tree.steps(), 6 + 2 * (ceil_log2(ranks + 1) - 1) - 1) << ranks;
  }
  // Pipelined: some rank sends one piece up in the step in which it adds in the next piece.
  const CollectivePlan pipelined = generate_double_binary_tree(8, 4000, 4, 4);
  bool overlaps = false;
  for (const auto& ops : pipelined.ops)
    for (const PlanOp& a : ops)
      for (const PlanOp& b : ops)
        overlaps |= a.step == b.step && a.kind == PlanOpKind::send && b.kind == PlanOpKind::recv_reduce &&
                    a.first_chunk + 1 == b.first_chunk;
  EXPECT_TRUE(overlaps);
}

TEST(TopoGenerators, PlansSurviveTheJsonRoundTrip) {
  for (const FlatGenerator& generator : flat_generators()) {
    for (int ranks : {1, 2, 5, 8}) {
      SCOPED_TRACE(fmt::format("{} ranks={}", generator.name, ranks));
      const CollectivePlan plan = generator.generate(ranks, 4000);
      EXPECT_EQ(plan_from_json(plan_to_json(plan), "[test]"), plan);
      EXPECT_EQ(plan_from_json(nlohmann::json::parse(plan_to_json(plan).dump()), "[test]"), plan);
    }
  }
}

TEST(TopoGenerators, WriteThenLoadGivesAnEqualPlan) {
  const std::string path = testing_support::unique_temp_path("loom_topo_plan.json");
  CollectivePlan plan = generate_rabenseifner(6, 4000);
  plan.ops[0].insert(plan.ops[0].begin(), PlanOp{PlanOpKind::copy, PlanBuffer::scratch, 0, -1, 0, 1});
  write_plan(plan, path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(load_plan(path), plan);
  std::filesystem::remove(path);
}

nlohmann::json small_plan_json() {
  return plan_to_json(generate_ring(4, 64));
}

TEST(TopoGenerators, MalformedPlanJsonIsAUserErrorNamingTheField) {
  const auto error_of = [](const nlohmann::json& document) {
    return user_error_of([&] { validate_plan(plan_from_json(document, "[p.json]"), "[p.json]"); });
  };
  nlohmann::json missing = small_plan_json();
  missing.erase("element_bytes");
  EXPECT_NE(error_of(missing).find("[p.json] element_bytes is missing"), std::string::npos) << error_of(missing);

  nlohmann::json missing_op_field = small_plan_json();
  missing_op_field["ops"][1][2].erase("step");
  EXPECT_NE(error_of(missing_op_field).find("[p.json] ops[1][2].step is missing"), std::string::npos);

  nlohmann::json unknown_op = small_plan_json();
  unknown_op["ops"][2][5]["op"] = "allgather";
  EXPECT_EQ(error_of(unknown_op),
            "[p.json] ops[2][5].op=\"allgather\" is not an operation (valid: send, recv, recv_reduce, copy)");

  nlohmann::json unknown_field = small_plan_json();
  unknown_field["ops"][0][0]["tag"] = 3;
  EXPECT_NE(error_of(unknown_field).find("ops[0][0].\"tag\" is not a known field"), std::string::npos);
  nlohmann::json unknown_top = small_plan_json();
  unknown_top["stride"] = 3;
  EXPECT_NE(error_of(unknown_top).find("\"stride\" is not a known field"), std::string::npos);

  nlohmann::json not_a_pair = small_plan_json();
  not_a_pair["ops"][0][1]["chunks"] = {1, 1, 1};
  EXPECT_NE(error_of(not_a_pair).find("ops[0][1].chunks=[1,1,1] must be [first, count]"), std::string::npos);
  nlohmann::json empty_range = small_plan_json();
  empty_range["ops"][0][1]["chunks"] = {1, 0};
  EXPECT_NE(error_of(empty_range).find("ops[0][1].chunks[1]=0 is out of range"), std::string::npos);
  nlohmann::json outside = small_plan_json();
  outside["ops"][0][1]["chunks"] = {3, 2};
  EXPECT_NE(error_of(outside).find("ops[0][1].chunks=[3,2] is out of range"), std::string::npos) << error_of(outside);

  nlohmann::json peer = small_plan_json();
  peer["ops"][2][5]["peer"] = 7;
  EXPECT_EQ(error_of(peer), "[p.json] ops[2][5].peer=7 is out of range (valid: 0..3, not 2 itself)");

  nlohmann::json version = small_plan_json();
  version["version"] = 2;
  EXPECT_NE(error_of(version).find("version=2 is not supported"), std::string::npos);
  nlohmann::json collective = small_plan_json();
  collective["collective"] = "broadcast";
  EXPECT_NE(error_of(collective).find("collective=\"broadcast\" is not supported (valid: all_reduce)"),
            std::string::npos);
  nlohmann::json copy_with_peer = small_plan_json();
  copy_with_peer["ops"][0][0]["op"] = "copy";
  EXPECT_NE(error_of(copy_with_peer).find("ops[0][0].peer=1 is not allowed on a copy"), std::string::npos);
}

// A topology by hand: `hosts` hosts of `devices` devices on one switch.
Topology one_switch(int hosts, int devices) {
  Topology topology;
  topology.name = fmt::format("hand-{}x{}", hosts, devices);
  topology.switches.push_back({"switch0", 1});
  for (int h = 0; h < hosts; ++h) {
    HostSpec host;
    host.name = fmt::format("h{}", h);
    host.devices = devices;
    host.memory_bandwidth_bytes_per_s = 2e10;
    host.reduce_bytes_per_s = 1e10;
    host.intra_bandwidth_bytes_per_s = devices > 1 ? 1e11 : 0.0;
    host.intra_latency_s = 1e-6;
    topology.hosts.push_back(host);
    topology.links.push_back({host.name, "switch0", 1.25e10, 1e-6});
  }
  return topology;
}

TEST(TopoGenerators, HierarchicalValidatesOnHandBuiltHosts) {
  for (const auto& [hosts, devices] : std::vector<std::pair<int, int>>{{2, 2}, {3, 4}, {1, 4}, {4, 1}, {1, 1}}) {
    const Network network(one_switch(hosts, devices));
    for (int64_t bytes : {0, 4, 28, 4000}) {
      SCOPED_TRACE(fmt::format("{}x{} bytes={}", hosts, devices, bytes));
      const CollectivePlan plan = generate_hierarchical(network, bytes);
      EXPECT_EQ(plan.topology, network.topology().name);
      EXPECT_NO_THROW(validate_plan(plan, "[test]"));
      // Inside the hosts, across them, inside again (with one group: a plain ring).
      const int groups = devices > 1 ? hosts : 1, group_size = devices > 1 ? devices : hosts;
      EXPECT_EQ(plan.steps(), 2 * (group_size - 1) + 2 * (groups - 1));
    }
  }
}

TEST(TopoGenerators, HierarchicalGroupsByLeafWhenHostsHoldOneDevice) {
  const Network network(leaf_spine_topology(2, 3));
  const CollectivePlan plan = generate_hierarchical(network, 4000);
  EXPECT_NO_THROW(validate_plan(plan, "[test]"));
  EXPECT_EQ(plan.steps(), 2 * (3 - 1) + 2 * (2 - 1));
}

TEST(TopoGenerators, HierarchicalRejectsAnIrregularNetwork) {
  Topology topology = one_switch(2, 2);
  topology.hosts[1].devices = 3;
  const Network network(topology);
  EXPECT_NE(user_error_of([&] { generate_hierarchical(network, 4000); }).find("is not regular"), std::string::npos);
}

TEST(TopoGenerators, GeneratePlanDispatchesByName) {
  const Network network(one_switch(3, 2));
  for (const std::string& name : plan_algorithm_names()) {
    if (name == "gentree") continue;  // GenTree has its own tests
    SCOPED_TRACE(name);
    const CollectivePlan plan = generate_plan(name, network, 4000);
    EXPECT_EQ(plan.algorithm, name);
    EXPECT_EQ(plan.topology, "hand-3x2");
    EXPECT_EQ(plan.ranks, 6);
    EXPECT_NO_THROW(validate_plan(plan, "[test]"));
  }
  EXPECT_NE(user_error_of([&] {
              generate_plan("butterfly", network, 4000);
            }).find("algorithm \"butterfly\" is not a plan generator (valid: ring, recursive_doubling"),
            std::string::npos);
}

TEST(TopoGenerators, EvenChunksCutWholeElements) {
  EXPECT_EQ(even_chunks(28, 4, 4), (std::vector<int64_t>{8, 8, 8, 4}));
  EXPECT_EQ(even_chunks(4, 3, 4), (std::vector<int64_t>{4, 0, 0}));
  EXPECT_EQ(even_chunks(0, 2, 4), (std::vector<int64_t>{0, 0}));
  EXPECT_NE(user_error_of([] { even_chunks(6, 2, 4); }).find("bytes=6"), std::string::npos);
}

TEST(TopoGenerators, ValidatesARingOverManyRanksQuickly) {
  // 256 ranks: about 260 thousand operations (the validator's interval sets keep this small).
  const CollectivePlan plan = generate_ring(256, 256 * 1024);
  EXPECT_NO_THROW(validate_plan(plan, "[test]"));
  EXPECT_NO_THROW(validate_plan(generate_direct(64, 4000), "[test]"));
  EXPECT_NO_THROW(validate_plan(generate_double_binary_tree(100, 1 << 20, 4, 16), "[test]"));
}

}  // namespace
}  // namespace loom::topo
