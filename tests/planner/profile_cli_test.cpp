// `loom profile` with a compute section, single process: the file holds both sections, and bad
// compute flags are one-line errors naming the flag and the valid range.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "comm/comm_profile.h"
#include "planner/compute_profile_io.h"
#include "test_support.h"

namespace {

using loom::testing_support::run_loom;
using loom::testing_support::unique_temp_path;
using Result = loom::testing_support::LoomRun;

TEST(ProfileCli, WritesCommAndComputeSections) {
  const std::string path = unique_temp_path("cli_compute_profile.json");
  std::remove(path.c_str());
  const Result result =
      run_loom("profile --model tiny --seq 16 --max-micro-batch 2 --max-tp 2 --repeats 2 --threads 1 --out " + path);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("compute of model tiny"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("comm and compute sections"), std::string::npos) << result.out;
  EXPECT_FALSE(loom::comm::read_comm_profile(path).intra_node.empty());
  const loom::planner::MeasuredCompute compute = loom::planner::read_measured_compute(path);
  EXPECT_EQ(compute.model.name, "tiny");
  EXPECT_EQ(compute.seq, 16);
  EXPECT_EQ(compute.threads, 1);
  EXPECT_EQ(compute.concurrent_ranks, 1);
  // tiny: 8 heads; tp 1, 2 and 2 with sequence parallelism, at 1 and 2 samples.
  EXPECT_EQ(compute.block.size(), 6u);
  EXPECT_EQ(compute.embedding.size(), 4u);
  EXPECT_EQ(compute.head.size(), 4u);
  EXPECT_NE(compute.source.find("model tiny at seq 16"), std::string::npos) << compute.source;
  std::remove(path.c_str());
}

TEST(ProfileCli, BadComputeFlagsAreOneLineErrors) {
  const struct {
    const char* arguments;
    const char* message;
  } cases[] = {
      {"profile --max-tp 0", "loom: error: --max-tp 0 must be from 1 to 4096 (the largest TP degree to measure)\n"},
      {"profile --max-micro-batch 0",
       "loom: error: --max-micro-batch 0 must be from 1 to 4096 (sequences per micro-batch)\n"},
      {"profile --seq 0", "loom: error: --seq 0 must be from 1 to the model's seq_len=256 (tokens per sequence)\n"},
      {"profile --model tiny --seq 300",
       "loom: error: --seq 300 must be from 1 to the model's seq_len=256 (tokens per sequence)\n"},
  };
  for (const auto& c : cases) {
    const Result result = run_loom(std::string(c.arguments) + " --out " + unique_temp_path("never_written.json"));
    EXPECT_EQ(result.exit_code, 2) << c.arguments;
    EXPECT_EQ(result.err, c.message) << c.arguments;
  }
  const Result unknown = run_loom("profile --model giant");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("'giant' is neither a preset"), std::string::npos) << unknown.err;
}

}  // namespace
