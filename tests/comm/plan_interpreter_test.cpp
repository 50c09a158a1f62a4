// The plan interpreter over the thread transport: every flat generator's plan, over ranks 1-9,
// 13 and 16 and counts 0, 1, 7 and 1000, against sums computed here: i32 bit-exact (sum, avg,
// max, min), f32 within the rounding bound of a p-term sum. Then a hand-made plan that goes
// through scratch and copies (a swap within one step included), generated plans on the group's
// own topology (a strided sub-group's ranks are reordered), gentree through all_reduce, and the
// errors of a plan that does not fit the call.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "collective_values.h"
#include "comm/collectives.h"
#include "comm/group_topology.h"
#include "comm/plan_interpreter.h"
#include "topo/generators.h"
#include "topo/gentree.h"
#include "topo/plan_validator.h"

namespace loom::comm {
namespace {

using testing::run_ranks;
using testing::small_counts;
using testing::test_rank_counts;

using Generator = std::function<topo::CollectivePlan(int ranks, int64_t bytes, int element_bytes)>;

const std::vector<std::pair<std::string, Generator>>& flat_generators() {
  static const std::vector<std::pair<std::string, Generator>> generators{
      {"ring", topo::generate_ring},
      {"recursive_doubling", topo::generate_recursive_doubling},
      {"rabenseifner", topo::generate_rabenseifner},
      {"tree", topo::generate_binomial_tree},
      {"direct", topo::generate_direct},
      {"double_binary_tree", [](int p, int64_t n, int e) { return topo::generate_double_binary_tree(p, n, e); }},
  };
  return generators;
}

// Rank r's element i: i32 small integers (any sum exact); f32 values whose sums do round.
int32_t i32_value(int rank, size_t i) {
  return static_cast<int32_t>((int64_t{rank} * 1000003 + static_cast<int64_t>(i) * 7919) % 200001) - 100000;
}
float f32_value(int rank, size_t i) {
  return static_cast<float>(std::sin(0.9 * rank + 0.37 * static_cast<double>(i)));
}

// Runs `plan` as an all-reduce of i32 with `op` on this rank and checks every element exactly.
void check_i32(Communicator& comm, const topo::CollectivePlan& plan, size_t count, ReduceOp op) {
  const int p = comm.size();
  std::vector<int32_t> data(count);
  for (size_t i = 0; i < count; ++i) data[i] = i32_value(comm.rank(), i);
  run_plan(comm, plan, data.data(), count, DType::i32, op);
  for (size_t i = 0; i < count; ++i) {
    int64_t sum = 0;
    int32_t high = i32_value(0, i), low = high;
    for (int r = 0; r < p; ++r) {
      sum += i32_value(r, i);
      high = std::max(high, i32_value(r, i));
      low = std::min(low, i32_value(r, i));
    }
    const int64_t want = op == ReduceOp::sum ? sum : op == ReduceOp::avg ? sum / p : op == ReduceOp::max ? high : low;
    ASSERT_EQ(data[i], want) << plan.algorithm << " " << reduce_op_name(op) << ", rank " << comm.rank() << " of " << p
                             << ", element " << i << " of " << count;
  }
}

// f32 sum and avg: within p 2^-24 sum |x| of the exact sum (any order of p - 1 additions, plus
// the division for avg); max is exact.
void check_f32(Communicator& comm, const topo::CollectivePlan& plan, size_t count, ReduceOp op) {
  const int p = comm.size();
  std::vector<float> data(count);
  for (size_t i = 0; i < count; ++i) data[i] = f32_value(comm.rank(), i);
  run_plan(comm, plan, data.data(), count, DType::f32, op);
  for (size_t i = 0; i < count; ++i) {
    double exact = 0.0, magnitude = 0.0;
    float high = f32_value(0, i);
    for (int r = 0; r < p; ++r) {
      exact += f32_value(r, i);
      magnitude += std::abs(f32_value(r, i));
      high = std::max(high, f32_value(r, i));
    }
    if (op == ReduceOp::max) {
      ASSERT_EQ(data[i], high) << plan.algorithm << ", rank " << comm.rank() << ", element " << i;
      continue;
    }
    const double scale = op == ReduceOp::avg ? 1.0 / p : 1.0;
    const double bound = (p + 1) * std::ldexp(1.0, -24) * magnitude * scale;
    ASSERT_NEAR(data[i], exact * scale, bound)
        << plan.algorithm << " " << reduce_op_name(op) << ", rank " << comm.rank() << " of " << p << ", element " << i;
  }
}

struct FlatCase {
  size_t generator = 0;
  int ranks = 1;
};

class PlanInterpreterFlat : public ::testing::TestWithParam<FlatCase> {};

TEST_P(PlanInterpreterFlat, MatchesTheSumsForEveryCountAndOp) {
  const auto& [name, generate] = flat_generators()[GetParam().generator];
  const int p = GetParam().ranks;
  for (size_t count : small_counts()) {
    const topo::CollectivePlan plan = generate(p, static_cast<int64_t>(count * 4), 4);
    topo::validate_plan(plan, "[" + name + "]");
    run_ranks(p, [&](Communicator& comm) {
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max, ReduceOp::min}) check_i32(comm, plan, count, op);
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) check_f32(comm, plan, count, op);
    });
  }
}

