// Timing and counting one rank's pieces as the parallel runtime runs them (parallel/runtime.cpp):
// a piece's forward on a tape of its own, its backward seeded with the gradient the next piece
// hands back, parameters viewed from one flat buffer and their gradients accumulated in place
// into another.
//
// What the bytes mean (all from MemoryTracker's total live and peak bytes):
//   kept_bytes: live after the forward minus live before it: what the tape keeps for the backward
//     plus the piece's output (the next piece takes the output as its input and does not count
//     it again). The input belongs to the previous piece and is allocated before.
//   recompute_kept_bytes: the same for a forward run without a tape, as the runtime runs a
//     recomputed layer: the output only (as large as the input; the runtime keeps both, and the
//     input is the previous piece's output).
//   transient_bytes: the peak over the forward and the backward above live-before plus kept: the
//     ops' temporaries, the gradient arriving from the next piece, the activation gradients and
//     the input gradient handed to the previous piece. For a block, the larger of that and the
//     same peak of a recomputed block above its recompute_kept_bytes (which holds the replayed
//     forward's activations), so that one count bounds the block either way.
// Parameter gradients: the runtime gives every parameter of a unit with sharding 0/1 a view of
// its bucket as its gradient, allocated once at set-up, and backward adds into it in place; so
// here the gradients are views of a buffer allocated before the baseline too, and what the
// tracker sees during the backward is what the runtime's sees: the per-op weight-gradient
// temporaries, not a gradient buffer. (With sharding 2/3 the runtime allocates a unit's gradient
// buffer per micro-batch; that is the planner's per-unit gradient term, not an activation.)
// The host block cache keeps freed blocks for reuse but they are not live, so warm-up runs do
// not change the counts; they only keep page faults out of the times.
#include "planner/compute_measurement.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <utility>

#include "autograd/functions.h"
#include "autograd/tape.h"
#include "comm/communicator.h"
#include "comm/thread_transport.h"
#include "core/error.h"
#include "core/memory.h"
#include "core/random.h"
#include "nn/adamw.h"
#include "nn/block.h"
#include "nn/transformer.h"
#include "parallel/placement.h"
#include "parallel/plan.h"
#include "parallel/tensor_parallel.h"
#include "planner/local_block_comm.h"

namespace loom::planner {

namespace {

namespace af = autograd;
using autograd::Var;
using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

double median(std::vector<double> values) {
  LOOM_CHECK(!values.empty(), "median of no values");
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
}

// One parameter as this rank holds it: its spec (name, initial values) and its local shape.
struct LocalParameter {
  nn::ParameterSpec spec;
  Shape shape;
};

// A piece's parameters as a runtime unit holds them: values in one flat buffer, gradients in
// another allocated once (the runtime's bucket slice), which the backward adds into.
class ShardParameters {
 public:
  ShardParameters(const std::vector<LocalParameter>& parameters, uint64_t seed) {
    int64_t total = 0;
    for (const LocalParameter& p : parameters) total += shape_numel(p.shape);
    flat_ = Tensor::empty_in({total}, MemoryCategory::parameters);
    grads_ = Tensor::empty_in({total}, MemoryCategory::gradients);
    grads_.fill(0.0f);
    Rng rng(seed);
    int64_t offset = 0;
    for (const LocalParameter& p : parameters) {
      const int64_t count = shape_numel(p.shape);
      Tensor view = flat_.slice(0, offset, offset + count).reshape(p.shape);
      if (p.spec.init_std > 0.0f) {
        float* values = view.f32();
        for (int64_t i = 0; i < count; ++i) values[i] = static_cast<float>(rng.normal() * p.spec.init_std);
      } else {
        view.fill(p.spec.init_value);
      }
      Var var = Var::parameter(view, p.spec.name);
      var.slot()->grad = grads_.slice(0, offset, offset + count).reshape(p.shape);
      vars_.push_back(var);
      offset += count;
    }
  }

  const std::vector<Var>& vars() const { return vars_; }
  // The parameter whose name ends with `suffix` (undefined when there is none).
  Var named(const std::string& suffix) const {
    for (const Var& v : vars_)
      if (v.name().ends_with(suffix)) return v;
    return Var();
  }

