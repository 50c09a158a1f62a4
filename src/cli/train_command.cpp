// loom train: single-process training with a live progress line, validation, metrics and
// checkpoints.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>

#include "cli/commands.h"
#include "cli/metrics_file.h"
#include "cli/progress.h"
#include "core/error.h"
#include "core/memory.h"
#include "train/checkpoint.h"
#include "train/session.h"

namespace loom::cli {

namespace {

struct TrainFlags {
  train::TrainConfig config;
  int threads = 0;
  std::string plan;
  std::string metrics;
  std::string save;
  std::string resume;
  int64_t log_every = 10;
  int64_t save_every = 0;
};

std::string mib(int64_t bytes) { return fmt::format("{:.1f} MiB", double(bytes) / (1024.0 * 1024.0)); }

nlohmann::json memory_by_category() {
  nlohmann::json json;
  auto& tracker = MemoryTracker::instance();
  for (int i = 0; i < kMemoryCategoryCount; ++i) {
    const auto category = static_cast<MemoryCategory>(i);
    json[memory_category_name(category)] = tracker.peak_bytes(category);
  }
  return json;
}

// With --resume the checkpoint defines the run; a flag given explicitly must agree with it.
template <typename T>
void require_same(const CLI::App& command, const char* flag, const T& given, const T& stored) {
  if (command.count(flag) > 0 && !(given == stored)) {
    throw_user_error("{} {} differs from the checkpoint's {} (omit it when resuming)", flag, given, stored);
  }
}

void run_train(const CLI::App& command, TrainFlags& flags) {
  if (!flags.plan.empty()) {
    throw_user_error("--plan {}: hybrid-parallel plans need the parallel runtime, which this build does not have yet",
                     flags.plan);
  }
  if (flags.log_every <= 0) throw_user_error("--log-every {} must be a positive integer", flags.log_every);
  if (flags.save_every < 0) throw_user_error("--save-every {} must be >= 0", flags.save_every);
  if (flags.save_every > 0 && flags.save.empty()) throw_user_error("--save-every needs --save DIR");
  const int threads = apply_thread_count(flags.threads);
  if (!flags.save.empty()) train::check_checkpoint_target(flags.save);

  std::unique_ptr<train::TrainSession> session;
  if (!flags.resume.empty()) {
    session = train::TrainSession::resume(flags.resume, command.count("--steps") > 0 ? flags.config.steps : 0);
    const train::TrainConfig& stored = session->config();
    require_same(command, "--model", flags.config.model, stored.model);
    require_same(command, "--data", flags.config.data, stored.data);
    require_same(command, "--batch", flags.config.batch, stored.batch);
    require_same(command, "--seq", flags.config.seq, stored.seq);
    require_same(command, "--seed", flags.config.seed, stored.seed);
  } else {
    session = train::TrainSession::create(flags.config);
  }
  MetricsFile metrics(flags.metrics);
  const train::TrainConfig& config = session->config();
  const nn::ModelConfig& model = session->model_config();
  fmt::print("loom train: model {} ({}, {:.2f}M parameters, {} layers, hidden {}, {} heads)\n", model.name,
             nn::family_name(model.family), double(session->model().parameter_count()) / 1e6, model.layers,
             model.hidden, model.heads);
  fmt::print("            data {} ({} tokens{}), batch {} x seq {}, steps {}..{}, {} threads\n",
             session->corpus().source, session->corpus().tokens.size(),
             session->corpus().byte_level ? ", byte-level" : "", config.batch, config.seq,
             session->current_step() + 1, config.steps, threads);
  std::fflush(stdout);

  ProgressLine progress(config.steps, flags.log_every);
  const auto start = std::chrono::steady_clock::now();
  double total_ms = 0.0;
  int64_t steps_run = 0;
  float last_loss = 0.0f;
  float first_loss = 0.0f;
  float validation = -1.0f;
  while (!session->done()) {
    const train::StepRecord record = session->step();
    total_ms += record.step_ms;
    ++steps_run;
    if (steps_run == 1) first_loss = record.loss;
    last_loss = record.loss;
    progress.update(record.step, record.loss, record.lr, record.tokens_per_s, total_ms / double(steps_run));
    nlohmann::json line = {{"step", record.step},         {"loss", record.loss},
                           {"lr", record.lr},             {"grad_norm", record.grad_norm},
                           {"step_ms", record.step_ms},   {"tokens_per_s", record.tokens_per_s},
                           {"peak_mem_bytes", record.peak_mem_bytes}};
    const bool evaluate = session->done() || (config.eval_every > 0 && record.step % config.eval_every == 0);
    if (evaluate) {
      validation = session->validation_loss();
      line["val_loss"] = validation;
      progress.message(fmt::format("step {}: train loss {:.4f}, validation loss {:.4f}", record.step, record.loss,
                                   validation));
    }
    metrics.write(line);
    if (flags.save_every > 0 && record.step % flags.save_every == 0 && !session->done()) {
      session->save(flags.save);
      progress.message(fmt::format("step {}: saved checkpoint to {}", record.step, flags.save));
    }
  }
  progress.finish();
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t peak = MemoryTracker::instance().total_peak_bytes();
  if (!flags.save.empty()) {
    session->save(flags.save);
    fmt::print("saved checkpoint to {}\n", flags.save);
  }
  const double tokens_per_s = steps_run > 0 ? double(steps_run * session->tokens_per_step()) / (total_ms / 1000.0) : 0;
  metrics.write({{"summary", true},
                 {"steps", session->current_step()},
                 {"steps_run", steps_run},
                 {"first_loss", first_loss},
                 {"final_loss", last_loss},
                 {"val_loss", validation},
                 {"tokens_per_s", tokens_per_s},
                 {"mean_step_ms", steps_run > 0 ? total_ms / double(steps_run) : 0.0},
                 {"wall_s", wall_s},
                 {"peak_mem_bytes", peak},
                 {"peak_mem_by_category", memory_by_category()}});
  metrics.commit();
  if (steps_run == 0) {
    fmt::print("nothing to do: the checkpoint is already at step {} of {}\n", session->current_step(), config.steps);
    return;
  }
  fmt::print("done: {} steps in {}, loss {:.4f} -> {:.4f}, validation loss {:.4f}, {:.0f} tok/s, peak memory {}\n",
             steps_run, format_duration(wall_s), first_loss, last_loss, validation, tokens_per_s, mib(peak));
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* command = app.add_subcommand("train", "Train a GPT or Llama model (single process)");
  train::TrainConfig& c = flags->config;
  command->add_option("--model", c.model, "Preset (tiny, llama-tiny, gpt-bench, gpt2-small) or model JSON file")
      ->capture_default_str();
  command->add_option("--data", c.data, "synthetic, a text file (byte tokens) or an llm.c .bin token file")
      ->capture_default_str();
  command->add_option("--steps", c.steps, "Total optimizer steps")->capture_default_str();
  command->add_option("--batch", c.batch, "Sequences per step")->capture_default_str();
  command->add_option("--seq", c.seq, "Tokens per sequence")->capture_default_str();
  command->add_option("--threads", flags->threads, "Compute threads (0: all cores)")->capture_default_str();
  command->add_option("--plan", flags->plan, "Hybrid-parallel plan JSON (needs the parallel runtime)");
  command->add_option("--metrics", flags->metrics, "Write per-step metrics as JSON lines to this file");
  command->add_option("--save", flags->save, "Save a checkpoint to this directory at the end");
  command->add_option("--save-every", flags->save_every, "Also save every N steps (needs --save)");
  command->add_option("--resume", flags->resume, "Continue from a checkpoint directory");
  command->add_option("--seed", c.seed, "Seed for initialisation and data order")->capture_default_str();
  command->add_option("--lr", c.lr, "Peak learning rate")->capture_default_str();
  command->add_option("--min-lr", c.min_lr, "Final learning rate of the cosine decay")->capture_default_str();
  command->add_option("--warmup", c.warmup_steps, "Linear warm-up steps")->capture_default_str();
  command->add_option("--weight-decay", c.weight_decay, "AdamW weight decay")->capture_default_str();
  command->add_option("--grad-clip", c.grad_clip, "Global gradient-norm clip (0: off)")->capture_default_str();
  command->add_option("--val-fraction", c.val_fraction, "Fraction of the data held out")->capture_default_str();
  command->add_option("--eval-every", c.eval_every, "Validation every N steps (0: only at the end)")
      ->capture_default_str();
  command->add_option("--eval-batches", c.eval_batches, "Validation batches")->capture_default_str();
  command->add_option("--log-every", flags->log_every, "Plain log line every N steps (non-terminal output)")
      ->capture_default_str();
  command->callback([command, flags] { run_train(*command, *flags); });
}

}  // namespace loom::cli
