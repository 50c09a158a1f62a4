// Every all-reduce algorithm against MPI_Allreduce on random data: each dtype and op, counts
// 0, 1, 7, 1000 and 2^20, on the world and on pp x dp x tp sub-groups (consecutive and strided).
#include <gtest/gtest.h>

#include "comm/collectives.h"
#include "comm/world.h"
#include "reference.h"

namespace loom::comm {
namespace {

using testing::all_dtypes;
using testing::all_ops;

std::vector<AllReduceAlgorithm> algorithms_under_test() {
  std::vector<AllReduceAlgorithm> algorithms = all_reduce_algorithms();
  algorithms.push_back(AllReduceAlgorithm::automatic);
  algorithms.push_back(AllReduceAlgorithm::reference);
  return algorithms;
}

// Runs one all-reduce on `comm` and checks it. A mismatch is reported and the test goes on, so
// that every rank keeps making the same collective calls.
void check_all_reduce(Communicator& comm, AllReduceAlgorithm algorithm, DType dtype, ReduceOp op, size_t count,
                      uint64_t seed, const std::string& where) {
  const std::vector<char> input = testing::random_elements(count, dtype, comm.rank(), seed);
  const std::vector<char> expected = testing::expected_all_reduce(comm, input, count, dtype, op);
  std::vector<char> data = input;
  CollectiveOptions options;
  options.algorithm = algorithm;
  options.op = op;
  all_reduce(comm, data.data(), count, dtype, options);
  const std::string mismatch = testing::compare_all_reduce(data.data(), expected, count, dtype, op, comm.size());
  EXPECT_EQ(mismatch, "") << where << ": " << algorithm_name(algorithm) << ", rank " << comm.rank() << " of "
                          << comm.size();
}

bool single_node_only(AllReduceAlgorithm algorithm) {
  return algorithm == AllReduceAlgorithm::shared_memory;
}

TEST(MpiAllReduce, EveryAlgorithmDtypeOpAndCountMatchesMpiAllreduce) {
  auto world = world_communicator();
  uint64_t seed = 1;
  for (AllReduceAlgorithm algorithm : algorithms_under_test()) {
    if (single_node_only(algorithm) && !world->single_node()) continue;
    for (DType dtype : all_dtypes()) {
      for (ReduceOp op : all_ops()) {
        for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{1} << 20}) {
          check_all_reduce(*world, algorithm, dtype, op, count, seed++, "world");
        }
      }
    }
  }
}

TEST(MpiAllReduce, RepeatedCallsReuseState) {
  // Shared-memory staging and tags carry over from call to call; mixing sizes must not confuse them.
  auto world = world_communicator();
  for (AllReduceAlgorithm algorithm : algorithms_under_test()) {
    if (single_node_only(algorithm) && !world->single_node()) continue;
    for (int repeat = 0; repeat < 6; ++repeat) {
      const size_t count = repeat % 2 == 0 ? 3 : (size_t{1} << 18) + 5;
      check_all_reduce(*world, algorithm, DType::f32, ReduceOp::sum, count, 500 + static_cast<uint64_t>(repeat),
                       "repeat");
    }
  }
}

// Rank = (pp_index * dp + dp_index) * tp + tp_index: tp groups are consecutive, dp and pp strided.
TEST(MpiAllReduce, MeshSubGroups) {
  auto world = world_communicator();
  const int p = world->size();
  uint64_t seed = 9000;
  for (int tp = 1; tp <= p; ++tp) {
    if (p % tp != 0) continue;
    for (int dp = 1; dp <= p / tp; ++dp) {
      if ((p / tp) % dp != 0) continue;
      const int pp = p / tp / dp;
      const int r = world->rank();
      const int tp_index = r % tp, dp_index = (r / tp) % dp, pp_index = r / (tp * dp);
      const std::string mesh = fmt::format("pp{} x dp{} x tp{}", pp, dp, tp);
      auto tp_group = world->split(pp_index * dp + dp_index, r, mesh + " tp");
      auto dp_group = world->split(pp_index * tp + tp_index, r, mesh + " dp");
      auto pp_group = world->split(dp_index * tp + tp_index, r, mesh + " pp");
      EXPECT_EQ(tp_group->size(), tp);
      EXPECT_EQ(dp_group->size(), dp);
      EXPECT_EQ(pp_group->size(), pp);
      EXPECT_EQ(tp_group->rank(), tp_index);
      EXPECT_EQ(dp_group->rank(), dp_index);
      for (Communicator* group : {tp_group.get(), dp_group.get(), pp_group.get()}) {
        for (AllReduceAlgorithm algorithm : algorithms_under_test()) {
          if (single_node_only(algorithm) && !group->single_node()) continue;
          for (size_t count : {size_t{7}, size_t{1} << 16}) {
            check_all_reduce(*group, algorithm, DType::f32, ReduceOp::sum, count, seed++, group->name());
            check_all_reduce(*group, algorithm, DType::i64, ReduceOp::max, count, seed++, group->name());
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace loom::comm
