// Measuring one rank's compute for the measured profile (measured_profile.h): the forward and
// backward time and the bytes of one transformer block, of the embedding and of the head, at a
// few micro-batch sizes and tensor-parallel degrees, computed in this process exactly as the
// parallel runtime computes a rank's shard (nn::block_forward on the shard shapes, each piece on
// its own tape, parameters in one flat buffer with gradients accumulated into a preallocated
// one), and the optimizer's time per parameter.
//
// Bytes come from the memory tracker (core/memory.h), so they are what the runtime's tracker
// sees for the same piece; see PieceCost for what each count means.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nn/block.h"
#include "nn/model_config.h"
#include "planner/measured_profile.h"

namespace loom::planner {

struct ComputeMeasurementOptions {
  int max_tp = 4;             // TP and vocab-TP degrees up to this
  int max_samples = 8;        // micro-batches of 1, 2, 4, ... and this many sequences
  int repeats = 5;            // timed runs per point at least, after one warm-up run; the median counts
  double min_timed_s = 0.05;  // more runs (up to 10x repeats) while a point's runs add up to less
  int64_t optimizer_parameters = int64_t{1} << 22;
  uint64_t seed = 1;
  // Called before each point (e.g. a barrier, so that ranks sharing the machine measure together).
  std::function<void()> before_point;
  // The block's TP communication for a degree and sequence parallelism: a real group's (so the
  // times include the collectives as the runtime runs them, ranks measuring in step), or null for
  // the local stand-in that only allocates. With it, every point runs exactly `repeats` times.
  std::function<const nn::BlockComm*(int tp, bool sequence_parallel)> block_comm;
  // Called with each measured point: piece is "block", "embedding" or "head".
  std::function<void(const std::string& piece, const ComputeMeasurement&)> on_point;
};

// The degrees measured for blocks: those up to max_tp that divide heads, kv_heads and ffn_hidden.
std::vector<int> block_tp_degrees(const nn::ModelConfig& model, int max_tp);
// For the embedding and the head: 1, 2, 4, ... up to max_tp, and the block degrees (the
// vocabulary is padded to any degree).
std::vector<int> vocab_tp_degrees(const nn::ModelConfig& model, int max_tp);
// 1, 2, 4, ... below max_samples, then max_samples.
std::vector<int64_t> measured_sample_counts(int max_samples);

// One point each. seq from 1 to model.seq_len; sequence parallelism needs tp > 1 dividing seq.
ComputeMeasurement measure_block(const nn::ModelConfig& model, int64_t seq, int64_t samples, int tp,
                                 bool sequence_parallel, const ComputeMeasurementOptions& options = {});
ComputeMeasurement measure_embedding(const nn::ModelConfig& model, int64_t seq, int64_t samples, int vocab_tp,
                                     const ComputeMeasurementOptions& options = {});
ComputeMeasurement measure_head(const nn::ModelConfig& model, int64_t seq, int64_t samples, int vocab_tp,
                                const ComputeMeasurementOptions& options = {});
// Gradient clipping (sum of squares, scaling) and AdamW over options.optimizer_parameters elements.
double measure_optimizer_s_per_parameter(const ComputeMeasurementOptions& options = {});

// Every point: blocks at each degree (with and without sequence parallelism where it applies),
// the embedding and the head at each vocab degree, each at every sample count, then the
// optimizer. Single process, the current OpenMP thread count; source is left empty and
// concurrent_ranks 1 for the caller to fill in.
MeasuredCompute measure_compute(const nn::ModelConfig& model, int64_t seq,
                                const ComputeMeasurementOptions& options = {});

}  // namespace loom::planner
