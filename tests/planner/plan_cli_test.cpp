// `loom plan` and `loom simulate` as a user runs them: the plan file they write validates against
// the runtime's model and carries its prediction, --json has the stable keys of DESIGN.md, and
// every bad model, cluster or training input is a one-line error with exit code 2.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

#include "nn/model_config.h"
#include "parallel/plan.h"
#include "test_support.h"

namespace {

using loom::testing_support::run_loom;
using loom::testing_support::unique_temp_path;
using Result = loom::testing_support::LoomRun;

// Two ranks of this machine without a measured profile (analytic): fast and deterministic.
const std::string kLocal = " --model tiny --cluster local --devices-per-node 2 --batch 16 --seq 64";

void expect_one_line_error(const Result& result, const std::string& fragment) {
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_NE(result.err.find(fragment), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;  // one line
}

TEST(PlanCli, WritesAPlanTheRuntimeAcceptsWithItsPrediction) {
  const std::string path = unique_temp_path("cli_plan.json");
  std::remove(path.c_str());
  const Result result = run_loom("plan" + kLocal + " --explain --out " + path);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("predicted: step"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("limited by"), std::string::npos) << result.out;
  const loom::parallel::ParallelPlan plan = loom::parallel::read_plan(path);
  loom::parallel::validate_plan(plan, loom::nn::model_preset("tiny"), 2);
  EXPECT_EQ(plan.global_batch, 16);
  ASSERT_TRUE(plan.prediction.present);
  EXPECT_GT(plan.prediction.step_ms, 0.0);
  EXPECT_EQ(plan.prediction.peak_mem_bytes.size(), plan.stages.size());
  // Simulating the written plan gives the prediction it carries.
  const Result simulated = run_loom("simulate --plan " + path + kLocal + " --json");
  ASSERT_EQ(simulated.exit_code, 0) << simulated.err;
  const nlohmann::json json = nlohmann::json::parse(simulated.out);
  EXPECT_NEAR(json.at("step_ms").get<double>(), plan.prediction.step_ms, 1e-9 * plan.prediction.step_ms);
  std::remove(path.c_str());
}

TEST(PlanCli, JsonHasTheStableKeys) {
  const Result plan = run_loom("plan" + kLocal + " --json");
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  const nlohmann::json json = nlohmann::json::parse(plan.out);
  for (const char* key : {"step_ms", "samples_per_s", "tflops_per_device", "mfu", "peak_mem_bytes", "search_ms"})
    EXPECT_TRUE(json.contains(key)) << key;
  EXPECT_TRUE(json.at("peak_mem_bytes").is_array());
  const Result simulate = run_loom("simulate --tp 2" + kLocal + " --json");
  ASSERT_EQ(simulate.exit_code, 0) << simulate.err;
  const nlohmann::json simulated = nlohmann::json::parse(simulate.out);
  for (const char* key : {"step_ms", "samples_per_s", "tflops_per_device", "mfu", "peak_mem_bytes"})
    EXPECT_TRUE(simulated.contains(key)) << key;
}

TEST(PlanCli, BadInputsAreOneLineErrors) {
  expect_one_line_error(run_loom("plan --model tiny --cluster nowhere"), "nowhere");
  expect_one_line_error(run_loom("plan --model missing_model.json --cluster local"), "missing_model.json");
  expect_one_line_error(run_loom("plan --model tiny --cluster local --batch 0"), "batch=0");
  expect_one_line_error(run_loom("plan --model tiny --cluster local --batch abc"), "--batch 'abc'");
  expect_one_line_error(run_loom("plan --model tiny --cluster local --batch 64:32"), "64:32");
  expect_one_line_error(run_loom("plan --model tiny --cluster local --seq 100000"), "seq=100000");
  expect_one_line_error(run_loom("plan --model tiny --cluster local --precision fp8"), "fp8");
  expect_one_line_error(run_loom("plan --model tiny --cluster local --optimizer lion"), "lion");
  expect_one_line_error(run_loom("plan --model tiny --cluster local --nodes -1"), "--nodes -1");
  expect_one_line_error(run_loom("simulate --tp 3" + kLocal), "--tp 3");
  expect_one_line_error(run_loom("simulate --recompute some" + kLocal), "some");
  expect_one_line_error(run_loom("simulate --plan missing_plan.json" + kLocal), "missing_plan.json");
}

TEST(PlanCli, NothingFitsSaysTheLeastMemoryThatWould) {
  const Result result = run_loom("plan" + kLocal + " --memory-gb 0.001");
  expect_one_line_error(result, "least memory with which one fits");
}

TEST(PlanCli, NoStrategyForTheBatchSaysSo) {
  // Three heads allow no TP on 8 devices, and one sample cannot feed 4 or 8 replicas; the model's
  // three layers allow no deeper pipeline. No memory would make a plan fit.
  const std::string path = unique_temp_path("three_heads.json");
  std::FILE* file = std::fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs(R"({"model_type": "gpt2", "n_layer": 3, "n_embd": 48, "n_head": 3, "vocab_size": 100, "n_positions": 64})",
             file);
  std::fclose(file);
  const Result result = run_loom("plan --model " + path + " --cluster local --devices-per-node 8 --batch 1 --seq 64");
  expect_one_line_error(result, "exists for --batch 1");
  std::remove(path.c_str());
}

}  // namespace
