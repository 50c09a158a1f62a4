// `loom simulate` against the published Megatron-LM runs of REFERENCE.md section 4 (Narayanan et
// al. 2021: GPT on DGX A100 80 GB, full recompute, t = min(8, t*p)): the predicted TFLOP/s per
// GPU within 15% of the published figure on every row, with the analytic profile's default
// constants (bench/megatron_table.sh prints the same table).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "test_support.h"

namespace {

using loom::testing_support::LoomRun;
using loom::testing_support::run_loom;
using loom::testing_support::unique_temp_path;

struct Row {
  const char* name;
  int hidden, layers, heads, tp_pp, gpus, batch;
  double published_tflops;
};

const Row kRows[] = {
    {"1.7B", 2304, 24, 24, 1, 32, 512, 137},         {"3.6B", 3072, 30, 32, 2, 64, 512, 138},
    {"7.5B", 4096, 36, 32, 4, 128, 512, 142},        {"18B", 6144, 40, 48, 8, 256, 1024, 135},
    {"39B", 8192, 48, 64, 16, 512, 1536, 138},       {"76B", 10240, 60, 80, 32, 1024, 1792, 140},
    {"145B", 12288, 80, 96, 64, 1536, 2304, 148},    {"310B", 16384, 96, 128, 128, 1920, 2160, 155},
    {"530B", 20480, 105, 128, 280, 2520, 2520, 163}, {"1T", 25600, 128, 160, 512, 3072, 3072, 163},
};

TEST(MegatronTable, SimulatedThroughputWithinFifteenPercentOfEveryPublishedRow) {
  for (const Row& row : kRows) {
    SCOPED_TRACE(row.name);
    const std::string config = unique_temp_path(std::string("megatron_") + row.name + ".json");
    std::ofstream(config) << nlohmann::json{{"model_type", "gpt2"},       {"n_layer", row.layers},
                                            {"n_embd", row.hidden},       {"n_head", row.heads},
                                            {"vocab_size", 51200},        {"n_positions", 2048},
                                            {"tie_word_embeddings", true}}
                                 .dump();
    const int t = std::min(8, row.tp_pp);
    const int p = row.tp_pp / t;
    const int dp = row.gpus / row.tp_pp;
    const LoomRun run = run_loom("simulate --model " + config + " --cluster dgx-a100-80g --tp " + std::to_string(t) +
                                 " --pp " + std::to_string(p) + " --dp " + std::to_string(dp) + " --batch " +
                                 std::to_string(row.batch) + " --seq 2048 --recompute full --precision fp16 --json");
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const nlohmann::json result = nlohmann::json::parse(run.out);
    EXPECT_EQ(result.at("world_size").get<int>(), row.gpus);
    const double predicted = result.at("tflops_per_device").get<double>();
    EXPECT_NEAR(predicted / row.published_tflops, 1.0, 0.15) << predicted << " TFLOP/s predicted";
    std::remove(config.c_str());
  }
}

}  // namespace
