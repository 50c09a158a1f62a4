// A Hugging Face config.json as `loom plan` and `loom train` both take it: the plan the planner
// makes for it trains with the same --model, unchanged.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "test_support.h"

namespace {

using loom::testing_support::run_loom;
using loom::testing_support::unique_temp_path;

TEST(HuggingFaceTraining, PlanForAConfigTrainsWithTheSameModel) {
  const std::string config = unique_temp_path("hf_gpt2_config.json");
  const std::string plan = unique_temp_path("hf_gpt2_plan.json");
  std::ofstream(config) << R"({"model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 4, )"
                        << R"("vocab_size": 256, "n_positions": 64, "tie_word_embeddings": true})";
  const auto planned = run_loom("plan --model " + config + " --cluster local --batch 8 --seq 32 --out " + plan);
  ASSERT_EQ(planned.exit_code, 0) << planned.err;
  const auto trained =
      run_loom("train --model " + config + " --plan " + plan + " --batch 8 --seq 32 --steps 3 --threads 1");
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_NE(trained.out.find("done: 3 steps"), std::string::npos) << trained.out;
  // One process without a plan, too.
  const auto alone = run_loom("train --model " + config + " --batch 8 --seq 32 --steps 2 --threads 1");
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  EXPECT_NE(alone.out.find("done: 2 steps"), std::string::npos) << alone.out;
  std::remove(config.c_str());
  std::remove(plan.c_str());
}

TEST(HuggingFaceTraining, AModelLoomCannotTrainSaysWhy) {
  const std::string config = unique_temp_path("hf_qwen2_config.json");
  std::ofstream(config) << R"({"model_type": "qwen2", "num_hidden_layers": 2, "hidden_size": 64, )"
                        << R"("num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, )"
                        << R"("vocab_size": 256, "max_position_embeddings": 64})";
  const auto trained = run_loom("train --model " + config + " --batch 8 --seq 32 --steps 1");
  EXPECT_EQ(trained.exit_code, 2) << trained.out << trained.err;
  EXPECT_FALSE(trained.err.empty());
  std::remove(config.c_str());
}

}  // namespace
