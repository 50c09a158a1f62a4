#include "planner/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace loom::planner {

std::string format_bytes(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.2f} GB", bytes / 1e9);
  if (bytes >= 1e6) return fmt::format("{:.1f} MB", bytes / 1e6);
  if (bytes >= 1e3) return fmt::format("{:.1f} kB", bytes / 1e3);
  return fmt::format("{:.0f} B", bytes);
}

namespace {
std::string format_ms(double ms) {
  if (ms >= 100.0) return fmt::format("{:.0f}", ms);
  if (ms >= 1.0) return fmt::format("{:.2f}", ms);
  return fmt::format("{:.3f}", ms);
}
}  // namespace

std::string format_headline(const Prediction& p) {
  return fmt::format(
      "step {} ms, {:.2f} samples/s, {:.0f} tokens/s, {:.2f} TFLOP/s per device ({:.1f}% MFU), "
      "peak memory {} of {}{}",
      format_ms(p.step_ms), p.samples_per_s, p.tokens_per_s, p.tflops_per_device, 100.0 * p.mfu,
      format_bytes(double(p.peak_mem_bytes)), format_bytes(double(p.budget_bytes)), p.fits ? "" : " (DOES NOT FIT)");
}

std::string format_breakdown(const Prediction& p) {
  std::string text = fmt::format("{:>5} {:>9} {:>5} {:>6} | {:>9} {:>9} {:>8} {:>8} {:>8} | {:>9} {:>9} {:>9} {:>9}\n",
                                 "stage", "layers", "ranks", "flight", "fwd ms", "bwd ms", "tp ms", "gather", "reshard",
                                 "bubble ms", "grad exp", "update ms", "end ms");
  for (size_t s = 0; s < p.stages.size(); ++s) {
    const StageBreakdown& b = p.stages[s];
    text += fmt::format("{:>5} {:>9} {:>5} {:>6} | {:>9} {:>9} {:>8} {:>8} {:>8} | {:>9} {:>9} {:>9} {:>9}\n", s,
                        fmt::format("{}-{}", b.first_layer, b.last_layer - 1), b.ranks, b.in_flight,
                        format_ms(b.forward_ms), format_ms(b.backward_ms), format_ms(b.tp_comm_ms),
                        format_ms(b.gather_exposed_ms), format_ms(b.reshard_ms), format_ms(b.bubble_ms),
                        format_ms(b.grad_exposed_ms), format_ms(b.update_ms), format_ms(b.end_ms));
  }
  text += fmt::format("{:>5} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}\n", "stage", "params", "grads",
                      "optimizer", "activations", "transient", "comm", "peak");
  for (size_t s = 0; s < p.stages.size(); ++s) {
    const StageBreakdown& b = p.stages[s];
    text += fmt::format("{:>5} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}\n", s,
                        format_bytes(double(b.parameter_bytes)), format_bytes(double(b.gradient_bytes)),
                        format_bytes(double(b.optimizer_bytes)), format_bytes(double(b.activation_bytes)),
                        format_bytes(double(b.transient_bytes)), format_bytes(double(b.communication_bytes)),
                        format_bytes(double(b.peak_bytes)));
  }
  return text;
}

std::string format_limits(const Prediction& p) {
  const double headroom = p.budget_bytes > 0 ? 1.0 - double(p.peak_mem_bytes) / double(p.budget_bytes) : 0.0;
  std::string text = fmt::format("limited by {}; pipeline bubble {:.1f}% of the pipeline; memory headroom {:.1f}%",
                                 p.limit, 100.0 * p.bubble_fraction, 100.0 * headroom);
  if (p.fits && headroom < 0.05) text += " (memory is binding: a faster strategy would not fit)";
  return text;
}

std::string format_runner_ups(const Candidate& best, const std::vector<Candidate>& runner_ups) {
  std::string text;
  const Prediction& w = best.prediction;
  auto totals = [](const Prediction& p) {
    struct Totals {
      double compute = 0, comm = 0, bubble = 0;
    } t;
    for (const StageBreakdown& b : p.stages) {
      t.bubble = std::max(t.bubble, b.bubble_ms);
      t.comm = std::max(t.comm, b.grad_exposed_ms + b.update_ms);
    }
    t.compute = p.pipeline_ms - t.bubble;
    return t;
  };
  const auto wt = totals(w);
  for (const Candidate& c : runner_ups) {
    const Prediction& p = c.prediction;
    const auto ct = totals(p);
    std::string why;
    const double d_compute = ct.compute - wt.compute, d_comm = ct.comm - wt.comm, d_bubble = ct.bubble - wt.bubble;
    const double largest = std::max({d_compute, d_comm, d_bubble});
    if (largest <= 0.0)
      why = "slower per sample at its batch";
    else if (largest == d_bubble)
      why = fmt::format("{} ms more pipeline bubble", format_ms(d_bubble));
    else if (largest == d_comm)
      why = fmt::format("{} ms more exposed gradient reduction and optimizer", format_ms(d_comm));
    else
      why = fmt::format("{} ms more compute and TP communication on its critical path", format_ms(d_compute));
    text += fmt::format("  {:.2f} samples/s ({:+.1f}%): {} -- {}\n", p.samples_per_s,
                        100.0 * (p.samples_per_s / w.samples_per_s - 1.0), c.summary, why);
  }
  return text;
}

nlohmann::json prediction_json(const Prediction& p) {
  nlohmann::json stages = nlohmann::json::array();
  std::vector<int64_t> peaks;
  for (const StageBreakdown& b : p.stages) {
    peaks.push_back(b.peak_bytes);
    stages.push_back({{"first_layer", b.first_layer},
                      {"last_layer", b.last_layer},
                      {"ranks", b.ranks},
                      {"in_flight", b.in_flight},
                      {"forward_ms", b.forward_ms},
                      {"backward_ms", b.backward_ms},
                      {"tp_comm_ms", b.tp_comm_ms},
                      {"gather_exposed_ms", b.gather_exposed_ms},
                      {"reshard_ms", b.reshard_ms},
                      {"bubble_ms", b.bubble_ms},
                      {"grad_comm_ms", b.grad_comm_ms},
                      {"grad_exposed_ms", b.grad_exposed_ms},
                      {"update_ms", b.update_ms},
                      {"end_ms", b.end_ms},
                      {"parameter_bytes", b.parameter_bytes},
                      {"gradient_bytes", b.gradient_bytes},
                      {"optimizer_bytes", b.optimizer_bytes},
                      {"activation_bytes", b.activation_bytes},
                      {"transient_bytes", b.transient_bytes},
                      {"communication_bytes", b.communication_bytes},
                      {"peak_bytes", b.peak_bytes}});
  }
  return {{"step_ms", p.step_ms},
          {"samples_per_s", p.samples_per_s},
          {"tokens_per_s", p.tokens_per_s},
          {"tflops_per_device", p.tflops_per_device},
          {"mfu", p.mfu},
          {"peak_mem_bytes", peaks},
          {"max_peak_mem_bytes", p.peak_mem_bytes},
          {"budget_bytes", p.budget_bytes},
          {"fits", p.fits},
          {"limit", p.limit},
          {"pipeline_ms", p.pipeline_ms},
          {"bubble_fraction", p.bubble_fraction},
          {"stages", stages}};
}

parallel::PlanPrediction plan_prediction(const Prediction& p) {
  parallel::PlanPrediction prediction;
  prediction.present = true;
  prediction.step_ms = p.step_ms;
  for (const StageBreakdown& b : p.stages) prediction.peak_mem_bytes.push_back(b.peak_bytes);
  return prediction;
}

}  // namespace loom::planner