 private:
  Tensor flat_, grads_;
  std::vector<Var> vars_;
};

// One transformer block's shard at TP degree tp (layer 0's parameters; every layer is alike).
struct BlockShard {
  std::unique_ptr<ShardParameters> parameters;
  nn::BlockParameters block;
};

BlockShard make_block_shard(const nn::ModelConfig& model, int tp, uint64_t seed) {
  std::vector<LocalParameter> local;
  std::vector<Var nn::BlockParameters::*> members;
  for (const nn::ParameterSpec& spec : nn::parameter_specs(model)) {
    if (spec.layer != 0 || spec.member == nullptr) continue;
    const parallel::Placement placement = parallel::block_parameter_placement(model, spec.member);
    const Shape shape = placement.kind == parallel::Placement::Kind::shard
                            ? parallel::shard_shape(spec.shape, placement, tp)
                            : spec.shape;
    local.push_back({spec, shape});
    members.push_back(spec.member);
  }
  BlockShard shard;
  shard.parameters = std::make_unique<ShardParameters>(local, seed);
  for (size_t i = 0; i < members.size(); ++i) shard.block.*members[i] = shard.parameters->vars()[i];
  return shard;
}

// This rank's rows of the (padded) vocabulary at degree tp: rank 0's, from row 0.
int64_t vocab_rows(const nn::ModelConfig& model, int tp) {
  return parallel::padded_vocab(model.vocab_size, tp) / tp;
}

// The token table shard, and for GPT the (replicated) position table.
ShardParameters make_embedding_parameters(const nn::ModelConfig& model, int tp, uint64_t seed) {
  std::vector<LocalParameter> local;
  for (const nn::ParameterSpec& spec : nn::parameter_specs(model)) {
    if (spec.name == "embed.token") local.push_back({spec, {vocab_rows(model, tp), model.hidden}});
    if (spec.name == "embed.position") local.push_back({spec, spec.shape});
  }
  return ShardParameters(local, seed);
}

// The final norm and the output table's shard (the tied token table or the head's own weight:
// the same shape and the same computation).
ShardParameters make_head_parameters(const nn::ModelConfig& model, int tp, uint64_t seed) {
  std::vector<LocalParameter> local;
  for (const nn::ParameterSpec& spec : nn::parameter_specs(model)) {
    if (spec.name.starts_with("final_norm.")) local.push_back({spec, spec.shape});
    if (spec.name == "embed.token") local.push_back({spec, {vocab_rows(model, tp), model.hidden}});
  }
  return ShardParameters(local, seed);
}

Tensor random_activation(const Shape& shape, uint64_t seed) {
  Tensor x = Tensor::empty_in(shape, MemoryCategory::activations);
  Rng rng(seed);
  float* values = x.f32();
  for (int64_t i = 0; i < x.numel(); ++i) values[i] = static_cast<float>(rng.normal());
  return x;
}

Tensor random_tokens(const Shape& shape, int64_t vocab, uint64_t seed) {
  Tensor ids = Tensor::empty(shape, DType::i32);
  Rng rng(seed);
  int32_t* values = ids.i32();
  for (int64_t i = 0; i < ids.numel(); ++i) values[i] = static_cast<int32_t>(rng.uniform_int(uint64_t(vocab)));
  return ids;
}

// A piece set up for one point: `forward` runs its forward (recording on whatever tape is
// current) and returns its output; `release` drops what a run left behind (the leaf input and
// the gradient that reached it).
struct PieceRun {
  std::function<Var()> forward;
  std::function<void()> release = [] {};
};

// Times forward and backward (median over the runs after one warm-up) and counts the bytes.
PieceCost measure_runs(const PieceRun& piece, const ComputeMeasurementOptions& options) {
  MemoryTracker& tracker = MemoryTracker::instance();
  const int fewest = std::max(1, options.repeats);
  const int most = 10 * fewest;
  std::vector<double> forward_times, backward_times;
  double timed_s = 0.0;
  PieceCost cost;
  for (int run = -1; run < most; ++run) {  // run -1 warms up
    if (run >= fewest && (timed_s >= options.min_timed_s || options.block_comm)) break;
    tracker.reset_peaks();
    const int64_t before = tracker.total_live_bytes();
    af::Tape tape;
    Var output;
    const auto forward_start = Clock::now();
    {
      af::TapeScope scope(tape);
      output = piece.forward();
    }
    const auto forward_end = Clock::now();
    const int64_t kept = tracker.total_live_bytes() - before;
    // The gradient of the output, as the next piece hands it back (held through this backward).
    const Tensor seed = Tensor::full(output.shape(), 1.0f);
    const auto backward_start = Clock::now();
    tape.backward({output}, {seed});
    const auto backward_end = Clock::now();
    const int64_t peak = tracker.total_peak_bytes() - before;
    output = Var();
    piece.release();
    if (run < 0) continue;
    forward_times.push_back(seconds_between(forward_start, forward_end));
    backward_times.push_back(seconds_between(backward_start, backward_end));
    timed_s += forward_times.back() + backward_times.back();
    cost.kept_bytes = kept;
    cost.transient_bytes = std::max<int64_t>(0, peak - kept);
  }
  cost.forward_s = median(forward_times);
  cost.backward_s = median(backward_times);
  return cost;
}

// A recomputed block as the runtime runs it: the forward without a tape keeps only its output
// (recompute_kept_bytes); the backward replays the forward on a tape and runs it, with the
// gradient from the next piece already there. Returns {kept, peak above live-before + kept}.
std::pair<int64_t, int64_t> measure_recomputed_bytes(const PieceRun& piece) {
  MemoryTracker& tracker = MemoryTracker::instance();
  const int64_t before = tracker.total_live_bytes();
  Var output;
  {
    af::NoGradScope no_grad;
    output = Var(piece.forward().value());
  }
  const int64_t kept = tracker.total_live_bytes() - before;
  tracker.reset_peaks();
  const Tensor seed = Tensor::full(output.shape(), 1.0f);
  af::Tape tape;
  {
    af::TapeScope scope(tape);
    output = piece.forward();  // replaces the kept output, as the runtime's replay does
  }
  tape.backward({output}, {seed});
  const int64_t peak = tracker.total_peak_bytes() - before;
  output = Var();
  piece.release();
  return {kept, std::max<int64_t>(0, peak - kept)};
}

// A group of one rank: the vocabulary-parallel functions run on it exactly as on a real group
// (same buffers) with nothing to exchange.
struct SoloGroup {
  comm::ThreadWorld world{1};
  comm::Communicator group{world.transport(0), "profile/solo"};
};

void check_point(const nn::ModelConfig& model, int64_t seq, int64_t samples, int tp) {
  if (seq < 1 || seq > model.seq_len)
    throw_user_error("profile: seq={} must be from 1 to the model's seq_len={}", seq, model.seq_len);
  if (samples < 1) throw_user_error("profile: samples={} must be >= 1", samples);
  if (tp < 1) throw_user_error("profile: tp={} must be >= 1", tp);
}

ComputeMeasurement block_point(const nn::ModelConfig& model, const BlockShard& shard, int64_t seq, int64_t samples,
                               int tp, bool sequence_parallel, const ComputeMeasurementOptions& options) {
  const int64_t local_seq = sequence_parallel ? seq / tp : seq;
  // The previous piece's output, this block's input.
  const Tensor x = random_activation({samples, local_seq, model.hidden}, options.seed + 1);
  const LocalBlockComm local(tp, sequence_parallel);
  const nn::BlockComm* real = options.block_comm && tp > 1 ? options.block_comm(tp, sequence_parallel) : nullptr;
  const nn::BlockComm& comm = real != nullptr ? *real : local;
  Var input;
  PieceRun run;
  run.forward = [&] {
    input = Var(x, true);  // a leaf per run, as the runtime makes one per micro-batch
    return nn::block_forward(model, shard.block, input, comm);
  };
  run.release = [&] { input = Var(); };
  ComputeMeasurement m;
  m.samples = double(samples);
  m.tp = tp;
  m.sequence_parallel = sequence_parallel;
  m.cost = measure_runs(run, options);
  const auto [recompute_kept, recompute_transient] = measure_recomputed_bytes(run);
  m.cost.recompute_kept_bytes = recompute_kept;
  m.cost.recompute_transient_bytes = recompute_transient;
  return m;
}

ComputeMeasurement embedding_point(const nn::ModelConfig& model, const ShardParameters& parameters, int64_t seq,
                                   int64_t samples, int tp, const ComputeMeasurementOptions& options) {
  const Tensor ids = random_tokens({samples, seq}, model.vocab_size, options.seed + 2);
  const Var table = parameters.named("embed.token");
  const Var position = parameters.named("embed.position");
  SoloGroup solo;
  PieceRun run;
  run.forward = [&] {
    // parallel::ParallelTrainer's token-table unit: this rank's rows, then the positions.
    Var x = tp == 1 ? af::embedding(Var(ids), table) : parallel::vocab_parallel_embedding(ids, table, 0, solo.group);
    if (position.defined()) x = af::add(x, af::embedding(Var(nn::position_ids(samples, seq)), position));
    return x;
  };
  ComputeMeasurement m;
  m.samples = double(samples);
  m.tp = tp;
  m.cost = measure_runs(run, options);
  m.cost.recompute_kept_bytes = m.cost.kept_bytes;  // never recomputed
  return m;
}

ComputeMeasurement head_point(const nn::ModelConfig& model, const ShardParameters& parameters, int64_t seq,
                              int64_t samples, int tp, const ComputeMeasurementOptions& options) {
  const Tensor x = random_activation({samples, seq, model.hidden}, options.seed + 3);
  const int64_t count = samples * seq;
  const Tensor targets = random_tokens({count}, model.vocab_size, options.seed + 4);
  const Var gamma = parameters.named("final_norm.gamma");
  const Var beta = parameters.named("final_norm.beta");
  const Var table = parameters.named("embed.token");
  const bool gpt = model.family == nn::ModelFamily::gpt;
  SoloGroup solo;
  Var input;
  PieceRun run;
  run.forward = [&] {
    // parallel::ParallelTrainer's head unit: final norm, this rank's logits, the loss.
    input = Var(x, true);
    Var h = gpt ? af::layer_norm(input, gamma, beta, model.norm_eps) : af::rms_norm(input, gamma, model.norm_eps);
    if (tp > 1) h = parallel::copy_to_group(h, solo.group);
    Var logits = af::reshape(af::matmul(h, table, false, true), {count, table.shape()[0]});
    if (tp == 1) return af::cross_entropy(logits, Var(targets));
    return parallel::vocab_parallel_cross_entropy(logits, targets, 0, model.vocab_size, solo.group);
  };
  run.release = [&] { input = Var(); };
  ComputeMeasurement m;
  m.samples = double(samples);
  m.tp = tp;
  m.cost = measure_runs(run, options);
  m.cost.recompute_kept_bytes = m.cost.kept_bytes;  // never recomputed
  return m;
}

}  // namespace

std::vector<int> block_tp_degrees(const nn::ModelConfig& model, int max_tp) {
  std::vector<int> degrees;
  for (int t = 1; t <= max_tp; ++t)
    if (model.heads % t == 0 && model.kv_heads % t == 0 && model.ffn_hidden % t == 0) degrees.push_back(t);
  return degrees;
}

std::vector<int> vocab_tp_degrees(const nn::ModelConfig& model, int max_tp) {
  std::set<int> degrees;
  for (int t = 1; t <= max_tp; t *= 2) degrees.insert(t);
  for (int t : block_tp_degrees(model, max_tp)) degrees.insert(t);
  return {degrees.begin(), degrees.end()};
}

std::vector<int64_t> measured_sample_counts(int max_samples) {
  std::vector<int64_t> counts;
  for (int64_t s = 1; s < max_samples; s *= 2) counts.push_back(s);
  if (max_samples >= 1) counts.push_back(max_samples);
  return counts;
}

ComputeMeasurement measure_block(const nn::ModelConfig& model, int64_t seq, int64_t samples, int tp,
                                 bool sequence_parallel, const ComputeMeasurementOptions& options) {
  check_point(model, seq, samples, tp);
  if (block_tp_degrees(model, tp).back() != tp)
    throw_user_error("profile: tp={} does not divide heads={}, kv_heads={} and ffn_hidden={}", tp, model.heads,
                     model.kv_heads, model.ffn_hidden);
  if (sequence_parallel && (tp == 1 || seq % tp != 0))
    throw_user_error("profile: sequence parallelism needs tp > 1 dividing seq={} (tp={})", seq, tp);
  const BlockShard shard = make_block_shard(model, tp, options.seed);
  return block_point(model, shard, seq, samples, tp, sequence_parallel, options);
}

ComputeMeasurement measure_embedding(const nn::ModelConfig& model, int64_t seq, int64_t samples, int vocab_tp,
                                     const ComputeMeasurementOptions& options) {
  check_point(model, seq, samples, vocab_tp);
  const ShardParameters parameters = make_embedding_parameters(model, vocab_tp, options.seed);
  return embedding_point(model, parameters, seq, samples, vocab_tp, options);
}

ComputeMeasurement measure_head(const nn::ModelConfig& model, int64_t seq, int64_t samples, int vocab_tp,
                                const ComputeMeasurementOptions& options) {
  check_point(model, seq, samples, vocab_tp);
  const ShardParameters parameters = make_head_parameters(model, vocab_tp, options.seed);
  return head_point(model, parameters, seq, samples, vocab_tp, options);
}

double measure_optimizer_s_per_parameter(const ComputeMeasurementOptions& options) {
  const int64_t count = options.optimizer_parameters;
  if (count < 1) throw_user_error("profile: optimizer_parameters={} must be >= 1", count);
  Tensor weights = Tensor::empty_in({count}, MemoryCategory::parameters);
  Tensor grads = Tensor::empty_in({count}, MemoryCategory::gradients);
  Tensor m = Tensor::zeros({count});
  Tensor v = Tensor::zeros({count});
  weights.fill(0.02f);
  grads.fill(1e-3f);
  const nn::AdamWOptions adamw;
  std::vector<double> times;
  double timed_s = 0.0;
  const int fewest = std::max(1, options.repeats);
  for (int run = -1; run < 10 * fewest; ++run) {  // run -1 warms up
    if (run >= fewest && (timed_s >= options.min_timed_s || options.block_comm)) break;
    const auto start = Clock::now();
    // Global-norm clipping's two passes (the scale is 1 here, the same work as any other), then
    // the update, as the runtime runs them on a rank's shard.
    const double norm = std::sqrt(nn::sum_of_squares(grads.f32(), count));
    nn::scale_in_place(grads.f32(), count, nn::clip_scale(norm, 1e30));
    nn::adamw_update(weights.f32(), grads.f32(), m.f32(), v.f32(), count, 1e-3f, run + 2, true, adamw);
    const double elapsed = seconds_between(start, Clock::now());
    if (run < 0) continue;
    times.push_back(elapsed);
    timed_s += elapsed;
  }
  return median(times) / double(count);
}

MeasuredCompute measure_compute(const nn::ModelConfig& model, int64_t seq, const ComputeMeasurementOptions& options) {
  nn::validate_model_config(model, model.name);
  check_point(model, seq, 1, options.max_tp);
  if (options.max_samples < 1) throw_user_error("profile: max_samples={} must be >= 1", options.max_samples);
  MeasuredCompute result;
  result.model = model;
  result.seq = seq;
  result.threads = omp_get_max_threads();
  result.concurrent_ranks = 1;
  const std::vector<int64_t> sample_counts = measured_sample_counts(options.max_samples);
  auto point = [&](const char* piece, std::vector<ComputeMeasurement>& into, const auto& measure) {
    if (options.before_point) options.before_point();
    into.push_back(measure());
    if (options.on_point) options.on_point(piece, into.back());
  };
  for (int tp : block_tp_degrees(model, options.max_tp)) {
    const BlockShard shard = make_block_shard(model, tp, options.seed);
    for (bool sp : {false, true}) {
      if (sp && (tp == 1 || seq % tp != 0)) continue;
      for (int64_t samples : sample_counts)
        point("block", result.block, [&] { return block_point(model, shard, seq, samples, tp, sp, options); });
    }
  }
  for (int tp : vocab_tp_degrees(model, options.max_tp)) {
    const ShardParameters parameters = make_embedding_parameters(model, tp, options.seed);
    for (int64_t samples : sample_counts)
      point("embedding", result.embedding,
            [&] { return embedding_point(model, parameters, seq, samples, tp, options); });
  }
  for (int tp : vocab_tp_degrees(model, options.max_tp)) {
    const ShardParameters parameters = make_head_parameters(model, tp, options.seed);
    for (int64_t samples : sample_counts)
      point("head", result.head, [&] { return head_point(model, parameters, seq, samples, tp, options); });
  }
  if (options.before_point) options.before_point();
  result.optimizer_s_per_parameter = measure_optimizer_s_per_parameter(options);
  return result;
}

}  // namespace loom::planner
