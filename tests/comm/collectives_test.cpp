// All-reduce over the thread transport, every algorithm against closed-form answers.
//
// What the matrix covers (kept under a minute on 2 cores):
//  - AllReduce/<algorithm>_p<ranks>: ring (default segments and 64-byte segments, so blocks
//    travel in many pipelined pieces), recursive doubling, Rabenseifner, tree, hierarchical
//    (one node), reference and auto, over ranks 1-9, 13, 16; inside each, counts 0, 1, 7, 1000
//    x every dtype (f32, bf16, f64, i32, i64) x every op (sum, avg, max, min).
//  - AllReduceLarge/<algorithm>_p<ranks>: count 2^20 for f32 sum and i64 max, the same
//    algorithms but auto, reference and the ring with 64-byte segments, every rank count (the
//    full dtype x op matrix at 2^20 would take minutes).
//  - AllReduceNodes/<algorithm>_rpn<k>_p<ranks>: hierarchical and auto on nodes of 2 and 3
//    ranks (the last node smaller when k does not divide p: the unequal-node fallback), small
//    counts x every dtype and op, plus 2^20 f32 sum.
//  - AllReduceRandom: random i64 data, every algorithm equal to the reference bit for bit.
//  - mpi (throws the clear error on threads), LOOM_COMM_CHECK, argument validation, options.
// shared_memory has its own test (shared_memory_test.cpp). Reduce-scatter, all-gather,
// broadcast, reduce and all-to-all are in collectives_data_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <optional>
#include <random>

#include "collective_values.h"
#include "comm/collectives.h"
#include "comm/thread_transport.h"

