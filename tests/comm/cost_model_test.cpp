// The cost model: each formula against values computed by hand, the choice of `auto` at small and
// large sizes with realistic parameters, and the profile file's round trip and errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "comm/algorithm_selection.h"
#include "comm/comm_profile.h"
#include "comm/cost_model.h"
#include "comm/link_measurement.h"
#include "comm/thread_transport.h"
#include "core/error.h"
#include "test_support.h"

namespace loom::comm {
namespace {

// alpha 1 us, beta 1 ns/byte, gamma 0.5 ns/byte; n = 1e6 bytes.
const LinkParameters kLink{1e-6, 1e-9, 5e-10};
constexpr double kBytes = 1e6;

TEST(CostModel, AllReduceFormulasMatchHandComputedValues) {
  // ring p=4: 2*3*1e-6 + 2*1e6*(3/4)*1e-9 + 1e6*(3/4)*5e-10
  EXPECT_NEAR(ring_all_reduce_s(4, kBytes, kLink), 6e-6 + 1.5e-3 + 3.75e-4, 1e-12);
  // recursive doubling p=4: 2*1e-6 + 1e6*2*(1e-9 + 5e-10)
  EXPECT_NEAR(recursive_doubling_all_reduce_s(4, kBytes, kLink), 2e-6 + 3e-3, 1e-12);
  // p=5: the same over 4 ranks plus the fold 2*1e-6 + 2*1e6*1e-9 + 1e6*5e-10
  EXPECT_NEAR(recursive_doubling_all_reduce_s(5, kBytes, kLink), 3.002e-3 + 2e-6 + 2e-3 + 5e-4, 1e-12);
  // Rabenseifner p=4: 2*2*1e-6 + 2*1e6*(3/4)*1e-9 + 1e6*(3/4)*5e-10
  EXPECT_NEAR(rabenseifner_all_reduce_s(4, kBytes, kLink), 4e-6 + 1.5e-3 + 3.75e-4, 1e-12);
  // p=6 folds 2 ranks into a group of 4
  EXPECT_NEAR(rabenseifner_all_reduce_s(6, kBytes, kLink), 1.879e-3 + 2.502e-3, 1e-12);
  // tree p=4: 2*2*1e-6 + 2*1e6*2*1e-9 + 1e6*2*5e-10; p=5 has depth 3
  EXPECT_NEAR(tree_all_reduce_s(4, kBytes, kLink), 4e-6 + 4e-3 + 1e-3, 1e-12);
  EXPECT_NEAR(tree_all_reduce_s(5, kBytes, kLink), 6e-6 + 6e-3 + 1.5e-3, 1e-12);
  // shared memory p=2, copy 0.2 ns/byte, staged: 2*1e-6 + 2*1e6*(1/2)*2e-10 + 1e6*(1/2)*5e-10
  EXPECT_NEAR(shared_memory_all_reduce_s(2, kBytes, kLink, 2e-10, false), 2e-6 + 2e-4 + 2.5e-4, 1e-12);
  // in the segment: 2*1e-6 + 1e6*(1/2)*2e-10 + 1e6*(1/2)*5e-10
  EXPECT_NEAR(shared_memory_all_reduce_s(2, kBytes, kLink, 2e-10, true), 2e-6 + 1e-4 + 2.5e-4, 1e-12);
  // 1000 bytes take the one-step path: 1e-6 + 1000*2e-10 + 1000*1*5e-10
  EXPECT_NEAR(shared_memory_all_reduce_s(2, 1000, kLink, 2e-10, false), 1e-6 + 2e-7 + 5e-7, 1e-15);
  // One rank: nothing to do.
  EXPECT_EQ(ring_all_reduce_s(1, kBytes, kLink), 0.0);
  EXPECT_EQ(recursive_doubling_all_reduce_s(1, kBytes, kLink), 0.0);
  EXPECT_EQ(tree_all_reduce_s(1, kBytes, kLink), 0.0);
}

TEST(CostModel, HierarchicalUsesIntraAndInterNodeLinks) {
  const LinkParameters inter{1e-5, 1e-8, 5e-10};
  // intra reduce-scatter (p_l=2): 1e-6 + 1e6*(1/2)*1.5e-9 = 7.51e-4
  // inter all-reduce of 5e5 bytes over 2 nodes, the cheaper of ring/Rabenseifner: 2e-5 + 5e-3 + 1.25e-4
  // intra all-gather: 1e-6 + 5e-4
  EXPECT_NEAR(hierarchical_all_reduce_s(2, 2, kBytes, kLink, inter), 7.51e-4 + 5.145e-3 + 5.01e-4, 1e-12);
}

TEST(CostModel, OtherCollectivesMatchHandComputedValues) {
  EXPECT_NEAR(ring_reduce_scatter_s(4, kBytes, kLink), 3e-6 + 1.125e-3, 1e-12);
  EXPECT_NEAR(ring_all_gather_s(4, kBytes, kLink), 3e-6 + 7.5e-4, 1e-12);
  EXPECT_NEAR(recursive_doubling_all_gather_s(4, kBytes, kLink), 2e-6 + 7.5e-4, 1e-12);
  EXPECT_NEAR(binomial_broadcast_s(4, kBytes, kLink), 2 * (1e-6 + 1e-3), 1e-12);
  // chain of 4 ranks, 10 segments of 1e5 bytes: (4 - 2 + 10) * (1e-6 + 1e5*1e-9)
  EXPECT_NEAR(chain_broadcast_s(4, kBytes, 1e5, kLink), 12 * 1.01e-4, 1e-12);
  EXPECT_NEAR(binomial_reduce_s(4, kBytes, kLink), 2 * (1e-6 + 1.5e-3), 1e-12);
  EXPECT_NEAR(pairwise_all_to_all_s(4, kBytes, kLink), 3e-6 + 7.5e-4, 1e-12);
  // Bounds: bandwidth 2*1e6*(3/4)*1e-9 dominates latency 2*1e-6.
  EXPECT_NEAR(all_reduce_lower_bound_s(4, kBytes, kLink), 1.5e-3, 1e-12);
  EXPECT_LE(all_reduce_lower_bound_s(4, kBytes, kLink), ring_all_reduce_s(4, kBytes, kLink));
}

TEST(CostModel, OpenMpiTunedDecision) {
  EXPECT_EQ(open_mpi_tuned_all_reduce(2, 1024), AllReduceAlgorithm::recursive_doubling);
  EXPECT_EQ(open_mpi_tuned_all_reduce(2, 32768), AllReduceAlgorithm::ring);
  EXPECT_EQ(open_mpi_tuned_all_reduce(2, 1 << 26), AllReduceAlgorithm::rabenseifner);
  EXPECT_EQ(open_mpi_tuned_all_reduce(4, 4096), AllReduceAlgorithm::recursive_doubling);
  EXPECT_EQ(open_mpi_tuned_all_reduce(4, 1 << 20), AllReduceAlgorithm::rabenseifner);
}

CommProfile realistic_profile() {
  // This machine's order of magnitude: a few us per message, 1-2 GB/s through MPI, 8 GB/s reduce,
  // 5.6 GB/s copy per rank.
  CommProfile profile;
  profile.source = "test";
  profile.intra_node = {{2, {2e-6, 5e-10, 1.2e-10}, 1.8e-10}, {4, {5e-6, 8e-10, 2.4e-10}, 3.6e-10}};
  profile.inter_node = {{2, {2e-5, 1e-9, 1.2e-10}, 1.8e-10}};
  return profile;
}

TEST(CostModel, ChoosesLatencyAlgorithmsForTinyAndBandwidthOptimalForLarge) {
  const CommProfile profile = realistic_profile();
  const TransportAbilities plain;  // point-to-point only
  for (int p : {2, 4, 8}) {
    const GroupShape shape{p, p, 1};
    const AllReduceAlgorithm tiny = cheapest_all_reduce(shape, plain, 64, profile);
    EXPECT_TRUE(tiny == AllReduceAlgorithm::recursive_doubling || tiny == AllReduceAlgorithm::tree)
        << p << " ranks: " << algorithm_name(tiny);
    const AllReduceAlgorithm large = cheapest_all_reduce(shape, plain, size_t{64} << 20, profile);
    EXPECT_TRUE(large == AllReduceAlgorithm::ring || large == AllReduceAlgorithm::rabenseifner)
        << p << " ranks: " << algorithm_name(large);
  }
  // Never mpi (it ties with the algorithm Open MPI runs); shared memory only with shared segments on one node.
  const TransportAbilities mpi_like{true, true};
  const AllReduceAlgorithm on_one_node = cheapest_all_reduce({2, 2, 1}, mpi_like, size_t{64} << 20, profile);
  EXPECT_EQ(on_one_node, AllReduceAlgorithm::shared_memory);
  const AllReduceAlgorithm across_nodes = cheapest_all_reduce({4, 2, 2}, mpi_like, size_t{64} << 20, profile);
  EXPECT_NE(across_nodes, AllReduceAlgorithm::shared_memory);
  EXPECT_NE(across_nodes, AllReduceAlgorithm::mpi);
}

TEST(CostModel, ChooseOnACommunicatorIsTheSameOnEveryRank) {
  ThreadWorld::run(5, [](Communicator& comm) {
    const GroupShape shape = group_shape(comm);
    EXPECT_EQ(shape.ranks, 5);
    EXPECT_EQ(shape.nodes, 1);
    for (size_t bytes : {size_t{0}, size_t{4} << 10, size_t{64} << 20, size_t{4} << 10, size_t{64} << 20}) {
      const AllReduceAlgorithm algorithm = choose_all_reduce_algorithm(comm, bytes);
      EXPECT_NE(algorithm, AllReduceAlgorithm::mpi);  // no MPI_Allreduce on threads
      EXPECT_NE(algorithm, AllReduceAlgorithm::automatic);
      // The per-thread memo gives what the model gives for these inputs.
      EXPECT_EQ(algorithm, cheapest_all_reduce(shape, transport_abilities(comm), bytes, active_comm_profile()));
    }
  });
  ThreadWorld::run(
      6,
      [](Communicator& comm) {
        const GroupShape shape = group_shape(comm);
        EXPECT_EQ(shape.nodes, 3);
        EXPECT_EQ(shape.ranks_per_node, 2);
        EXPECT_NE(choose_all_reduce_algorithm(comm, size_t{64} << 20), AllReduceAlgorithm::shared_memory);
      },
      2);
}

TEST(CommProfile, JsonRoundTripAndNearestGroupSize) {
  const CommProfile profile = realistic_profile();
  const CommProfile back = comm_profile_from_json(comm_profile_to_json(profile), "[test]");
  ASSERT_EQ(back.intra_node.size(), 2u);
  ASSERT_EQ(back.inter_node.size(), 1u);
  EXPECT_EQ(back.source, "test");
  EXPECT_EQ(back.intra_node[1].ranks, 4);
  EXPECT_DOUBLE_EQ(back.intra_node[1].link.beta_s_per_byte, 8e-10);
  EXPECT_DOUBLE_EQ(back.intra_node[0].copy_s_per_byte, 1.8e-10);
  EXPECT_EQ(back.intra(3).ranks, 4);  // tie between 2 and 4: the larger group
  EXPECT_EQ(back.intra(16).ranks, 4);
  EXPECT_EQ(back.inter(8).ranks, 2);

  const std::string path = loom::testing_support::unique_temp_path("comm_profile.json");
  write_comm_profile(profile, path);
  const CommProfile read = read_comm_profile(path);
  EXPECT_DOUBLE_EQ(read.inter_node[0].link.alpha_s, 2e-5);
  std::remove(path.c_str());
}

std::string error_of(const nlohmann::json& document) {
  try {
    comm_profile_from_json(document, "[p.json]");
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(CommProfile, ErrorsNameTheFieldAndValue) {
  nlohmann::json good = comm_profile_to_json(realistic_profile());
  EXPECT_EQ(error_of(good), "no error");

  nlohmann::json bad = good;
  bad["version"] = 7;
  EXPECT_EQ(error_of(bad), "[p.json] version=7 is not supported (valid: 1)");
  bad = good;
  bad["comm"]["intra_node"][1]["beta_s_per_byte"] = -1;
  EXPECT_EQ(error_of(bad), "[p.json] comm.intra_node[1].beta_s_per_byte=-1 must be > 0 and finite");
  bad = good;
  bad["comm"]["intra_node"][0].erase("alpha_s");
  EXPECT_EQ(error_of(bad), "[p.json] comm.intra_node[0].alpha_s is missing");
  bad = good;
  bad["comm"]["intra_node"][0]["ranks"] = 2.5;
  EXPECT_EQ(error_of(bad), "[p.json] comm.intra_node[0].ranks=2.5 must be a whole number of ranks >= 1");
  bad = good;
  bad["comm"]["intra_node"][1]["ranks"] = 2;
  EXPECT_EQ(error_of(bad),
            "[p.json] comm.intra_node[1].ranks=2 appears twice in comm.intra_node (one entry per group size)");
  bad = good;
  bad["comm"]["intra_node"] = nlohmann::json::array();
  EXPECT_EQ(error_of(bad), "[p.json] comm.intra_node is empty (needs at least one group size)");
  bad = good;
  bad["comm"]["intra_node"][0]["latency"] = 1;
  EXPECT_NE(error_of(bad).find("comm.intra_node[0].latency is not a known field"), std::string::npos);
  bad = good;
  bad.erase("comm");
  EXPECT_EQ(error_of(bad), "[p.json] has no \"comm\" section (write one with loom profile)");
  EXPECT_THROW(read_comm_profile("/nonexistent/profile.json"), UserError);
}

TEST(CommProfile, BuiltinProfileIsValid) {
  EXPECT_NO_THROW(validate_comm_profile(builtin_comm_profile(), "[built-in]"));
  EXPECT_FALSE(builtin_comm_profile().source.empty());
}

TEST(LinkMeasurement, FitRecoversAlphaAndBeta) {
  std::vector<TimedSample> samples;
  for (double bytes : {8.0, 1024.0, 65536.0, 1048576.0, 4194304.0}) samples.push_back({bytes, 3e-6 + bytes * 2.5e-10});
  const LinkParameters fit = fit_alpha_beta(samples);
  EXPECT_NEAR(fit.alpha_s, 3e-6, 1e-9);
  EXPECT_NEAR(fit.beta_s_per_byte, 2.5e-10, 1e-13);
  // Samples that would give a negative intercept fall back to a line through the origin.
  const LinkParameters origin = fit_alpha_beta({{1000.0, 1e-7}, {2000.0, 5e-7}});
  EXPECT_EQ(origin.alpha_s, 0.0);
  EXPECT_GT(origin.beta_s_per_byte, 0.0);
}

TEST(LinkMeasurement, MeasuresAGroupOfThreads) {
  ThreadWorld::run(3, [](Communicator& comm) {
    const GroupParameters group = measure_group(comm, {8, 4096}, 3, {}, size_t{1} << 20);
    EXPECT_EQ(group.ranks, 3);
    EXPECT_GE(group.link.alpha_s, 0.0);
    EXPECT_GT(group.link.beta_s_per_byte, 0.0);
    EXPECT_GT(group.link.gamma_s_per_byte, 0.0);
    EXPECT_GT(group.copy_s_per_byte, 0.0);
    EXPECT_EQ(max_over_ranks(comm, double(comm.rank())), 2.0);
  });
}

}  // namespace
}  // namespace loom::comm
