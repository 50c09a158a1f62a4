// GenModel's terms and features on small hand plans, and the fitter: it recovers the parameters
// that generated synthetic measurements (with and without incast), and NNLS keeps them >= 0.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "topo/generators.h"
#include "topo/genmodel.h"
#include "topo/genmodel_fit.h"

namespace loom::topo {
namespace {

PlanOp op(PlanOpKind kind, int step, int peer, int first, int count, PlanBuffer buffer = PlanBuffer::data) {
  PlanOp result;
  result.kind = kind;
  result.step = step;
  result.peer = peer;
  result.first_chunk = first;
  result.chunk_count = count;
  result.buffer = buffer;
  return result;
}

CollectivePlan plan_of(int ranks, std::vector<int64_t> chunk_bytes) {
  CollectivePlan plan;
  plan.ranks = ranks;
  plan.chunk_bytes = std::move(chunk_bytes);
  plan.ops.resize(size_t(ranks));
  return plan;
}

TEST(TopoGenModel, StepTermsCountBytesReductionsAndFusedMemoryPasses) {
  const CollectivePlan plan = plan_of(4, {100, 200, 300, 400});
  const std::vector<PlanOp> ops = {
      op(PlanOpKind::send, 0, 1, 0, 2),                        // 300 out
      op(PlanOpKind::recv_reduce, 0, 2, 2, 1),                 // 300 in, reduced, fused with the next
      op(PlanOpKind::recv_reduce, 0, 3, 2, 1),                 // 300 in, reduced
      op(PlanOpKind::recv, 0, 1, 3, 1),                        // 400 in, DMA
      op(PlanOpKind::copy, 0, -1, 0, 1, PlanBuffer::scratch),  // 2 x 100
  };
  const StepTerms terms = step_terms(plan, ops.data(), ops.data() + ops.size());
  EXPECT_EQ(terms.messages_out, 1);
  EXPECT_EQ(terms.messages_in, 3);
  EXPECT_EQ(terms.bytes_out, 300);
  EXPECT_EQ(terms.bytes_in, 1000);
  EXPECT_EQ(terms.bytes_reduced, 600);
  EXPECT_EQ(terms.memory_bytes, (2 + 2) * 300 + 2 * 100);
}

TEST(TopoGenModel, PartialOverlapsAreChargedChunkByChunk) {
  const CollectivePlan plan = plan_of(3, {10, 20, 30});
  // Chunks 0-1 from rank 1, chunks 1-2 from rank 2: chunk 1 is written twice, 0 and 2 once.
  const std::vector<PlanOp> ops = {op(PlanOpKind::recv_reduce, 0, 1, 0, 2), op(PlanOpKind::recv_reduce, 0, 2, 1, 2)};
  const StepTerms terms = step_terms(plan, ops.data(), ops.data() + ops.size());
  EXPECT_EQ(terms.memory_bytes, 3 * 10 + 4 * 20 + 3 * 30);
  // The same ranges in different buffers are separate passes.
  const std::vector<PlanOp> split = {op(PlanOpKind::recv_reduce, 0, 1, 0, 1),
                                     op(PlanOpKind::recv_reduce, 0, 2, 0, 1, PlanBuffer::scratch)};
  EXPECT_EQ(step_terms(plan, split.data(), split.data() + split.size()).memory_bytes, 2 * 3 * 10);
}

TEST(TopoGenModel, PlanFeaturesTakeEachStepsLargestRank) {
  // Step 0: ranks 1, 2, 3 send 100 bytes each to rank 0 (fan-in 3); rank 2 also gets 250 from 3.
  // Step 1: rank 0 sends 300 to rank 1. Step 2: rank 0 copies (no communication).
  CollectivePlan plan = plan_of(4, {100, 100, 100, 250});
  for (int sender = 1; sender <= 3; ++sender) {
    plan.ops[size_t(sender)].push_back(op(PlanOpKind::send, 0, 0, 0, 1));
    plan.ops[0].push_back(op(PlanOpKind::recv_reduce, 0, sender, 0, 1));
  }
  plan.ops[3].push_back(op(PlanOpKind::send, 0, 2, 3, 1));
  plan.ops[2].push_back(op(PlanOpKind::recv, 0, 3, 3, 1));
  plan.ops[0].push_back(op(PlanOpKind::send, 1, 1, 0, 3));
  plan.ops[1].push_back(op(PlanOpKind::recv, 1, 0, 0, 3));
  plan.ops[0].push_back(op(PlanOpKind::copy, 2, -1, 0, 1, PlanBuffer::scratch));
  const PlanFeatures features = plan_features(plan);
  EXPECT_EQ(features.rounds, 2);
  EXPECT_EQ(features.wire_bytes, 350 + 300);  // rank 3 sends 350 in step 0
  EXPECT_EQ(features.reduced_bytes, 300);
  EXPECT_EQ(features.memory_bytes, 5 * 100 + 200);  // the fused pass, then the copy
  ASSERT_EQ(features.step_receivers.size(), 3u);
  // Step 0: rank 0's (3 flows, 300 bytes) beats rank 2's (1 flow, 250 bytes) in both.
  EXPECT_EQ(features.step_receivers[0], (std::vector<std::pair<int64_t, int64_t>>{{3, 300}}));
  EXPECT_EQ(features.step_receivers[1], (std::vector<std::pair<int64_t, int64_t>>{{1, 300}}));
  EXPECT_TRUE(features.step_receivers[2].empty());
  EXPECT_EQ(features.incast_bytes(1), 2 * 300);
  EXPECT_EQ(features.incast_bytes(3), 0);

  GenModelParams params;
  params.alpha_s = 1;
  params.beta_s_per_byte = 10;
  params.gamma_s_per_byte = 100;
  params.delta_s_per_byte = 1000;
  params.epsilon_s_per_byte = 10000;
  params.incast_threshold = 2;
  EXPECT_DOUBLE_EQ(alpha_beta_gamma_time_s(features, params), 2 + 650 * 10 + 300 * 100);
  EXPECT_DOUBLE_EQ(genmodel_time_s(features, params), 2 + 650 * 10 + 300 * 100 + 700 * 1000 + 300 * 10000);
}

TEST(TopoGenModel, StepReceiversKeepTheParetoFront) {
  // Rank 0 gets 3 x 10 bytes, rank 1 gets 1 x 500 bytes, rank 2 gets 2 x 5: both of the first two
  // can be the largest incast term (w_t = 2: 10 vs 0; w_t = 0: 30 vs 500), the third never.
  CollectivePlan plan = plan_of(8, {10, 10, 10, 500, 5, 5});
  for (int i = 0; i < 3; ++i) {
    plan.ops[size_t(3 + i)].push_back(op(PlanOpKind::send, 0, 0, i, 1));
    plan.ops[0].push_back(op(PlanOpKind::recv, 0, 3 + i, i, 1));
  }
  plan.ops[6].push_back(op(PlanOpKind::send, 0, 1, 3, 1));
  plan.ops[1].push_back(op(PlanOpKind::recv, 0, 6, 3, 1));
  plan.ops[7].push_back(op(PlanOpKind::send, 0, 2, 4, 2));  // one message of 10 bytes
  plan.ops[2].push_back(op(PlanOpKind::recv, 0, 7, 4, 2));
  const PlanFeatures features = plan_features(plan);
  EXPECT_EQ(features.step_receivers[0], (std::vector<std::pair<int64_t, int64_t>>{{1, 500}, {3, 30}}));
  EXPECT_EQ(features.incast_bytes(2), 30);
  EXPECT_EQ(features.incast_bytes(0), 500);
}

// Synthetic measurements: the generators' features at several rank counts and sizes, timed by
// GenModel with `truth`.
std::vector<FitMeasurement> synthetic(const GenModelParams& truth) {
  std::vector<FitMeasurement> rows;
  for (int ranks : {4, 8, 16}) {
    for (int64_t bytes = 1 << 10; bytes <= (1 << 24); bytes *= 4) {
      const std::vector<std::pair<std::string, CollectivePlan>> plans = {
          {"ring", generate_ring(ranks, bytes)},
          {"recursive_doubling", generate_recursive_doubling(ranks, bytes)},
          {"direct", generate_direct(ranks, bytes)},
          {"tree", generate_binomial_tree(ranks, bytes)}};
      for (const auto& [name, plan] : plans) {
        FitMeasurement row;
        row.algorithm = name;
        row.ranks = ranks;
        row.bytes = bytes;
        row.features = plan_features(plan);
        row.time_s = genmodel_time_s(row.features, truth);
        rows.push_back(row);
      }
    }
  }
  return rows;
}

void expect_params(const GenModelParams& fitted, const GenModelParams& truth, double tolerance) {
  EXPECT_NEAR(fitted.alpha_s, truth.alpha_s, truth.alpha_s * tolerance);
  EXPECT_NEAR(fitted.beta_s_per_byte, truth.beta_s_per_byte, truth.beta_s_per_byte * tolerance);
  EXPECT_NEAR(fitted.gamma_s_per_byte, truth.gamma_s_per_byte, truth.gamma_s_per_byte * tolerance);
  EXPECT_NEAR(fitted.delta_s_per_byte, truth.delta_s_per_byte, truth.delta_s_per_byte * tolerance + 1e-25);
  EXPECT_NEAR(fitted.epsilon_s_per_byte, truth.epsilon_s_per_byte, truth.epsilon_s_per_byte * tolerance + 1e-25);
}

TEST(TopoGenModelFit, RecoversParametersWithoutIncast) {
  GenModelParams truth;
  truth.alpha_s = 5e-6;
  truth.beta_s_per_byte = 1.0 / 1.25e10;
  truth.gamma_s_per_byte = 1.0 / 8e9;
  truth.delta_s_per_byte = 1.0 / 2e10;
  const std::vector<FitMeasurement> rows = synthetic(truth);
  const FitSplit split = hold_out_every_third_size(rows);
  const GenModelFitResult fit = fit_models(split.training, split.held_out);
  expect_params(fit.genmodel.params, truth, 1e-6);
  EXPECT_LT(fit.genmodel.held_out.max_abs_relative_error, 1e-9);
  EXPECT_LT(fit.genmodel.training.max_abs_relative_error, 1e-9);
  // alpha-beta-gamma cannot see the memory term: it errs.
  EXPECT_GT(fit.alpha_beta_gamma.held_out.max_abs_relative_error, 1e-3);
  EXPECT_EQ(fit.alpha_beta_gamma.params.delta_s_per_byte, 0.0);
}

TEST(TopoGenModelFit, RecoversParametersAndThresholdWithIncast) {
  GenModelParams truth;
  truth.alpha_s = 2e-6;
  truth.beta_s_per_byte = 1.0 / 1.25e10;
  truth.gamma_s_per_byte = 1.0 / 8e9;
  truth.delta_s_per_byte = 1.0 / 2e10;
  truth.epsilon_s_per_byte = 0.3 / 1.25e10;
  truth.incast_threshold = 3;
  const std::vector<FitMeasurement> rows = synthetic(truth);
  const FitSplit split = hold_out_every_third_size(rows);
  const GenModelParams fitted = fit_genmodel(split.training);
  expect_params(fitted, truth, 1e-6);
  EXPECT_EQ(fitted.incast_threshold, 3);
  EXPECT_LT(evaluate_fit(split.held_out, fitted, true).max_abs_relative_error, 1e-9);
}

TEST(TopoGenModelFit, NonNegativeLeastSquaresClampsNegatives) {
  // Unconstrained: x = (1, -1); with x >= 0 the second is 0 and the first minimises
  // (x - 1)^2 + x^2 + 1: x = 1/2.
  const std::vector<std::vector<double>> a = {{1, 0}, {0, 1}, {1, 1}};
  const std::vector<double> b = {1, -1, 0};
  const std::vector<double> x = nonnegative_least_squares(a, b);
  ASSERT_EQ(x.size(), 2u);
  EXPECT_NEAR(x[0], 0.5, 1e-12);
  EXPECT_EQ(x[1], 0.0);
  // A positive solution is the plain least-squares one.
  const std::vector<double> exact = nonnegative_least_squares(a, {2, 3, 5});
  EXPECT_NEAR(exact[0], 2, 1e-12);
  EXPECT_NEAR(exact[1], 3, 1e-12);
  // A zero column stays zero.
  const std::vector<double> zero = nonnegative_least_squares({{1, 0}, {2, 0}}, {1, 2});
  EXPECT_NEAR(zero[0], 1, 1e-12);
  EXPECT_EQ(zero[1], 0.0);
}

TEST(TopoGenModelFit, HoldsOutEveryThirdSizeAndNeedsEnoughRows) {
  std::vector<FitMeasurement> rows;
  for (int64_t bytes : {10, 20, 30, 40, 50, 60, 70}) {
    FitMeasurement row;
    row.bytes = bytes;
    row.time_s = 1;
    rows.push_back(row);
    rows.push_back(row);
  }
  const FitSplit split = hold_out_every_third_size(rows);
  ASSERT_EQ(split.held_out.size(), 4u);
  EXPECT_EQ(split.held_out[0].bytes, 30);
  EXPECT_EQ(split.held_out[2].bytes, 60);
  EXPECT_EQ(split.training.size(), 10u);
  EXPECT_THROW(fit_genmodel(std::vector<FitMeasurement>(rows.begin(), rows.begin() + 4)), UserError);
  EXPECT_THROW(fit_alpha_beta_gamma(std::vector<FitMeasurement>(rows.begin(), rows.begin() + 2)), UserError);
}

}  // namespace
}  // namespace loom::topo