namespace loom::comm {
namespace {

using namespace loom::comm::testing;

struct AlgorithmCase {
  std::string name;
  AllReduceAlgorithm algorithm;
  size_t segment_bytes = size_t{1} << 20;
};

const std::vector<AlgorithmCase>& algorithm_cases() {
  static const std::vector<AlgorithmCase> cases{
      {"ring", AllReduceAlgorithm::ring},
      {"ring_seg64", AllReduceAlgorithm::ring, 64},
      {"recursive_doubling", AllReduceAlgorithm::recursive_doubling},
      {"rabenseifner", AllReduceAlgorithm::rabenseifner},
      {"tree", AllReduceAlgorithm::tree},
      {"hierarchical", AllReduceAlgorithm::hierarchical},
      {"reference", AllReduceAlgorithm::reference},
      {"auto", AllReduceAlgorithm::automatic},
  };
  return cases;
}

struct AllReduceParam {
  AlgorithmCase algorithm;
  int ranks = 1;
  int ranks_per_node = 0;
};

std::string param_name(const ::testing::TestParamInfo<AllReduceParam>& info) {
  const AllReduceParam& p = info.param;
  std::string name = p.algorithm.name;
  if (p.ranks_per_node > 0) name += "_rpn" + std::to_string(p.ranks_per_node);
  return name + "_p" + std::to_string(p.ranks);
}

// One all-reduce of the closed-form contributions, checked on this rank.
void check_all_reduce(Communicator& comm, const AlgorithmCase& algorithm, size_t count, DType dtype, ReduceOp op) {
  visit_dtype(dtype, [&]<typename T>() {
    // Both the contribution and the answer depend on i only through i mod m: tabulate them.
    const auto period = static_cast<size_t>(contribution_of(dtype).m);
    std::vector<T> mine(period), want(period);
    for (size_t i = 0; i < period; ++i) {
      mine[i] = from_integer<T>(contribution(dtype, comm.rank(), i));
      want[i] = expected_reduction<T>(dtype, op, comm.size(), i);
    }
    std::vector<T> data(count);
    for (size_t i = 0; i < count; ++i) data[i] = mine[i % period];
    CollectiveOptions options;
    options.algorithm = algorithm.algorithm;
    options.op = op;
    options.segment_bytes = algorithm.segment_bytes;
    all_reduce(comm, data.data(), count, dtype, options);
    const std::string error = first_mismatch(data, [&](size_t i) { return want[i % period]; });
    if (!error.empty()) {
      ADD_FAILURE() << "all_reduce " << algorithm.name << " p=" << comm.size() << " rank " << comm.rank() << " count "
                    << count << " " << dtype_name(dtype) << " " << reduce_op_name(op) << ": " << error;
    }
  });
}

std::vector<AllReduceParam> every_algorithm_and_rank_count() {
  std::vector<AllReduceParam> params;
  for (const AlgorithmCase& algorithm : algorithm_cases())
    for (int ranks : test_rank_counts()) params.push_back({algorithm, ranks, 0});
  return params;
}

class AllReduce : public ::testing::TestWithParam<AllReduceParam> {};

TEST_P(AllReduce, SmallCountsEveryDtypeAndOp) {
  const AllReduceParam& param = GetParam();
  run_ranks(
      param.ranks,
      [&](Communicator& comm) {
        for (size_t count : small_counts())
          for (DType dtype : test_dtypes())
            for (ReduceOp op : test_ops()) check_all_reduce(comm, param.algorithm, count, dtype, op);
      },
      param.ranks_per_node);
}

INSTANTIATE_TEST_SUITE_P(Collectives, AllReduce, ::testing::ValuesIn(every_algorithm_and_rank_count()), param_name);

class AllReduceLarge : public ::testing::TestWithParam<AllReduceParam> {};

TEST_P(AllReduceLarge, MillionElementsF32SumAndI64Max) {
  const AllReduceParam& param = GetParam();
  run_ranks(param.ranks, [&](Communicator& comm) {
    check_all_reduce(comm, param.algorithm, kLargeCount, DType::f32, ReduceOp::sum);
    check_all_reduce(comm, param.algorithm, kLargeCount, DType::i64, ReduceOp::max);
  });
}

std::vector<AllReduceParam> large_cases() {
  std::vector<AllReduceParam> params;
  for (const AlgorithmCase& algorithm : algorithm_cases()) {
    // Tiny segments are covered at small counts, auto runs one of the others, and the reference
    // (the plain oracle of AllReduceRandom) has no size-dependent code.
    if (algorithm.segment_bytes < 1024 || algorithm.algorithm == AllReduceAlgorithm::automatic ||
        algorithm.algorithm == AllReduceAlgorithm::reference)
      continue;
    for (int ranks : test_rank_counts()) params.push_back({algorithm, ranks, 0});
  }
  return params;
}

INSTANTIATE_TEST_SUITE_P(Collectives, AllReduceLarge, ::testing::ValuesIn(large_cases()), param_name);

// Several nodes: equal nodes use the two-level algorithm, unequal ones its fallback.
class AllReduceNodes : public ::testing::TestWithParam<AllReduceParam> {};

TEST_P(AllReduceNodes, SmallCountsEveryDtypeAndOpThenLarge) {
  const AllReduceParam& param = GetParam();
  run_ranks(
      param.ranks,
      [&](Communicator& comm) {
        for (size_t count : small_counts())
          for (DType dtype : test_dtypes())
            for (ReduceOp op : test_ops()) check_all_reduce(comm, param.algorithm, count, dtype, op);
        check_all_reduce(comm, param.algorithm, kLargeCount, DType::f32, ReduceOp::sum);
      },
      param.ranks_per_node);
}

std::vector<AllReduceParam> node_cases() {
  std::vector<AllReduceParam> params;
  for (const AlgorithmCase& algorithm : algorithm_cases()) {
    if (algorithm.name != "hierarchical" && algorithm.name != "auto") continue;
    for (int ranks_per_node : {2, 3})
      for (int ranks : test_rank_counts()) params.push_back({algorithm, ranks, ranks_per_node});
  }
  return params;
}

INSTANTIATE_TEST_SUITE_P(Collectives, AllReduceNodes, ::testing::ValuesIn(node_cases()), param_name);

// The fast algorithms against the plain reference on data without structure.
TEST(AllReduceRandom, EveryAlgorithmMatchesTheReferenceExactly) {
  for (int ranks : test_rank_counts()) {
    run_ranks(
        ranks,
        [&](Communicator& comm) {
          std::mt19937_64 random(1234 + static_cast<uint64_t>(comm.rank()));
          std::uniform_int_distribution<int64_t> values(-(int64_t{1} << 40), int64_t{1} << 40);
          for (size_t count : {size_t{5}, size_t{1031}}) {
            for (ReduceOp op : test_ops()) {
              std::vector<int64_t> input(count);
              for (auto& value : input) value = values(random);
              std::vector<int64_t> expected = input;
              all_reduce(comm, expected.data(), count, DType::i64, {AllReduceAlgorithm::reference, op});
              for (const AlgorithmCase& algorithm : algorithm_cases()) {
                std::vector<int64_t> got = input;
                CollectiveOptions options{algorithm.algorithm, op};
                options.segment_bytes = algorithm.segment_bytes;
                all_reduce(comm, got.data(), count, DType::i64, options);
                EXPECT_EQ(got, expected) << algorithm.name << " p=" << ranks << " rank " << comm.rank() << " "
                                         << reduce_op_name(op) << " count " << count;
              }
            }
          }
        },
        ranks > 4 ? 3 : 0);
  }
}

TEST(AllReduceErrors, MpiOnThreadsNamesTheTransport) {
  for (size_t count : {size_t{0}, size_t{100}}) {
    try {
      ThreadWorld::run(3, [&](Communicator& comm) {
        std::vector<float> data(count, 1.0f);
        all_reduce(comm, data.data(), count, DType::f32, {AllReduceAlgorithm::mpi});
      });
      FAIL() << "expected a UserError";
    } catch (const UserError& e) {
      EXPECT_STREQ(e.what(), "all-reduce algorithm 'mpi' needs the MPI transport (this group runs on threads)");
    }
  }
}

// Sets an environment variable for one scope and restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) saved_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (saved_) {
      setenv(name_, saved_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

TEST(AllReduceErrors, CheckModeNamesTheRankWithAMismatchedCount) {
  ScopedEnv check("LOOM_COMM_CHECK", "1");
  std::atomic<int> failures{0};
  try {
    ThreadWorld::run(4, [&](Communicator& comm) {
      const size_t count = comm.rank() == 2 ? 1000 : 999;
      std::vector<float> data(count, 1.0f);
      try {
        all_reduce(comm, data.data(), count, DType::f32, {AllReduceAlgorithm::ring});
      } catch (const CommError& e) {
        ++failures;
        const std::string message = e.what();
        EXPECT_NE(message.find("all_reduce on group 'world': rank 2 called all_reduce(1000 x f32, sum, ring) but "
                               "rank 0 called all_reduce(999 x f32, sum, ring)"),
                  std::string::npos)
            << message;
        EXPECT_EQ(e.missing_ranks(), std::vector<int>{2});
        throw;
      }
    });
    FAIL() << "expected a CommError";
  } catch (const CommError&) {
  }
  EXPECT_EQ(failures.load(), 4);  // every rank reports, none runs the mismatched all-reduce
}

TEST(AllReduceErrors, CheckModePassesMatchingCallsOfEveryCollective) {
  ScopedEnv check("LOOM_COMM_CHECK", "1");
  ThreadWorld::run(5, [](Communicator& comm) {
    std::vector<int64_t> one(7, comm.rank()), all(35, 1), out(35);
    all_reduce(comm, one.data(), 7, DType::i64, {AllReduceAlgorithm::ring});
    EXPECT_EQ(one[0], 10);
    reduce_scatter(comm, all.data(), one.data(), 7, DType::i64);
    all_gather(comm, one.data(), out.data(), 7, DType::i64);
    broadcast(comm, one.data(), 7, DType::i64, 3);
    reduce(comm, one.data(), out.data(), 7, DType::i64, 1);
    all_to_all(comm, all.data(), out.data(), 7, DType::i64);
    EXPECT_EQ(out[34], 1);
  });
}

TEST(AllReduceErrors, CheckModeNamesAnotherCollective) {
  ScopedEnv check("LOOM_COMM_CHECK", "1");
  try {
    ThreadWorld::run(3, [](Communicator& comm) {
      std::vector<float> data(8, 1.0f);
      if (comm.rank() == 1) {
        broadcast(comm, data.data(), 8, DType::f32, 0);
      } else {
        all_reduce(comm, data.data(), 8, DType::f32, {AllReduceAlgorithm::tree});
      }
    });
    FAIL() << "expected a CommError";
  } catch (const CommError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 called broadcast(8 x f32, root 0) but rank 0 called "
                                         "all_reduce(8 x f32, sum, tree)"),
              std::string::npos)
        << e.what();
  }
}

TEST(AllReduceErrors, NullBufferIsRejectedWithTheGroupAndCount) {
  try {
    ThreadWorld::run(1, [](Communicator& comm) { all_reduce(comm, nullptr, 10, DType::f32); });
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "all_reduce on group 'world' (rank 0 of 1): data is null but holds 10 elements");
  }
  ThreadWorld::run(2, [](Communicator& comm) { all_reduce(comm, nullptr, 0, DType::f32); });  // nothing to do
}