std::vector<FlatCase> flat_cases() {
  std::vector<FlatCase> cases;
  for (size_t g = 0; g < flat_generators().size(); ++g)
    for (int ranks : test_rank_counts()) cases.push_back({g, ranks});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(PlanInterpreter, PlanInterpreterFlat, ::testing::ValuesIn(flat_cases()),
                         [](const ::testing::TestParamInfo<FlatCase>& info) {
                           return flat_generators()[info.param.generator].first + "_p" +
                                  std::to_string(info.param.ranks);
                         });

// Every rank: copy data into scratch; send scratch to every peer while receive-reducing all of
// theirs into data (fan-in p - 1 into one range); swap data and scratch within one step (each
// copy must read its source as the step found it); copy scratch back. Three chunks, so that
// ranges are not the whole buffer.
topo::CollectivePlan scratch_plan(int ranks, int64_t bytes) {
  using topo::PlanBuffer;
  using topo::PlanOpKind;
  topo::CollectivePlan plan;
  plan.algorithm = "hand-made scratch";
  plan.ranks = ranks;
  plan.element_bytes = 4;
  plan.chunk_bytes = topo::even_chunks(bytes, 3, 4);
  plan.ops.resize(ranks);
  for (int r = 0; r < ranks; ++r) {
    auto& ops = plan.ops[r];
    ops.push_back({PlanOpKind::copy, PlanBuffer::scratch, 0, -1, 0, 3});
    for (int peer = 0; peer < ranks; ++peer)
      if (peer != r) ops.push_back({PlanOpKind::send, PlanBuffer::scratch, 1, peer, 0, 3});
    for (int peer = 0; peer < ranks; ++peer)
      if (peer != r) ops.push_back({PlanOpKind::recv_reduce, PlanBuffer::data, 1, peer, 0, 3});
    ops.push_back({PlanOpKind::copy, PlanBuffer::scratch, 2, -1, 0, 2});
    ops.push_back({PlanOpKind::copy, PlanBuffer::data, 2, -1, 0, 2});
    ops.push_back({PlanOpKind::copy, PlanBuffer::data, 3, -1, 0, 2});
  }
  return plan;
}

TEST(PlanInterpreter, ScratchAndCopiesWithASwapInOneStep) {
  for (int p : {1, 2, 3, 5}) {
    for (size_t count : small_counts()) {
      const topo::CollectivePlan plan = scratch_plan(p, static_cast<int64_t>(count * 4));
      topo::validate_plan(plan, "[scratch plan]");
      run_ranks(p, [&](Communicator& comm) {
        check_i32(comm, plan, count, ReduceOp::sum);
        check_i32(comm, plan, count, ReduceOp::min);
        check_f32(comm, plan, count, ReduceOp::sum);
      });
    }
  }
}

TEST(PlanInterpreter, PlanThatDoesNotFitTheCallIsRejected) {
  const topo::CollectivePlan plan = topo::generate_ring(3, 28, 4);
  run_ranks(4, [&](Communicator& comm) {
    std::vector<int32_t> data(7);
    try {
      run_plan(comm, plan, data.data(), 7, DType::i32, ReduceOp::sum);
      ADD_FAILURE() << "a 3-rank plan ran on 4 ranks";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("the plan has 3 ranks but the group has 4"), std::string::npos) << e.what();
    }
  });
  run_ranks(3, [&](Communicator& comm) {
    std::vector<double> wide(7);
    EXPECT_THROW(run_plan(comm, plan, wide.data(), 7, DType::f64, ReduceOp::sum), UserError);
    std::vector<int32_t> longer(8);
    try {
      run_plan(comm, plan, longer.data(), 8, DType::i32, ReduceOp::sum);
      ADD_FAILURE() << "a 28-byte plan ran on 32 bytes";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("covers 28 bytes"), std::string::npos) << e.what();
    }
  });
}

