// Fitting GenModel and alpha-beta-gamma to measured collective times. Each measurement is a
// plan's features (genmodel.h) and its time; the parameters are the non-negative least-squares
// solution on relative error (every row weighted by 1 / time, so small messages count as much as
// large ones). GenModel's w_t is not linear: every integer from 1 to the largest incast degree
// seen is tried and the best fit kept.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topo/genmodel.h"

namespace loom::topo {

struct FitMeasurement {
  std::string algorithm;
  int ranks = 0;
  int64_t bytes = 0;
  double time_s = 0.0;
  PlanFeatures features;
};

// A model's predictions over a set of measurements.
struct FitEvaluation {
  std::vector<double> predicted_s;     // per measurement
  std::vector<double> relative_error;  // (predicted - measured) / measured
  double mean_abs_relative_error = 0.0;
  double max_abs_relative_error = 0.0;
};

struct ModelFit {
  GenModelParams params;
  FitEvaluation training;
  FitEvaluation held_out;
};

struct GenModelFitResult {
  ModelFit genmodel;
  ModelFit alpha_beta_gamma;  // delta, epsilon 0
};

// Minimises |a x - b| over x >= 0 (Lawson-Hanson active set). `a` is rows x columns, row-major.
std::vector<double> nonnegative_least_squares(const std::vector<std::vector<double>>& a, const std::vector<double>& b);

// UserError when there are fewer measurements than the model's parameters or a time is not > 0.
GenModelParams fit_genmodel(const std::vector<FitMeasurement>& measurements);
GenModelParams fit_alpha_beta_gamma(const std::vector<FitMeasurement>& measurements);

// genmodel: GenModel's time; otherwise alpha-beta-gamma's.
FitEvaluation evaluate_fit(const std::vector<FitMeasurement>& measurements, const GenModelParams& params,
                           bool genmodel);

// Both models fitted on `training` and evaluated on both sets.
GenModelFitResult fit_models(const std::vector<FitMeasurement>& training, const std::vector<FitMeasurement>& held_out);

// Every third distinct message size (the 3rd, 6th, ... smallest) is held out; the rest train.
struct FitSplit {
  std::vector<FitMeasurement> training;
  std::vector<FitMeasurement> held_out;
};
FitSplit hold_out_every_third_size(const std::vector<FitMeasurement>& measurements);

}  // namespace loom::topo