TEST(AllReduceErrors, SkippedCollectiveTimesOutNamingTheRank) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> errors{0};
  try {
    ThreadWorld::run(3, [&](Communicator& comm) {
      if (comm.rank() == 1) return;
      std::vector<float> data(100, 1.0f);
      CollectiveOptions options{AllReduceAlgorithm::ring};
      options.timeout = std::chrono::milliseconds(300);
      try {
        all_reduce(comm, data.data(), 100, DType::f32, options);
      } catch (const CommError& e) {
        ++errors;
        EXPECT_NE(std::string(e.what()).find("all_reduce(ring, 100 x f32, sum) on group 'world'"), std::string::npos)
            << e.what();
        throw;
      }
    });
    FAIL() << "expected a CommError";
  } catch (const CommError&) {
  }
  EXPECT_EQ(errors.load(), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(AllReduceOptions, DescriptionNamesTheAlgorithmAndTimeoutIsRestored) {
  ThreadWorld::run(3, [](Communicator& comm) {
    const auto before = comm.timeout();
    std::vector<float> data(4096, 1.0f);
    CollectiveOptions options{AllReduceAlgorithm::ring};
    options.timeout = std::chrono::milliseconds(5000);
    all_reduce(comm, data.data(), 4096, DType::f32, options);
    EXPECT_EQ(comm.operation(), "all_reduce(ring, 4096 x f32, sum)");
    EXPECT_EQ(comm.timeout(), before);
    EXPECT_EQ(data[4095], 3.0f);
    all_reduce(comm, data.data(), 4096, DType::f32, {AllReduceAlgorithm::automatic, ReduceOp::avg});
    EXPECT_EQ(comm.operation().rfind("all_reduce(", 0), 0u);
    EXPECT_EQ(comm.operation().find("auto"), std::string::npos) << "the resolved algorithm is named";
    EXPECT_EQ(data[0], 3.0f);
  });
}

}  // namespace
}  // namespace loom::comm
