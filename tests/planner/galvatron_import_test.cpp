// Galvatron's emitted configs become Loom plans field by field; what has no Loom counterpart or is
// malformed is refused with one line naming the Galvatron field.
#include "planner/galvatron_import.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "core/error.h"
#include "test_support.h"

namespace loom::planner {
namespace {

nlohmann::json typical() {
  // The shape of a Galvatron search result for a 6-layer model on 4 devices.
  return nlohmann::json::parse(R"({
    "pp_deg": 2, "tp_sizes_enc": "1,2,2,1,2,1", "tp_consecutive_flags": "1,1,0,1,1,1",
    "dp_types_enc": "0,1,1,0,0,0", "use_sp": "0,0,0,0,0,0", "checkpoint": "0,0,1,0,0,1",
    "global_bsz": 16, "chunks": 4, "pp_division": "3,3", "pipeline_type": "pipedream_flush",
    "default_dp_type": "zero2", "vtp": 2, "vsp": 0, "embed_sdp": 1})");
}

TEST(GalvatronImport, MapsEveryField) {
  const nn::ModelConfig tiny = nn::model_preset("tiny");
  const parallel::ParallelPlan plan = plan_from_galvatron(typical(), tiny, 4);
  EXPECT_EQ(plan.world_size, 4);
  EXPECT_EQ(plan.global_batch, 16);
  EXPECT_EQ(plan.micro_batches, 4);
  EXPECT_EQ(plan.schedule, parallel::PipelineSchedule::one_f_one_b);
  ASSERT_EQ(plan.stages.size(), 2u);
  EXPECT_EQ(plan.stages[0].first_layer, 0);
  EXPECT_EQ(plan.stages[0].last_layer, 3);
  EXPECT_EQ(plan.stages[1].ranks, (std::vector<int>{2, 3}));
  const int tp[] = {1, 2, 2, 1, 2, 1};
  const int sharding[] = {2, 3, 3, 2, 2, 2};  // dp_types_enc 1 -> ZeRO-3, else default zero2
  const bool recompute[] = {false, false, true, false, false, true};
  for (int l = 0; l < 6; ++l) {
    EXPECT_EQ(plan.layers[size_t(l)].tp, tp[l]) << l;
    EXPECT_EQ(plan.layers[size_t(l)].sharding, sharding[l]) << l;
    EXPECT_EQ(plan.layers[size_t(l)].recompute, recompute[l]) << l;
  }
  EXPECT_FALSE(plan.layers[2].tp_consecutive);
  EXPECT_EQ(plan.embedding.tp, 2);
  EXPECT_EQ(plan.head.tp, 2);
  EXPECT_EQ(plan.embedding.sharding, 3);
  EXPECT_NO_THROW(parallel::validate_plan(plan, tiny, 4));
}

TEST(GalvatronImport, DefaultsAndGpipeAndAFile) {
  nlohmann::json config = typical();
  for (const char* field : {"pp_division", "tp_consecutive_flags", "checkpoint", "use_sp", "vsp", "embed_sdp"})
    config.erase(field);
  config["pipeline_type"] = "gpipe";
  config["default_dp_type"] = "ddp";
  const std::string path = testing_support::unique_temp_path("galvatron.json");
  std::ofstream(path) << config.dump();
  const parallel::ParallelPlan plan = read_galvatron_plan(path, nn::model_preset("tiny"), 4);
  EXPECT_EQ(plan.schedule, parallel::PipelineSchedule::gpipe);
  EXPECT_EQ(plan.stages[0].last_layer, 3);  // even split
  EXPECT_EQ(plan.layers[0].sharding, 0);
  EXPECT_EQ(plan.layers[1].sharding, 3);
  EXPECT_TRUE(plan.layers[4].tp_consecutive);
}

struct BadGalvatron {
  std::string name;
  std::function<void(nlohmann::json&)> edit;
  std::string expected;
};

class BadGalvatronConfigs : public ::testing::TestWithParam<BadGalvatron> {};

TEST_P(BadGalvatronConfigs, GiveOneLineErrors) {
  nlohmann::json config = typical();
  GetParam().edit(config);
  try {
    plan_from_galvatron(config, nn::model_preset("tiny"), 4);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadGalvatronConfigs,
    ::testing::Values(
        BadGalvatron{"missing_pp", [](auto& c) { c.erase("pp_deg"); }, "field 'pp_deg' is missing"},
        BadGalvatron{"pp_not_dividing", [](auto& c) { c["pp_deg"] = 3; }, "'pp_deg' = 3 does not divide"},
        BadGalvatron{"bad_list", [](auto& c) { c["tp_sizes_enc"] = "1,two,2"; }, "'tp_sizes_enc'"},
        BadGalvatron{"short_list", [](auto& c) { c["checkpoint"] = "0,1"; }, "'checkpoint' has 2 entries"},
        BadGalvatron{"ulysses", [](auto& c) { c["use_sp"] = "0,1,0,0,0,0"; }, "Ulysses"},
        BadGalvatron{"division", [](auto& c) { c["pp_division"] = "2,3"; }, "covers 5 layers"},
        BadGalvatron{"pipeline", [](auto& c) { c["pipeline_type"] = "interleaved"; }, "'pipeline_type'"},
        BadGalvatron{"dp_type", [](auto& c) { c["default_dp_type"] = "zero3"; }, "'default_dp_type'"},
        BadGalvatron{"tp_too_big", [](auto& c) { c["tp_sizes_enc"] = "4,1,1,1,1,1"; }, "layers[0].tp = 4"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace loom::planner
