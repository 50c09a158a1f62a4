// loom bench step: single-process training throughput of the reference model and its model-FLOP
// utilisation (MFU) against the fp32 GEMM peak measured with oneDNN in the same run.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "autograd/op_profile.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/tensor.h"
#include "ops/cpu/kernels.h"
#include "train/session.h"

namespace loom::cli {

namespace {

struct BenchFlags {
  bool json = false;
  bool profile = false;
  int threads = 2;
  int64_t steps = 4;
  int64_t warmup_steps = 1;
  std::string model = "gpt-bench";
  int64_t batch = 8;
  int64_t seq = 256;
};

// Best-of-n fp32 GEMM rate for square n x n x n products, in GFLOP/s.
double measure_gemm_gflops(int64_t n, int repeats) {
  Tensor a = Tensor::full({n, n}, 0.5f);
  Tensor b = Tensor::full({n, n}, 0.25f);
  Tensor c = Tensor::zeros({n, n});
  double best_s = 1e30;
  for (int r = 0; r < repeats + 1; ++r) {
    const auto start = std::chrono::steady_clock::now();
    ops::cpu::gemm(false, false, n, n, n, 1.0f, a.f32(), n, b.f32(), n, 0.0f, c.f32(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r > 0) best_s = std::min(best_s, s);  // the first call warms up oneDNN
  }
  return 2.0 * double(n) * double(n) * double(n) / best_s / 1e9;
}

void run_bench_step(BenchFlags& flags) {
  if (flags.steps <= 0) throw_user_error("--steps {} must be a positive integer", flags.steps);
  if (flags.warmup_steps < 0) throw_user_error("--warmup-steps {} must be >= 0", flags.warmup_steps);
  const int threads = apply_thread_count(flags.threads);
  const double gemm_peak = std::max(measure_gemm_gflops(1024, 5), measure_gemm_gflops(2048, 3));

  train::TrainConfig config;
  config.model = flags.model;
  config.data = "synthetic";
  config.batch = flags.batch;
  config.seq = flags.seq;
  config.steps = flags.steps + flags.warmup_steps;
  config.eval_batches = 1;
  auto session = train::TrainSession::create(config);
  for (int64_t i = 0; i < flags.warmup_steps; ++i) session->step();
  std::vector<double> step_ms;
  double forward_ms = 0.0, backward_ms = 0.0, optimizer_ms = 0.0;
  auto& profile = autograd::OpProfile::instance();
  profile.reset();
  profile.set_enabled(flags.profile);
  for (int64_t i = 0; i < flags.steps; ++i) {
    const train::StepRecord record = session->step();
    step_ms.push_back(record.step_ms);
    forward_ms += record.forward_ms;
    backward_ms += record.backward_ms;
    optimizer_ms += record.optimizer_ms;
  }
  profile.set_enabled(false);
  std::sort(step_ms.begin(), step_ms.end());
  const double median_ms = step_ms[step_ms.size() / 2];
  const nn::ModelConfig& model = session->model_config();
  const int64_t tokens = config.batch * config.seq;
  const double flops = model.training_flops(tokens, config.seq);
  const double gflops = flops / (median_ms / 1000.0) / 1e9;
  const double tokens_per_s = double(tokens) / (median_ms / 1000.0);
  const double mfu = gflops / gemm_peak;

  fmt::print("loom bench step: model {} ({:.2f}M parameters), batch {} x seq {}, fp32, {} threads\n", model.name,
             double(session->model().parameter_count()) / 1e6, config.batch, config.seq, threads);
  fmt::print("  {:<28} {:>12.1f}\n", "model GFLOP per step", flops / 1e9);
  fmt::print("  {:<28} {:>12.1f}\n", "step time, median (ms)", median_ms);
  fmt::print("  {:<28} {:>12.0f}\n", "tokens/s", tokens_per_s);
  fmt::print("  {:<28} {:>12.1f}\n", "achieved GFLOP/s", gflops);
  fmt::print("  {:<28} {:>12.1f}\n", "oneDNN fp32 GEMM peak", gemm_peak);
  fmt::print("  {:<28} {:>12.3f}\n", "MFU (achieved / peak)", mfu);
  const double n = double(flags.steps);
  fmt::print("  per step: forward {:.1f} ms, backward {:.1f} ms, optimizer {:.1f} ms\n", forward_ms / n,
             backward_ms / n, optimizer_ms / n);
  if (flags.profile) {
    fmt::print("  {:<20} {:>12} {:>12} {:>8}\n", "op", "forward ms", "backward ms", "calls");
    for (const auto& [op, time] : profile.times()) {
      fmt::print("  {:<20} {:>12.1f} {:>12.1f} {:>8}\n", op, time.forward_ms / n, time.backward_ms / n,
                 double(time.forward_calls) / n);
    }
  }
  const nlohmann::json line = {
      {"model", model.name},  {"threads", threads},           {"batch", config.batch}, {"seq", config.seq},
      {"step_ms", median_ms}, {"tokens_per_s", tokens_per_s}, {"gflops", gflops},      {"gemm_peak_gflops", gemm_peak},
      {"mfu", mfu},           {"flops_per_step", flops}};
  fmt::print("{}\n", line.dump());
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  CLI::App* step = bench->add_subcommand("step", "Training throughput and MFU of the reference model");
  step->add_flag("--json", flags->json, "Print the JSON line only at the end (it is always printed last)");
  step->add_flag("--profile", flags->profile, "Print time per primitive (forward and backward)");
  step->add_option("--threads", flags->threads, "Compute threads")->capture_default_str();
  step->add_option("--steps", flags->steps, "Timed steps")->capture_default_str();
  step->add_option("--warmup-steps", flags->warmup_steps, "Untimed warm-up steps")->capture_default_str();
  step->add_option("--model", flags->model, "Model preset or JSON")->capture_default_str();
  step->add_option("--batch", flags->batch, "Sequences per step")->capture_default_str();
  step->add_option("--seq", flags->seq, "Tokens per sequence")->capture_default_str();
  step->callback([flags] { run_bench_step(*flags); });
}

}  // namespace loom::cli