TEST(PlanInterpreter, GroupTopologyFollowsTheNodeLayout) {
  const CommProfile& profile = builtin_comm_profile();
  const GroupTopology consecutive = group_topology({5, 5, 5, 9, 9}, profile);
  ASSERT_EQ(consecutive.topology.hosts.size(), 2u);
  EXPECT_EQ(consecutive.topology.hosts[0].devices, 3);
  EXPECT_EQ(consecutive.topology.hosts[1].devices, 2);
  EXPECT_EQ(consecutive.topology.ranks(), 5);
  EXPECT_EQ(consecutive.comm_rank_of_plan_rank, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_GT(consecutive.topology.hosts[0].reduce_bytes_per_s, 0.0);
  EXPECT_GT(consecutive.topology.links[0].bandwidth_bytes_per_s, 0.0);
  const GroupTopology strided = group_topology({0, 1, 0, 1}, profile);
  EXPECT_EQ(strided.comm_rank_of_plan_rank, (std::vector<int>{0, 2, 1, 3}));
  const topo::Network network(strided.topology);  // valid
  EXPECT_EQ(network.ranks(), 4);
}

// Generated on the group's topology by name, through the cache: repeated sizes, nodes of two
// ranks, and a sub-group whose ranks alternate between the nodes.
TEST(PlanInterpreter, GeneratedPlansOnTheGroupTopology) {
  for (const std::string generator : {"ring", "direct", "hierarchical"}) {
    for (int p : {1, 3, 4, 7}) {
      // hierarchical needs equal nodes (nodes of two: an odd p leaves one node short).
      if (generator == "hierarchical" && p % 2 != 0) continue;
      run_ranks(
          p,
          [&](Communicator& comm) {
            for (int repeat = 0; repeat < 2; ++repeat) {
              for (size_t count : small_counts()) {
                std::vector<int32_t> data(count);
                for (size_t i = 0; i < count; ++i) data[i] = i32_value(comm.rank(), i);
                all_reduce_with_generated_plan(comm, data.data(), count, DType::i32, ReduceOp::sum, generator);
                for (size_t i = 0; i < count; ++i) {
                  int64_t sum = 0;
                  for (int r = 0; r < p; ++r) sum += i32_value(r, i);
                  ASSERT_EQ(data[i], sum) << generator << " p" << p << " element " << i;
                }
              }
            }
            // Keys 0, 2, 1, 3 on nodes of two: the sub-group's ranks 0 and 2 share a node.
            if (p != 4) return;
            const int r = comm.rank();
            auto strided = comm.split(0, (r % 2) * 2 + r / 2, "strided");
            std::vector<float> data(1000, float(strided->rank() + 1));
            all_reduce_with_generated_plan(*strided, data.data(), data.size(), DType::f32, ReduceOp::avg, generator);
            for (float x : data) ASSERT_EQ(x, 2.5f) << generator << " on the strided group";
          },
          /*ranks_per_node=*/2);
    }
  }
}

TEST(PlanInterpreter, UnknownGeneratorNamesTheValidOnes) {
  run_ranks(2, [](Communicator& comm) {
    std::vector<float> data(4, 1.0f);
    try {
      all_reduce_with_generated_plan(comm, data.data(), 4, DType::f32, ReduceOp::sum, "no_such_plan");
      ADD_FAILURE() << "an unknown generator ran";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("ring"), std::string::npos) << e.what();
    }
  });
}

// gentree is a named algorithm of all_reduce; auto never picks it (the cost model does not price it).
TEST(PlanInterpreter, GentreeThroughAllReduce) {
  EXPECT_EQ(algorithm_from_name("gentree"), AllReduceAlgorithm::gentree);
  for (int p : {1, 2, 3, 4, 5, 8}) {
    for (int ranks_per_node : {0, 2}) {
      run_ranks(
          p,
          [&](Communicator& comm) {
            for (size_t count : small_counts()) {
              std::vector<int32_t> data(count);
              for (size_t i = 0; i < count; ++i) data[i] = i32_value(comm.rank(), i);
              CollectiveOptions options;
              options.algorithm = AllReduceAlgorithm::gentree;
              all_reduce(comm, data.data(), count, DType::i32, options);
              for (size_t i = 0; i < count; ++i) {
                int64_t sum = 0;
                for (int r = 0; r < p; ++r) sum += i32_value(r, i);
                ASSERT_EQ(data[i], sum) << "gentree p" << p << " rpn" << ranks_per_node << " element " << i;
              }
            }
          },
          ranks_per_node);
    }
  }
}

}  // namespace
}  // namespace loom::comm
