// The GenModel fitter (genmodel_fit.h). NNLS is Lawson and Hanson's active-set method: grow the
// set of free (positive) parameters one at a time, picking the one whose gradient most wants to
// grow; solve the unconstrained least squares on the free set; when that solution makes some
// free parameter negative, step back along the segment to the boundary and free it no more. The
// inner least squares use Householder QR on the rows themselves (not the normal equations, whose
// squared condition number would lose the small terms), on columns scaled to unit norm.
#include "topo/genmodel_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"

namespace loom::topo {

namespace {

// Least squares on the columns of `a` (rows x columns, row-major) marked in `use`; zero elsewhere.
// A column that is (numerically) a combination of earlier ones gets zero.
std::vector<double> least_squares(const std::vector<std::vector<double>>& a, const std::vector<double>& b,
                                  const std::vector<bool>& use) {
  const size_t rows = a.size();
  const size_t columns = use.size();
  std::vector<size_t> chosen;
  for (size_t j = 0; j < columns; ++j)
    if (use[j]) chosen.push_back(j);
  const size_t k = chosen.size();
  // q holds the chosen columns, column-major, reduced in place to R by Householder reflections.
  std::vector<std::vector<double>> q(k, std::vector<double>(rows));
  for (size_t c = 0; c < k; ++c)
    for (size_t i = 0; i < rows; ++i) q[c][i] = a[i][chosen[c]];
  std::vector<double> rhs = b;
  std::vector<bool> dependent(k, false);
  size_t pivot_row = 0;
  for (size_t c = 0; c < k; ++c) {
    double norm = 0.0;
    for (size_t i = pivot_row; i < rows; ++i) norm += q[c][i] * q[c][i];
    norm = std::sqrt(norm);
    if (pivot_row >= rows || norm < 1e-12) {  // columns are unit norm: this one adds nothing new
      dependent[c] = true;
      continue;
    }
    // v = x + sign(x0) |x| e0; H = I - 2 v v^T / v^T v.
    std::vector<double> v(q[c].begin() + long(pivot_row), q[c].end());
    v[0] += v[0] >= 0 ? norm : -norm;
    double vv = 0.0;
    for (double e : v) vv += e * e;
    const auto reflect = [&](std::vector<double>& column) {
      double dot = 0.0;
      for (size_t i = 0; i < v.size(); ++i) dot += v[i] * column[pivot_row + i];
      const double scale = 2.0 * dot / vv;
      for (size_t i = 0; i < v.size(); ++i) column[pivot_row + i] -= scale * v[i];
    };
    for (size_t later = c; later < k; ++later) reflect(q[later]);
    reflect(rhs);
    ++pivot_row;
  }
  // Back substitution on the independent columns: R's row of column c is the count of
  // independent columns before it.
  std::vector<size_t> row_of(k, 0);
  for (size_t c = 0, row = 0; c < k; ++c)
    if (!dependent[c]) row_of[c] = row++;
  std::vector<double> solution(columns, 0.0);
  std::vector<double> z(k, 0.0);
  for (size_t c = k; c-- > 0;) {
    if (dependent[c]) continue;
    const size_t row = row_of[c];
    double sum = rhs[row];
    for (size_t later = c + 1; later < k; ++later)
      if (!dependent[later]) sum -= q[later][row] * z[later];
    z[c] = sum / q[c][row];
  }
  for (size_t c = 0; c < k; ++c) solution[chosen[c]] = z[c];
  return solution;
}

std::vector<double> residual_gradient(const std::vector<std::vector<double>>& a, const std::vector<double>& b,
                                      const std::vector<double>& x) {
  std::vector<double> gradient(x.size(), 0.0);
  for (size_t i = 0; i < a.size(); ++i) {
    double r = b[i];
    for (size_t j = 0; j < x.size(); ++j) r -= a[i][j] * x[j];
    for (size_t j = 0; j < x.size(); ++j) gradient[j] += a[i][j] * r;
  }
  return gradient;
}

// Lawson-Hanson on columns of unit norm (or zero: those stay at zero).
std::vector<double> nnls_unit_columns(const std::vector<std::vector<double>>& a, const std::vector<double>& b,
                                      const std::vector<bool>& usable) {
  const size_t n = usable.size();
  double b_norm = 0.0;
  for (double e : b) b_norm += e * e;
  const double tolerance = 1e-13 * std::max(std::sqrt(b_norm), 1e-300);
  std::vector<double> x(n, 0.0);
  std::vector<bool> free_set(n, false);
  for (size_t outer = 0; outer < 4 * n + 4; ++outer) {
    const std::vector<double> w = residual_gradient(a, b, x);
    size_t best = n;
    for (size_t j = 0; j < n; ++j)
      if (usable[j] && !free_set[j] && w[j] > tolerance && (best == n || w[j] > w[best])) best = j;
    if (best == n) break;
    free_set[best] = true;
    for (size_t inner = 0; inner < 4 * n + 4; ++inner) {
      const std::vector<double> z = least_squares(a, b, free_set);
      bool feasible = true;
      for (size_t j = 0; j < n; ++j) feasible = feasible && (!free_set[j] || z[j] > 0.0);
      if (feasible) {
        x = z;
        break;
      }
      // Step from x toward z until the first free parameter reaches zero; that one leaves.
      double step = 1.0;
      size_t leaving = n;
      for (size_t j = 0; j < n; ++j) {
        if (!free_set[j] || z[j] > 0.0) continue;
        const double to_zero = x[j] / (x[j] - z[j]);
        if (leaving == n || to_zero < step) {
          step = to_zero;
          leaving = j;
        }
      }
      double largest = 0.0;
      for (size_t j = 0; j < n; ++j) {
        x[j] += step * (z[j] - x[j]);
        largest = std::max(largest, std::abs(x[j]));
      }
      for (size_t j = 0; j < n; ++j) {
        if (free_set[j] && (j == leaving || x[j] <= 1e-15 * largest)) {
          free_set[j] = false;
          x[j] = 0.0;
        }
      }
    }
  }
  return x;
}

double sum_of_squares(const std::vector<std::vector<double>>& a, const std::vector<double>& b,
                      const std::vector<double>& x) {
  double total = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    double r = b[i];
    for (size_t j = 0; j < x.size(); ++j) r -= a[i][j] * x[j];
    total += r * r;
  }
  return total;
}

// The feature columns of one measurement (alpha, beta, gamma, delta, epsilon).
std::vector<double> feature_row(const FitMeasurement& m, bool genmodel, double threshold) {
  std::vector<double> row = {m.features.rounds, m.features.wire_bytes, m.features.reduced_bytes};
  if (genmodel) {
    row.push_back(m.features.memory_bytes);
    row.push_back(m.features.incast_bytes(threshold));
  }
  return row;
}

struct Fitted {
  std::vector<double> x;
  double relative_sse = 0.0;
};

// NNLS of time on the features, rows weighted by 1 / time.
Fitted fit_rows(const std::vector<FitMeasurement>& measurements, bool genmodel, double threshold) {
  std::vector<std::vector<double>> a;
  std::vector<double> b(measurements.size(), 1.0);
  for (const FitMeasurement& m : measurements) {
    std::vector<double> row = feature_row(m, genmodel, threshold);
    for (double& e : row) e /= m.time_s;
    a.push_back(std::move(row));
  }
  Fitted fitted;
  fitted.x = nonnegative_least_squares(a, b);
  fitted.relative_sse = sum_of_squares(a, b, fitted.x);
  return fitted;
}

void check_measurements(const std::vector<FitMeasurement>& measurements, size_t parameters, const char* model) {
  if (measurements.size() < parameters)
    throw_user_error("[fit] {} has {} parameters but only {} measurements to fit them (need at least {})", model,
                     parameters, measurements.size(), parameters);
  for (const FitMeasurement& m : measurements)
    if (!(m.time_s > 0.0) || !std::isfinite(m.time_s))
      throw_user_error("[fit] measurement {} ranks={} bytes={}: time {} s must be > 0", m.algorithm, m.ranks, m.bytes,
                       m.time_s);
}

}  // namespace

