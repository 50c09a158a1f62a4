// The loom executable end to end: a short training run with metrics, a checkpoint and sampling,
// and one-line errors with a non-zero exit for bad flags, files and values.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "test_support.h"

namespace {

using loom::testing_support::read_text_file;
using loom::testing_support::run_loom;
using loom::testing_support::unique_temp_path;
using Result = loom::testing_support::LoomRun;

std::string write_small_model() {
  const std::string path = unique_temp_path("cli_model.json");
  std::ofstream(path) << R"({"version": 1, "family": "gpt", "vocab_size": 256, "hidden": 32, "layers": 1,
                            "heads": 2, "seq_len": 16})";
  return path;
}

TEST(Cli, TrainWritesMetricsAndCheckpointThenSamples) {
  const std::string metrics = unique_temp_path("cli_metrics.jsonl");
  const std::string checkpoint = unique_temp_path("cli_checkpoint");
  std::filesystem::remove(metrics);
  std::filesystem::remove_all(checkpoint);
  const Result train =
      run_loom("train --model " + write_small_model() + " --steps 4 --batch 2 --seq 16 --threads 1 --metrics " +
               metrics + " --save " + checkpoint);
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_NE(train.out.find("step 4/4"), std::string::npos) << train.out;
  std::ifstream in(metrics);
  std::string line;
  int steps = 0;
  nlohmann::json last;
  while (std::getline(in, line)) {
    last = nlohmann::json::parse(line);
    if (last.value("summary", false)) break;
    ++steps;
    for (const char* key : {"step", "loss", "step_ms", "tokens_per_s", "peak_mem_bytes"})
      EXPECT_TRUE(last.contains(key)) << key << " missing in " << line;
  }
  EXPECT_EQ(steps, 4);
  EXPECT_TRUE(last.value("summary", false));
  EXPECT_GT(last.at("peak_mem_bytes").get<int64_t>(), 0);
  EXPECT_FALSE(std::filesystem::exists(metrics + ".tmp"));

  const Result sample = run_loom("sample --resume " + checkpoint + " --prompt Hello --tokens 12 --seed 3");
  ASSERT_EQ(sample.exit_code, 0) << sample.err;
  EXPECT_EQ(sample.out.rfind("Hello", 0), 0u) << sample.out;
  EXPECT_GE(sample.out.size(), 5u + 12u);

  // Resuming a finished run does nothing; asking for more steps continues it.
  const Result more = run_loom("train --resume " + checkpoint + " --steps 6 --threads 1");
  ASSERT_EQ(more.exit_code, 0) << more.err;
  EXPECT_NE(more.out.find("step 6/6"), std::string::npos) << more.out;
}

struct BadFlag {
  std::string name;
  std::string arguments;
  std::string expected;  // a fragment of the one-line error
};

class CliErrors : public ::testing::TestWithParam<BadFlag> {};

TEST_P(CliErrors, OneLineErrorAndNonZeroExit) {
  const Result result = run_loom(GetParam().arguments);
  EXPECT_NE(result.exit_code, 0) << GetParam().arguments;
  EXPECT_NE(result.err.find(GetParam().expected), std::string::npos) << result.err;
  // Exactly one line on stderr.
  ASSERT_FALSE(result.err.empty());
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliErrors,
    ::testing::Values(BadFlag{"steps_zero", "train --steps 0", "--steps 0 must be a positive integer"},
                      BadFlag{"batch_negative", "train --batch -3", "--batch -3 must be a positive integer"},
                      BadFlag{"seq_too_long", "train --seq 100000", "--seq 100000 exceeds the model's seq_len=256"},
                      BadFlag{"steps_not_a_number", "train --steps abc", "--steps"},
                      BadFlag{"unknown_flag", "train --frobnicate 1", "frobnicate"},
                      BadFlag{"unknown_preset", "train --model giant", "--model: 'giant' is neither a preset"},
                      BadFlag{"missing_model_file", "train --model /no/such/model.json",
                              "model file '/no/such/model.json' cannot be opened"},
                      BadFlag{"missing_data_file", "train --data /no/such/corpus.txt", "/no/such/corpus.txt"},
                      BadFlag{"missing_checkpoint", "train --resume /no/such/checkpoint",
                              "--resume: '/no/such/checkpoint'"},
                      BadFlag{"negative_lr", "train --lr -1", "--lr -1 must be positive"},
                      BadFlag{"unwritable_save", "train --save /proc/no/checkpoint", "--save /proc/no/checkpoint"},
                      BadFlag{"sample_without_resume", "sample", "--resume"},
                      BadFlag{"unknown_command", "frobnicate", "frobnicate"},
                      BadFlag{"plan_needs_more_ranks", "train --plan " LOOM_SOURCE_DIR "/examples/plans/dp2.json",
                              "plan needs 2 ranks (world_size), 1 were launched"},
                      BadFlag{"missing_plan", "train --plan /no/such/plan.json", "/no/such/plan.json"},
                      BadFlag{"plan_batch_mismatch",
                              "train --batch 8 --plan " LOOM_SOURCE_DIR "/examples/plans/dp2.json",
                              "--batch 8 differs from the plan's global_batch 16"}),
    [](const auto& info) { return info.param.name; });

}  // namespace

namespace {
double summary_value(const std::string& metrics_path, const char* key) {
  std::istringstream lines(read_text_file(metrics_path));
  std::string line, last;
  while (std::getline(lines, line))
    if (!line.empty()) last = line;
  return nlohmann::json::parse(last).at(key).get<double>();
}
}  // namespace

// A run with a plan (here one rank, parameters sharded ZeRO-3 style) writes the single-process
// checkpoint format: one process resumes it and ends where an uninterrupted run ends.
TEST(Cli, PlanCheckpointResumesInOneProcess) {
  const std::string plan = unique_temp_path("one_rank_plan.json");
  std::ofstream(plan) << R"({"version": 1, "world_size": 1, "global_batch": 2, "micro_batches": 2,
                             "stages": [{"layers": [0, 1], "ranks": [0]}], "layer_default": {"sharding": 3},
                             "embedding": {"sharding": 3}, "head": {"sharding": 3}})";
  const std::string checkpoint = unique_temp_path("plan_checkpoint");
  const std::string resumed = unique_temp_path("resumed.jsonl");
  const std::string straight = unique_temp_path("straight.jsonl");
  std::filesystem::remove_all(checkpoint);
  const std::string model = write_small_model();
  const Result first = run_loom("train --model " + model + " --plan " + plan +
                                " --steps 3 --seq 16 --threads 1 --eval-batches 1 --save " + checkpoint);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const Result second = run_loom("train --resume " + checkpoint + " --steps 6 --threads 1 --metrics " + resumed);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const Result whole = run_loom("train --model " + model +
                                " --steps 6 --batch 2 --seq 16 --threads 1 --eval-batches 1 --metrics " + straight);
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const double want = summary_value(straight, "final_loss");
  EXPECT_NEAR(summary_value(resumed, "final_loss"), want, 1e-4 * want);
  std::filesystem::remove_all(checkpoint);
}
