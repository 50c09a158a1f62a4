// The plan file: round trips, the example plans, and a table of invalid plans whose one-line
// errors must name the field and the value.
#include "parallel/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "nn/model_config.h"
#include "test_support.h"

namespace loom::parallel {
namespace {

using nlohmann::json;

// Two stages of two ranks over the tiny preset: valid, the base every invalid case edits.
json base_plan_json() {
  return json::parse(R"({
    "version": 1, "world_size": 4, "global_batch": 16, "micro_batches": 2, "schedule": "1f1b",
    "stages": [{"layers": [0, 3], "ranks": [0, 1]}, {"layers": [3, 6], "ranks": [2, 3]}],
    "layer_default": {"tp": 1},
    "embedding": {"tp": 1}, "head": {"tp": 1}
  })");
}

// The UserError message of `action`, or "" when nothing was thrown.
using loom::testing_support::user_error_of;

ParallelPlan sample_plan() {
  ParallelPlan plan;
  plan.world_size = 4;
  plan.global_batch = 32;
  plan.micro_batches = 4;
  plan.schedule = PipelineSchedule::gpipe;
  plan.stages = {{0, 2, {3, 1}}, {2, 6, {0, 2}}};
  plan.layers.resize(6);
  plan.layers[1] = {2, false, 1, true, true};
  plan.layers[4] = {1, true, 3, true, false};
  plan.embedding = {2, false, 2};
  plan.head = {2, false, 0};
  plan.bucket_bytes = 1000;  // not a whole MiB: written as a fraction
  plan.prediction.present = true;
  plan.prediction.step_ms = 12.345678901234;
  plan.prediction.peak_mem_bytes = {int64_t{123} << 30, 456};
  return plan;
}

TEST(PlanFile, JsonRoundTripKeepsEveryField) {
  const ParallelPlan plan = sample_plan();
  EXPECT_EQ(plan_from_json(plan_to_json(plan)), plan);
  const ParallelPlan without_prediction = data_parallel_plan(nn::model_preset("tiny"), 3, 9);
  EXPECT_EQ(plan_from_json(plan_to_json(without_prediction)), without_prediction);
  EXPECT_FALSE(plan_to_json(without_prediction).contains("prediction"));
  EXPECT_EQ(plan_to_json(without_prediction).at("layers").size(), 6u);  // every layer written out
}

TEST(PlanFile, WriteAndReadRoundTrip) {
  const std::string path = testing_support::unique_temp_path("plan_round_trip.json");
  const ParallelPlan plan = sample_plan();
  write_plan(plan, path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(read_plan(path), plan);
  // Written again over an existing file, the result is the new plan.
  ParallelPlan other = plan;
  other.micro_batches = 8;
  write_plan(other, path);
  EXPECT_EQ(read_plan(path), other);
  std::remove(path.c_str());
}

TEST(PlanFile, ReadErrorsNameTheFile) {
  const std::string missing = testing_support::unique_temp_path("no_such_plan.json");
  EXPECT_NE(user_error_of([&] { read_plan(missing); }).find("no_such_plan.json"), std::string::npos);
  const std::string broken = testing_support::unique_temp_path("broken_plan.json");
  {
    std::FILE* file = std::fopen(broken.c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs("{\"version\": 1,", file);
    std::fclose(file);
  }
  const std::string message = user_error_of([&] { read_plan(broken); });
  EXPECT_NE(message.find("is not valid JSON"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  std::remove(broken.c_str());
}

TEST(PlanFile, DefaultsAndLayerDefault) {
  json document = base_plan_json();
  document.erase("micro_batches");
  document.erase("schedule");
  document["layers"] = json::array({{{"tp", 2}}});  // layer 0 listed, the rest from layer_default
  document["layer_default"] = {{"sharding", 3}, {"recompute", true}};
  const ParallelPlan plan = plan_from_json(document);
  EXPECT_EQ(plan.micro_batches, 1);
  EXPECT_EQ(plan.schedule, PipelineSchedule::one_f_one_b);
  EXPECT_EQ(plan.bucket_bytes, int64_t{4} << 20);
  ASSERT_EQ(plan.layers.size(), 6u);
  EXPECT_EQ(plan.layers[0], (LayerStrategy{2, true, 0, false, false}));  // listed: LayerStrategy's defaults
  for (size_t l = 1; l < 6; ++l) EXPECT_EQ(plan.layers[l], (LayerStrategy{1, true, 3, true, false}));
  EXPECT_FALSE(plan.prediction.present);
}

TEST(PlanFile, BucketMegabytes) {
  json document = base_plan_json();
  document["bucket_mb"] = 0.5;
  EXPECT_EQ(plan_from_json(document).bucket_bytes, int64_t{1} << 19);
  document["bucket_mb"] = 25;
  EXPECT_EQ(plan_from_json(document).bucket_bytes, int64_t{25} << 20);
}

TEST(PlanFile, ExamplePlansValidateAgainstTiny) {
  const nn::ModelConfig tiny = nn::model_preset("tiny");
  const std::filesystem::path folder = std::filesystem::path(LOOM_SOURCE_DIR) / "examples" / "plans";
  std::set<std::string> seen;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const ParallelPlan plan = read_plan(entry.path().string());
    EXPECT_EQ(plan.global_batch, 16);
    EXPECT_NO_THROW(validate_plan(plan, tiny, plan.world_size));
    EXPECT_EQ(plan_from_json(plan_to_json(plan)), plan);
    seen.insert(entry.path().filename().string());
  }
  for (const char* name : {"dp2.json", "zero3_dp2.json", "tp2.json", "pp2_1f1b.json", "dp2_tp2.json",
                           "hetero_tp_4ranks.json", "pp2_dp2_zero3_recompute.json"})
    EXPECT_TRUE(seen.contains(name)) << name;
}

TEST(PlanFile, ExamplePlansHaveTheirShape) {
  const std::string folder = std::string(LOOM_SOURCE_DIR) + "/examples/plans/";
  const ParallelPlan pipeline = read_plan(folder + "pp2_dp2_zero3_recompute.json");
  ASSERT_EQ(pipeline.stages.size(), 2u);
  EXPECT_EQ(pipeline.stage_of_layer(2), 0);
  EXPECT_EQ(pipeline.stage_of_layer(3), 1);
  EXPECT_EQ(pipeline.stage_of_rank(3), 1);
  for (const LayerStrategy& layer : pipeline.layers) {
    EXPECT_EQ(layer.sharding, 3);
    EXPECT_TRUE(layer.recompute);
  }
  const ParallelPlan hetero = read_plan(folder + "hetero_tp_4ranks.json");
  std::vector<int> tp;
  for (const LayerStrategy& layer : hetero.layers) tp.push_back(layer.tp);
  EXPECT_EQ(tp, (std::vector<int>{1, 2, 2, 4, 1, 1}));
  EXPECT_FALSE(hetero.layers[2].tp_consecutive);
}

TEST(PlanFile, DataParallelPlanValidates) {
  const nn::ModelConfig tiny = nn::model_preset("tiny");
  for (int world_size : {1, 2, 3, 4, 8}) {
    const ParallelPlan plan = data_parallel_plan(tiny, world_size, 24 * world_size);
    EXPECT_NO_THROW(validate_plan(plan, tiny, world_size));
    ASSERT_EQ(plan.stages.size(), 1u);
    EXPECT_EQ(plan.stage_size(0), world_size);
    EXPECT_EQ(plan.micro_batches, 1);
    EXPECT_EQ(plan.schedule, PipelineSchedule::one_f_one_b);
    for (const LayerStrategy& layer : plan.layers) EXPECT_EQ(layer, LayerStrategy{});
  }
  const nn::ModelConfig llama = nn::model_preset("llama-tiny");
  EXPECT_NO_THROW(validate_plan(data_parallel_plan(llama, 2, 8), llama));
}

TEST(PlanFile, LaunchedRanksMustMatch) {
  const nn::ModelConfig tiny = nn::model_preset("tiny");
  const ParallelPlan plan = plan_from_json(base_plan_json());
  EXPECT_NO_THROW(validate_plan(plan, tiny, 0));  // 0: not launched yet, not checked
  EXPECT_NO_THROW(validate_plan(plan, tiny, 4));
  const std::string message = user_error_of([&] { validate_plan(plan, tiny, 2); });
  EXPECT_NE(message.find("plan needs 4 ranks (world_size), 2 were launched"), std::string::npos) << message;
}

TEST(PlanFile, PaddedVocabAndLookups) {
  EXPECT_EQ(padded_vocab(256, 1), 256);
  EXPECT_EQ(padded_vocab(256, 4), 256);
  EXPECT_EQ(padded_vocab(50257, 4), 50260);
  EXPECT_EQ(padded_vocab(50257, 8), 50264);
  EXPECT_EQ(padded_vocab(7, 3), 9);
  EXPECT_THROW(padded_vocab(256, 0), InternalError);

  EXPECT_STREQ(schedule_name(PipelineSchedule::gpipe), "gpipe");
  EXPECT_STREQ(schedule_name(PipelineSchedule::one_f_one_b), "1f1b");
  EXPECT_EQ(parse_schedule("gpipe"), PipelineSchedule::gpipe);
  EXPECT_EQ(parse_schedule("1f1b"), PipelineSchedule::one_f_one_b);
  const std::string message = user_error_of([] { parse_schedule("pipedream_flush"); });
  EXPECT_NE(message.find("schedule"), std::string::npos);
  EXPECT_NE(message.find("gpipe, 1f1b"), std::string::npos);

  const ParallelPlan plan = plan_from_json(base_plan_json());
  EXPECT_EQ(plan.stage_of_layer(0), 0);
  EXPECT_EQ(plan.stage_of_layer(5), 1);
  EXPECT_EQ(plan.stage_of_layer(6), -1);
  EXPECT_EQ(plan.stage_of_rank(1), 0);
  EXPECT_EQ(plan.stage_of_rank(2), 1);
  EXPECT_EQ(plan.stage_of_rank(4), -1);
}

TEST(PlanFile, OneStagePipelineTakesAnySchedule) {
  const nn::ModelConfig tiny = nn::model_preset("tiny");
  ParallelPlan plan = data_parallel_plan(tiny, 2, 16);
  plan.micro_batches = 8;
  for (PipelineSchedule schedule : {PipelineSchedule::gpipe, PipelineSchedule::one_f_one_b}) {
    plan.schedule = schedule;
    EXPECT_NO_THROW(validate_plan(plan, tiny));
  }
}

TEST(PlanFile, UntiedModelAllowsDifferentVocabLayouts) {
  const nn::ModelConfig llama = nn::model_preset("llama-tiny");  // 4 layers, untied head
  json document = base_plan_json();
  document["stages"] = R"([{"layers": [0, 2], "ranks": [0, 1, 2]}, {"layers": [2, 4], "ranks": [3, 4, 5]}])"_json;
  document["world_size"] = 6;
  document["micro_batches"] = 1;
  document["global_batch"] = 3;
  document["head"] = {{"tp", 3}};
  EXPECT_NO_THROW(validate_plan(plan_from_json(document), llama));
}

// One invalid plan: how it differs from the base, the model it is checked against, and the text
// its error must contain.
struct InvalidPlanCase {
  std::string name;
  std::function<void(json&)> edit;
  std::vector<std::string> expected;
  std::string model = "tiny";
};

std::vector<InvalidPlanCase> invalid_plan_cases() {
  return {
      // Parsing: types, ranges and names of single fields.
      {"Version", [](json& d) { d["version"] = 2; }, {"version = 2", "valid: 1"}},
      {"MissingVersion", [](json& d) { d.erase("version"); }, {"version is missing"}},
      {"UnknownTopLevelKey", [](json& d) { d["micro_batch"] = 2; }, {"micro_batch = 2", "not a known field"}},
      {"UnknownLayerKey",
       [](json& d) {
         d["layers"] = json::array({{{"tp", 1}, {"sharing", 3}}});
       },
       {"layers[0].sharing = 3", "not a known field", "sharding"}},
      {"UnknownStageKey", [](json& d) { d["stages"][1]["rank"] = 2; }, {"stages[1].rank", "not a known field"}},
      {"UnknownDefaultKey", [](json& d) { d["layer_default"]["tpp"] = 2; }, {"layer_default.tpp = 2"}},
      {"UnknownEmbeddingKey",
       [](json& d) { d["embedding"]["recompute"] = true; },
       {"embedding.recompute = true", "tp, tp_consecutive, sharding"}},
      {"NegativeTp",
       [](json& d) {
         d["layers"] = json::array({{{"tp", -2}}});
       },
       {"layers[0].tp = -2", "an integer >= 1"}},
      {"StringTp", [](json& d) { d["layer_default"]["tp"] = "2"; }, {"layer_default.tp = \"2\"", "not an integer"}},
      {"FractionalBatch", [](json& d) { d["global_batch"] = 16.5; }, {"global_batch = 16.5", "not an integer"}},
      {"ZeroWorld", [](json& d) { d["world_size"] = 0; }, {"world_size = 0", "an integer >= 1"}},
      {"MissingWorld", [](json& d) { d.erase("world_size"); }, {"world_size is missing"}},
      {"ShardingFour", [](json& d) { d["layer_default"]["sharding"] = 4; }, {"sharding = 4", "0, 1, 2, 3"}},
      {"RecomputeNotBool", [](json& d) { d["layer_default"]["recompute"] = 1; }, {"recompute = 1", "true or false"}},
      {"Schedule",
       [](json& d) { d["schedule"] = "pipedream_flush"; },
       {"schedule = \"pipedream_flush\"", "gpipe, 1f1b"}},
      {"ZeroMicroBatches", [](json& d) { d["micro_batches"] = 0; }, {"micro_batches = 0"}},
      {"BucketZero", [](json& d) { d["bucket_mb"] = 0; }, {"bucket_mb = 0"}},
      {"BucketNegative", [](json& d) { d["bucket_mb"] = -1.5; }, {"bucket_mb = -1.5"}},
      {"StageNotPair",
       [](json& d) {
         d["stages"][0]["layers"] = {0, 1, 3};
       },
       {"stages[0].layers = [0,1,3]"}},
      {"StageEmptyRange",
       [](json& d) {
         d["stages"][1]["layers"] = {3, 3};
       },
       {"stages[1].layers = [3,3]", "empty"}},
      {"StageNoRanks", [](json& d) { d["stages"][1]["ranks"] = json::array(); }, {"stages[1].ranks = []", "empty"}},
      {"NegativeRank", [](json& d) { d["stages"][1]["ranks"][0] = -1; }, {"stages[1].ranks[0] = -1"}},
      {"NoLayers", [](json& d) { d.erase("layer_default"); }, {"layers is missing", "layer_default"}},
      {"NegativePeak",
       [](json& d) {
         d["prediction"] = {{"step_ms", 1.0}, {"peak_mem_bytes", {1, -5}}};
       },
       {"prediction.peak_mem_bytes[1] = -5"}},
      {"NegativeStepTime",
       [](json& d) {
         d["prediction"] = {{"step_ms", -1.0}};
       },
       {"prediction.step_ms = -1"}},
      // Validation: the fields together, and against the model.
      {"GapBetweenStages",
       [](json& d) {
         d["stages"][1]["layers"] = {4, 6};
       },
       {"stages[1].layers = [4, 6]", "leaves layer 3 in no stage", "stage 1 starts at layer 3"}},
      {"FirstStageNotAtZero",
       [](json& d) {
         d["stages"][0]["layers"] = {1, 3};
       },
       {"stages[0].layers = [1, 3]", "leaves layer 0 in no stage"}},
      {"OverlappingStages",
       [](json& d) {
         d["stages"][1]["layers"] = {2, 6};
       },
       {"stages[1].layers = [2, 6]", "covers layer 2 a second time"}},
      {"StagesOutOfOrder",
       [](json& d) {
         d["stages"] = R"([{"layers": [3, 6], "ranks": [0, 1]}, {"layers": [0, 3], "ranks": [2, 3]}])"_json;
       },
       {"stages[0].layers = [3, 6]", "leaves layer 0 in no stage"}},
      {"StagesTooShort",
       [](json& d) {
         d["stages"][1]["layers"] = {3, 5};
       },
       {"stages[1].layers = [3, 5]", "leaves layer 5 in no stage", "the model has 6 layers"}},
      {"StagesTooLong",
       [](json& d) {
         d["stages"][1]["layers"] = {3, 7};
       },
       {"stages[1].layers = [3, 7]", "goes past the model's 6 layers"}},
      {"NoStages", [](json& d) { d["stages"] = json::array(); }, {"stages = []", "no stage"}},
      {"RankOutOfRange",
       [](json& d) {
         d["stages"][1]["ranks"] = {2, 4};
       },
       {"stages[1].ranks[1] = 4", "world_size 4", "0..3"}},
      {"RankTwice",
       [](json& d) {
         d["stages"][1]["ranks"] = {1, 3};
       },
       {"stages[1].ranks[0] = 1", "repeats rank 1 of stages[0].ranks"}},
      {"RankTwiceInOneStage",
       [](json& d) {
         d["stages"][1]["ranks"] = {2, 2};
       },
       {"stages[1].ranks[1] = 2", "repeats rank 2 of stages[1].ranks"}},
      {"RankMissing",
       [](json& d) {
         d["world_size"] = 5;
         d["global_batch"] = 20;
       },
       {"leaves rank 4 of world_size 5 in no stage"}},
      {"TooFewLayers",
       [](json& d) {
         d.erase("layer_default");
         d["layers"] = json::array({json::object(), json::object()});
       },
       {"layers has 2 entries but the model has 6 layers"}},
      {"TpDoesNotDivideStage",
       [](json& d) {
         d["stages"] = R"([{"layers": [0, 6], "ranks": [0, 1, 2, 3]}])"_json;
         d["layers"] = json::array({{{"tp", 1}}, {{"tp", 1}}, {{"tp", 1}}, {{"tp", 3}}, {{"tp", 1}}, {{"tp", 1}}});
         d.erase("layer_default");
       },
       {"layers[3].tp = 3", "does not divide the 4 ranks of stage 0", "valid: 1, 2, 4"}},
      {"TpDoesNotDivideKvHeads",
       [](json& d) {
         d["world_size"] = 3;
         d["stages"] = R"([{"layers": [0, 4], "ranks": [0, 1, 2]}])"_json;
         d["layer_default"] = {{"tp", 3}};  // divides the 6 heads, not the 2 kv heads
       },
       {"layers[0].tp = 3", "the model's kv_heads = 2", "valid: 1)"},
       "llama-tiny"},
      {"TpDoesNotDivideHeads",
       [](json& d) {
         d["world_size"] = 8;
         d["stages"] = R"([{"layers": [0, 4], "ranks": [0, 1, 2, 3, 4, 5, 6, 7]}])"_json;
         d["layer_default"] = {{"tp", 4}};
       },
       {"layers[0].tp = 4", "the model's heads = 6", "valid: 1, 2)"},
       "llama-tiny"},
      {"SequenceParallelWithoutTp",
       [](json& d) { d["layer_default"]["sequence_parallel"] = true; },
       {"layers[0].sequence_parallel = true", "tp = 1"}},
      {"BatchNotDivisible",
       [](json& d) { d["global_batch"] = 10; },
       {"global_batch = 10 is not divisible by 2 replicas x 2 micro-batches of layer 0", "multiple of 4"}},
      {"BatchNotDivisibleForOneLayer",
       [](json& d) {
         d["global_batch"] = 3;
         d["micro_batches"] = 3;
         d.erase("layer_default");
         d["layers"] = json::array({{{"tp", 2}}, {{"tp", 2}}, {{"tp", 2}}, {{"tp", 1}}, {{"tp", 2}}, {{"tp", 2}}});
         d["embedding"]["tp"] = 2;
         d["head"]["tp"] = 2;
       },
       {"global_batch = 3 is not divisible by 2 replicas x 3 micro-batches of layer 3"}},
      {"BatchNotDivisibleForEmbedding",
       [](json& d) {
         d["global_batch"] = 2;
         d["micro_batches"] = 2;
         d["layer_default"]["tp"] = 2;
         d["head"]["tp"] = 2;
       },
       {"global_batch = 2 is not divisible by 2 replicas x 2 micro-batches of the embedding"}},
      {"EmbeddingTp",
       [](json& d) { d["embedding"]["tp"] = 4; },
       {"embedding.tp = 4", "does not divide the 2 ranks of stage 0", "valid: 1, 2"}},
      {"HeadTp", [](json& d) { d["head"]["tp"] = 3; }, {"head.tp = 3", "does not divide the 2 ranks of stage 1"}},
      {"TiedDifferentTp",
       [](json& d) { d["head"]["tp"] = 2; },
       {"head.tp = 2", "differs from embedding.tp = 1", "ties its embeddings", "valid: head.tp = 1"}},
      {"TiedDifferentConsecutive",
       [](json& d) {
         d["embedding"] = {{"tp", 2}, {"tp_consecutive", true}};
         d["head"] = {{"tp", 2}, {"tp_consecutive", false}};
       },
       {"head.tp_consecutive = false", "embedding.tp_consecutive = true"}},
      {"UnequalStageSizes",
       [](json& d) {
         d["stages"] = R"([{"layers": [0, 3], "ranks": [0]}, {"layers": [3, 6], "ranks": [1, 2, 3]}])"_json;
         d["global_batch"] = 12;
       },
       {"stages[1].ranks has 3 ranks but stages[0].ranks has 1", "pass activations rank by rank"}},
      {"PeakPerStage",
       [](json& d) {
         d["prediction"] = {{"step_ms", 1.0}, {"peak_mem_bytes", {1, 2, 3}}};
       },
       {"prediction.peak_mem_bytes has 3 entries but the plan has 2 stages"}},
  };
}

class PlanInvalidTest : public ::testing::TestWithParam<InvalidPlanCase> {};

TEST_P(PlanInvalidTest, ErrorNamesFieldAndValueOnOneLine) {
  const InvalidPlanCase& test_case = GetParam();
  json document = base_plan_json();
  test_case.edit(document);
  const nn::ModelConfig model = nn::model_preset(test_case.model);
  const std::string message = user_error_of([&] { validate_plan(plan_from_json(document), model); });
  ASSERT_FALSE(message.empty()) << "no UserError for " << document.dump();
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.rfind("plan ", 0), 0u) << message;
  for (const std::string& expected : test_case.expected)
    EXPECT_NE(message.find(expected), std::string::npos) << "'" << expected << "' not in: " << message;
}

INSTANTIATE_TEST_SUITE_P(Plans, PlanInvalidTest, ::testing::ValuesIn(invalid_plan_cases()),
                         [](const ::testing::TestParamInfo<InvalidPlanCase>& info) { return info.param.name; });

// Plans built in code skip the parser: validate_plan checks the single fields too.
TEST(PlanFile, ValidateChecksFieldsOfPlansBuiltInCode) {
  const nn::ModelConfig tiny = nn::model_preset("tiny");
  auto error_for = [&](const std::function<void(ParallelPlan&)>& edit) {
    ParallelPlan plan = data_parallel_plan(tiny, 2, 16);
    edit(plan);
    return user_error_of([&] { validate_plan(plan, tiny); });
  };
  EXPECT_NE(error_for([](ParallelPlan& p) { p.layers[2].tp = 0; }).find("layers[2].tp = 0"), std::string::npos);
  EXPECT_NE(error_for([](ParallelPlan& p) { p.layers[1].sharding = -1; }).find("layers[1].sharding = -1"),
            std::string::npos);
  EXPECT_NE(error_for([](ParallelPlan& p) { p.micro_batches = 0; }).find("micro_batches = 0"), std::string::npos);
  EXPECT_NE(error_for([](ParallelPlan& p) { p.bucket_bytes = 0; }).find("bucket_mb = 0"), std::string::npos);
  EXPECT_NE(error_for([](ParallelPlan& p) { p.head.sharding = 5; }).find("head.sharding = 5"), std::string::npos);
  EXPECT_NE(error_for([](ParallelPlan& p) { p.stages[0].last_layer = 0; }).find("stages[0].layers = [0, 0]"),
            std::string::npos);
}

TEST(PlanFile, ParseErrorsNameTheOrigin) {
  json document = base_plan_json();
  document["layer_default"]["tp"] = 0;
  const std::string message = user_error_of([&] { plan_from_json(document, "my_plan.json"); });
  EXPECT_NE(message.find("plan 'my_plan.json' field layer_default.tp = 0"), std::string::npos) << message;
}

}  // namespace
}  // namespace loom::parallel