std::vector<double> nonnegative_least_squares(const std::vector<std::vector<double>>& a, const std::vector<double>& b) {
  LOOM_CHECK(a.size() == b.size(), "{} rows but {} right-hand sides", a.size(), b.size());
  if (a.empty()) return {};
  const size_t n = a[0].size();
  // Scale columns to unit norm: the parameters differ by orders of magnitude (seconds per
  // message against seconds per byte); x >= 0 is unchanged by a positive scale.
  std::vector<double> norm(n, 0.0);
  for (const auto& row : a) {
    LOOM_CHECK_EQ(row.size(), n);
    for (size_t j = 0; j < n; ++j) norm[j] += row[j] * row[j];
  }
  std::vector<bool> usable(n);
  for (size_t j = 0; j < n; ++j) {
    norm[j] = std::sqrt(norm[j]);
    usable[j] = norm[j] > 0.0 && std::isfinite(norm[j]);
  }
  std::vector<std::vector<double>> scaled = a;
  for (auto& row : scaled)
    for (size_t j = 0; j < n; ++j) row[j] = usable[j] ? row[j] / norm[j] : 0.0;
  std::vector<double> x = nnls_unit_columns(scaled, b, usable);
  for (size_t j = 0; j < n; ++j) x[j] = usable[j] ? x[j] / norm[j] : 0.0;
  return x;
}

