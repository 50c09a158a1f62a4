// Reading a measured compute profile between (and beyond) its measured micro-batch sizes.
#include "planner/measured_profile.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"

namespace loom::planner {

namespace {

// y at x on the line through (x0, y0) and (x1, y1), never below zero.
double on_line(double x0, double y0, double x1, double y1, double x) {
  const double y = y0 + (y1 - y0) * (x - x0) / (x1 - x0);
  return std::max(0.0, y);
}

int64_t on_line_bytes(double x0, int64_t y0, double x1, int64_t y1, double x) {
  return std::llround(on_line(x0, double(y0), x1, double(y1), x));
}

PieceCost cost_on_line(const ComputeMeasurement& a, const ComputeMeasurement& b, double samples) {
  const double x0 = a.samples;
  const double x1 = b.samples;
  LOOM_CHECK(x1 > x0, "measured points at samples {} and {} do not make a line", x0, x1);
  PieceCost cost;
  cost.forward_s = on_line(x0, a.cost.forward_s, x1, b.cost.forward_s, samples);
  cost.backward_s = on_line(x0, a.cost.backward_s, x1, b.cost.backward_s, samples);
  cost.kept_bytes = on_line_bytes(x0, a.cost.kept_bytes, x1, b.cost.kept_bytes, samples);
  cost.recompute_kept_bytes = on_line_bytes(x0, a.cost.recompute_kept_bytes, x1, b.cost.recompute_kept_bytes, samples);
  cost.transient_bytes = on_line_bytes(x0, a.cost.transient_bytes, x1, b.cost.transient_bytes, samples);
  cost.recompute_transient_bytes =
      on_line_bytes(x0, a.cost.recompute_transient_bytes, x1, b.cost.recompute_transient_bytes, samples);
  return cost;
}

// The points of one piece with this tp (and sequence parallelism), or a UserError listing what
// was measured and how to measure the missing degree.
std::vector<ComputeMeasurement> points_for(const std::vector<ComputeMeasurement>& all, int tp, bool sequence_parallel,
                                           const char* piece, const char* tp_name, const std::string& origin) {
  std::vector<ComputeMeasurement> points;
  std::set<int> measured;
  int largest = 0;  // with or without sequence parallelism
  for (const ComputeMeasurement& m : all) {
    largest = std::max(largest, m.tp);
    if (m.sequence_parallel != sequence_parallel) continue;
    measured.insert(m.tp);
    if (m.tp == tp) points.push_back(m);
  }
  if (!points.empty()) return points;
  const bool block = std::string(piece) == "block";
  const std::string with = sequence_parallel ? " with sequence parallelism" : "";
  const std::string list = measured.empty() ? std::string("none") : fmt::format("{}", fmt::join(measured, ", "));
  std::string remedy;
  if (tp > largest) {
    remedy = fmt::format("run loom profile --max-tp {}", tp);
  } else if (block && sequence_parallel) {
    remedy =
        "loom profile measures sequence parallelism for degrees > 1 that divide seq, heads, kv_heads and "
        "ffn_hidden";
  } else if (block) {
    remedy = "loom profile measures the degrees that divide heads, kv_heads and ffn_hidden";
  } else {
    remedy = "loom profile measures vocab_tp 1, 2, 4, ... and the block degrees, up to --max-tp";
  }
  throw_user_error("[profile {}] no {} measurement for {}={}{} (measured {}{}: {}); {}", origin, piece, tp_name, tp,
                   with, tp_name, with, list, remedy);
}

}  // namespace

PieceCost interpolate_piece_cost(std::vector<ComputeMeasurement> points, double samples) {
  LOOM_CHECK(!points.empty(), "interpolate_piece_cost without points at samples={}", samples);
  LOOM_CHECK(samples >= 0.0 && std::isfinite(samples), "interpolate_piece_cost at samples={}", samples);
  if (samples == 0.0) return PieceCost{};  // no work, nothing kept
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.samples < b.samples; });
  if (points.size() == 1) {
    // One point: cost in proportion to the samples (the line through it and the origin).
    ComputeMeasurement origin = points.front();
    origin.samples = 0.0;
    origin.cost = PieceCost{};
    return cost_on_line(origin, points.front(), samples);
  }
  // The segment that holds `samples`; the first or last one beyond the measured range.
  size_t upper = 1;
  while (upper + 1 < points.size() && points[upper].samples < samples) ++upper;
  return cost_on_line(points[upper - 1], points[upper], samples);
}

MeasuredComputeProfile::MeasuredComputeProfile(MeasuredCompute compute, std::string origin)
    : compute_(std::move(compute)), origin_(std::move(origin)) {}

PieceCost MeasuredComputeProfile::block(double samples, int tp, bool sequence_parallel) const {
  const bool sp = sequence_parallel && tp > 1;  // one rank holds the whole sequence either way
  return interpolate_piece_cost(points_for(compute_.block, tp, sp, "block", "tp", origin_), samples);
}

PieceCost MeasuredComputeProfile::embedding(double samples, int vocab_tp) const {
  return interpolate_piece_cost(points_for(compute_.embedding, vocab_tp, false, "embedding", "vocab_tp", origin_),
                                samples);
}

PieceCost MeasuredComputeProfile::head(double samples, int vocab_tp) const {
  return interpolate_piece_cost(points_for(compute_.head, vocab_tp, false, "head", "vocab_tp", origin_), samples);
}

double MeasuredComputeProfile::optimizer_s(double parameters) const {
  return compute_.optimizer_s_per_parameter * std::max(0.0, parameters);
}

std::string MeasuredComputeProfile::source() const {
  return fmt::format("measured compute of model {} at seq {}, {} thread{} per rank, {} rank{} at once ({}; {})",
                     compute_.model.name, compute_.seq, compute_.threads, compute_.threads == 1 ? "" : "s",
                     compute_.concurrent_ranks, compute_.concurrent_ranks == 1 ? "" : "s", compute_.source, origin_);
}

void check_measured_compute_matches(const MeasuredCompute& compute, const nn::ModelConfig& model, int64_t seq,
                                    const std::string& origin) {
  const nn::ModelConfig& measured = compute.model;
  const std::string remedy = fmt::format("measure it: loom profile --model {} --seq {}", model.name, seq);
  const auto check = [&](const char* field, auto have, auto want) {
    if (have != want)
      throw_user_error("[profile {}] was measured with {}={} ({}), the planned model has {}={}; {}", origin, field,
                       have, measured.name, field, want, remedy);
  };
  check("family", nn::family_name(measured.family), nn::family_name(model.family));
  check("hidden", measured.hidden, model.hidden);
  check("heads", measured.heads, model.heads);
  check("kv_heads", measured.kv_heads, model.kv_heads);
  check("ffn_hidden", measured.ffn_hidden, model.ffn_hidden);
  check("vocab_size", measured.vocab_size, model.vocab_size);
  check("seq", compute.seq, seq);
}

}  // namespace loom::planner
