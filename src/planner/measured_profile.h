// The measured compute profile: what `loom profile` timed and counted on this machine for one
// model and sequence length (compute_measurement.h), and the ComputeProfile that reads between
// the measured micro-batch sizes. The idea: cost grows about linearly with the samples a rank
// computes, so a few measured points per (tp, sequence parallel) and straight lines between them
// (and beyond them, along the last segment) answer any micro-batch size the planner tries.
// The file format of these numbers is the "compute" section of the profile (compute_profile_io.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/model_config.h"
#include "planner/compute_profile.h"

namespace loom::planner {

// One measured point of one piece.
struct ComputeMeasurement {
  double samples = 1.0;            // sequences of the profile's length in the micro-batch
  int tp = 1;                      // block: tensor-parallel degree; embedding and head: vocab-parallel degree
  bool sequence_parallel = false;  // blocks only
  PieceCost cost;

  bool operator==(const ComputeMeasurement&) const = default;
};

// Everything one `loom profile` run measured about compute.
struct MeasuredCompute {
  std::string source;        // where and how (host, date, command)
  nn::ModelConfig model;     // the model measured (its layer count does not matter)
  int64_t seq = 0;           // tokens per sequence
  int threads = 1;           // OpenMP threads per rank while measuring
  int concurrent_ranks = 1;  // ranks measuring at once on this machine (their contention is in the times)
  std::vector<ComputeMeasurement> block, embedding, head;
  double optimizer_s_per_parameter = 0.0;  // clipping and AdamW, per parameter a rank updates
  // What a blocking collective issued right after compute costs above the same collective run
  // back to back (the ranks arrive apart: scheduling noise, caches); 0 when not measured.
  double collective_overhead_s = 0.0;
  // Blocks with TP degrees up to this were timed with real TP groups: their times include the TP
  // collectives (1: none were).
  int tp_collectives_measured_up_to = 1;
};

class MeasuredComputeProfile final : public ComputeProfile {
 public:
  // `origin` names the profile in errors ("p.json" -> "[profile p.json] ...").
  MeasuredComputeProfile(MeasuredCompute compute, std::string origin);

  // Piecewise linear in samples over the points measured with this tp (and sequence parallelism);
  // UserError when none were. tp=1 with sequence parallelism is tp=1 without it.
  PieceCost block(double samples, int tp, bool sequence_parallel) const override;
  PieceCost embedding(double samples, int vocab_tp) const override;
  PieceCost head(double samples, int vocab_tp) const override;
  double optimizer_s(double parameters) const override;
  double collective_overhead_s() const override { return compute_.collective_overhead_s; }
  bool block_includes_tp_collectives(int tp) const override { return tp <= compute_.tp_collectives_measured_up_to; }
  std::string source() const override;

  const MeasuredCompute& measured() const { return compute_; }

 private:
  MeasuredCompute compute_;
  std::string origin_;
};

// The cost at `samples` (>= 0) read from points of one piece at one (tp, sequence parallel):
// linear between neighbouring points, along the last two points beyond the largest and the first
// two below the smallest, never below zero; one point alone scales in proportion to samples; zero
// samples cost nothing. Byte counts are rounded to whole bytes.
PieceCost interpolate_piece_cost(std::vector<ComputeMeasurement> points, double samples);

// Throws UserError naming the field and both values when the profile was measured for another
// model shape (hidden, heads, kv_heads, ffn_hidden, vocab_size, family) or sequence length than
// the one planned; the layer count may differ.
void check_measured_compute_matches(const MeasuredCompute& compute, const nn::ModelConfig& model, int64_t seq,
                                    const std::string& origin);

}  // namespace loom::planner