GenModelParams fit_alpha_beta_gamma(const std::vector<FitMeasurement>& measurements) {
  check_measurements(measurements, 3, "alpha-beta-gamma");
  const Fitted fitted = fit_rows(measurements, false, 1.0);
  GenModelParams params;
  params.alpha_s = fitted.x[0];
  params.beta_s_per_byte = fitted.x[1];
  params.gamma_s_per_byte = fitted.x[2];
  return params;
}

GenModelParams fit_genmodel(const std::vector<FitMeasurement>& measurements) {
  check_measurements(measurements, 5, "GenModel");
  int64_t max_incast = 1;
  for (const FitMeasurement& m : measurements)
    for (const auto& receivers : m.features.step_receivers)
      for (const auto& [flows, bytes] : receivers) max_incast = std::max(max_incast, flows);
  GenModelParams best;
  double best_sse = std::numeric_limits<double>::infinity();
  for (int64_t threshold = 1; threshold <= max_incast; ++threshold) {
    const Fitted fitted = fit_rows(measurements, true, double(threshold));
    // Ties keep the smaller w_t: where the data cannot tell two thresholds apart (a single
    // incast degree above both), rounding noise in an exact fit must not decide.
    if (!(fitted.relative_sse < best_sse * (1.0 - 1e-9) - 1e-20 * double(measurements.size()))) continue;
    best_sse = fitted.relative_sse;
    best.alpha_s = fitted.x[0];
    best.beta_s_per_byte = fitted.x[1];
    best.gamma_s_per_byte = fitted.x[2];
    best.delta_s_per_byte = fitted.x[3];
    best.epsilon_s_per_byte = fitted.x[4];
    best.incast_threshold = double(threshold);
  }
  if (best.epsilon_s_per_byte == 0.0) best.incast_threshold = double(max_incast);  // no incast seen to charge
  return best;
}

FitEvaluation evaluate_fit(const std::vector<FitMeasurement>& measurements, const GenModelParams& params,
                           bool genmodel) {
  FitEvaluation evaluation;
  for (const FitMeasurement& m : measurements) {
    const double predicted =
        genmodel ? genmodel_time_s(m.features, params) : alpha_beta_gamma_time_s(m.features, params);
    const double error = (predicted - m.time_s) / m.time_s;
    evaluation.predicted_s.push_back(predicted);
    evaluation.relative_error.push_back(error);
    evaluation.mean_abs_relative_error += std::abs(error);
    evaluation.max_abs_relative_error = std::max(evaluation.max_abs_relative_error, std::abs(error));
  }
  if (!measurements.empty()) evaluation.mean_abs_relative_error /= double(measurements.size());
  return evaluation;
}

GenModelFitResult fit_models(const std::vector<FitMeasurement>& training, const std::vector<FitMeasurement>& held_out) {
  GenModelFitResult result;
  result.genmodel.params = fit_genmodel(training);
  result.alpha_beta_gamma.params = fit_alpha_beta_gamma(training);
  for (auto [fit, genmodel] : {std::pair{&result.genmodel, true}, std::pair{&result.alpha_beta_gamma, false}}) {
    fit->training = evaluate_fit(training, fit->params, genmodel);
    fit->held_out = evaluate_fit(held_out, fit->params, genmodel);
  }
  return result;
}

FitSplit hold_out_every_third_size(const std::vector<FitMeasurement>& measurements) {
  std::set<int64_t> sizes;
  for (const FitMeasurement& m : measurements) sizes.insert(m.bytes);
  std::set<int64_t> held;
  int position = 0;
  for (int64_t bytes : sizes)
    if (++position % 3 == 0) held.insert(bytes);
  FitSplit split;
  for (const FitMeasurement& m : measurements) (held.count(m.bytes) ? split.held_out : split.training).push_back(m);
  return split;
}

}  // namespace loom::topo
