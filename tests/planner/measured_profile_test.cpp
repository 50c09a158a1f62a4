// The measured compute profile: reading between and beyond measured points against hand-computed
// values, the errors for degrees that were not measured and for a profile of another model.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "planner/measured_profile.h"
#include "test_support.h"

namespace {

using loom::UserError;
using loom::planner::ComputeMeasurement;
using loom::planner::interpolate_piece_cost;
using loom::planner::MeasuredCompute;
using loom::planner::MeasuredComputeProfile;
using loom::planner::PieceCost;

ComputeMeasurement point(double samples, int tp, bool sp, double forward_s, double backward_s, int64_t kept,
                         int64_t recompute_kept, int64_t transient) {
  ComputeMeasurement m;
  m.samples = samples;
  m.tp = tp;
  m.sequence_parallel = sp;
  m.cost = PieceCost{forward_s, backward_s, kept, recompute_kept, transient};
  return m;
}

// Three points that do not lie on one line: 1 -> 1, 2 -> 2, 4 -> 3.5 (forward seconds).
std::vector<ComputeMeasurement> bent_points() {
  return {point(4, 1, false, 3.5, 7.0, 400, 40, 1000), point(1, 1, false, 1.0, 2.0, 100, 10, 250),
          point(2, 1, false, 2.0, 4.0, 201, 20, 500)};
}

TEST(MeasuredProfile, MeasuredPointsAreReadBackExactly) {
  for (const ComputeMeasurement& m : bent_points()) EXPECT_EQ(interpolate_piece_cost(bent_points(), m.samples), m.cost);
}

TEST(MeasuredProfile, InterpolatesBetweenNeighbouringPoints) {
  // samples 3 lies halfway between 2 and 4.
  const PieceCost at3 = interpolate_piece_cost(bent_points(), 3.0);
  EXPECT_DOUBLE_EQ(at3.forward_s, 2.75);
  EXPECT_DOUBLE_EQ(at3.backward_s, 5.5);
  EXPECT_EQ(at3.kept_bytes, 301);  // 201 + (400 - 201) / 2 = 300.5, rounded away from zero
  EXPECT_EQ(at3.recompute_kept_bytes, 30);
  EXPECT_EQ(at3.transient_bytes, 750);
  // A fractional micro-batch between 1 and 2.
  const PieceCost at1_5 = interpolate_piece_cost(bent_points(), 1.5);
  EXPECT_DOUBLE_EQ(at1_5.forward_s, 1.5);
  EXPECT_EQ(at1_5.kept_bytes, 151);  // 150.5
}

TEST(MeasuredProfile, ExtrapolatesAlongTheOuterSegments) {
  // Beyond 4: the line through (2, 2) and (4, 3.5), slope 0.75.
  const PieceCost at8 = interpolate_piece_cost(bent_points(), 8.0);
  EXPECT_DOUBLE_EQ(at8.forward_s, 6.5);
  EXPECT_DOUBLE_EQ(at8.backward_s, 13.0);
  EXPECT_EQ(at8.kept_bytes, 400 + 4 * 199 / 2);  // slope 99.5 bytes per sample
  // Below 1: the line through (1, 1) and (2, 2).
  const PieceCost at_half = interpolate_piece_cost(bent_points(), 0.5);
  EXPECT_DOUBLE_EQ(at_half.forward_s, 0.5);
  EXPECT_EQ(at_half.kept_bytes, 50);  // 100 - 101 / 2 = 49.5
  // No samples, no work (not the line's intercept).
  EXPECT_EQ(interpolate_piece_cost(bent_points(), 0.0), PieceCost{});
}

TEST(MeasuredProfile, ExtrapolationNeverGoesBelowZero) {
  // A steep first segment: (2, 1) -> (4, 5) reaches -1 at samples 1.
  const std::vector<ComputeMeasurement> steep = {point(2, 1, false, 1.0, 1.0, 100, 0, 100),
                                                 point(4, 1, false, 5.0, 5.0, 900, 0, 900)};
  const PieceCost at1 = interpolate_piece_cost(steep, 1.0);
  EXPECT_EQ(at1.forward_s, 0.0);
  EXPECT_EQ(at1.kept_bytes, 0);
  EXPECT_EQ(at1.transient_bytes, 0);
}

TEST(MeasuredProfile, OnePointScalesInProportion) {
  const PieceCost at3 = interpolate_piece_cost({point(2, 1, false, 4.0, 8.0, 1000, 100, 10)}, 3.0);
  EXPECT_DOUBLE_EQ(at3.forward_s, 6.0);
  EXPECT_DOUBLE_EQ(at3.backward_s, 12.0);
  EXPECT_EQ(at3.kept_bytes, 1500);
  EXPECT_EQ(at3.recompute_kept_bytes, 150);
  EXPECT_EQ(at3.transient_bytes, 15);
}

MeasuredCompute small_profile() {
  MeasuredCompute c;
  c.source = "test";
  c.seq = 16;
  c.model.hidden = 64;
  c.model.heads = 4;
  c.model.kv_heads = 4;
  c.model.ffn_hidden = 256;
  c.model.vocab_size = 256;
  c.model.seq_len = 16;
  for (int tp : {1, 2, 4}) {
    c.block.push_back(point(1, tp, false, 1.0 / tp, 2.0 / tp, 1000 / tp, 100, 500));
    c.block.push_back(point(2, tp, false, 2.0 / tp, 4.0 / tp, 2000 / tp, 200, 600));
  }
  c.block.push_back(point(1, 2, true, 0.4, 0.8, 400, 50, 300));
  c.block.push_back(point(2, 2, true, 0.8, 1.6, 800, 100, 400));
  for (int tp : {1, 2}) {
    c.embedding.push_back(point(1, tp, false, 0.1, 0.2, 300, 300, 100));
    c.embedding.push_back(point(2, tp, false, 0.2, 0.4, 600, 600, 100));
    c.head.push_back(point(1, tp, false, 0.3, 0.6, 700, 700, 200));
    c.head.push_back(point(2, tp, false, 0.6, 1.2, 1400, 1400, 300));
  }
  c.optimizer_s_per_parameter = 2e-9;
  return c;
}

TEST(MeasuredProfile, LooksUpTheMeasuredDegree) {
  const MeasuredComputeProfile profile(small_profile(), "p.json");
  EXPECT_DOUBLE_EQ(profile.block(1.5, 2, false).forward_s, 0.75);
  EXPECT_DOUBLE_EQ(profile.block(1.5, 2, true).forward_s, 0.6);
  // Sequence parallelism on one rank is no sequence parallelism.
  EXPECT_EQ(profile.block(2, 1, true), profile.block(2, 1, false));
  EXPECT_EQ(profile.embedding(4, 2).kept_bytes, 1200);
  EXPECT_DOUBLE_EQ(profile.head(3, 1).backward_s, 1.8);
  EXPECT_DOUBLE_EQ(profile.optimizer_s(1e6), 2e-3);
  EXPECT_NE(profile.source().find("p.json"), std::string::npos);
}

using loom::testing_support::user_error_of;

TEST(MeasuredProfile, UnmeasuredDegreeIsAOneLineErrorNamingWhatWasMeasured) {
  const MeasuredComputeProfile profile(small_profile(), "p.json");
  EXPECT_EQ(user_error_of([&] { profile.block(1, 8, false); }),
            "[profile p.json] no block measurement for tp=8 (measured tp: 1, 2, 4); run loom profile --max-tp 8");
  EXPECT_EQ(user_error_of([&] { profile.block(1, 4, true); }),
            "[profile p.json] no block measurement for tp=4 with sequence parallelism (measured tp with sequence "
            "parallelism: 2); loom profile measures sequence parallelism for degrees > 1 that divide seq, heads, "
            "kv_heads and ffn_hidden");
  EXPECT_EQ(user_error_of([&] { profile.head(2, 4); }),
            "[profile p.json] no head measurement for vocab_tp=4 (measured vocab_tp: 1, 2); run loom profile "
            "--max-tp 4");
  EXPECT_NE(user_error_of([&] { profile.embedding(2, 3); }).find("no embedding measurement for vocab_tp=3"),
            std::string::npos);
}

TEST(MeasuredProfile, ModelMismatchNamesTheFieldAndBothValues) {
  const MeasuredCompute compute = small_profile();
  loom::nn::ModelConfig planned = compute.model;
  planned.layers = 48;  // the layer count does not matter
  EXPECT_NO_THROW(check_measured_compute_matches(compute, planned, 16, "p.json"));
  planned.hidden = 128;
  planned.name = "bigger";
  EXPECT_EQ(user_error_of([&] { check_measured_compute_matches(compute, planned, 16, "p.json"); }),
            "[profile p.json] was measured with hidden=64 (custom), the planned model has hidden=128; measure it: "
            "loom profile --model bigger --seq 16");
  planned = compute.model;
  EXPECT_NE(user_error_of([&] {
              check_measured_compute_matches(compute, planned, 32, "p.json");
            }).find("was measured with seq=16 (custom), the planned model has seq=32"),
            std::string::npos);
  planned.family = loom::nn::ModelFamily::llama;
  EXPECT_NE(user_error_of([&] {
              check_measured_compute_matches(compute, planned, 16, "p.json");
            }).find("family=gpt (custom), the planned model has family=llama"),
            std::string::npos);
  planned = compute.model;
  planned.kv_heads = 2;
  EXPECT_NE(user_error_of([&] { check_measured_compute_matches(compute, planned, 16, "p.json"); }).find("kv_heads=4"),
            std::string::npos);
}

}  // namespace
