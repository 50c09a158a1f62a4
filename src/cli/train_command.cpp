// loom train: single-process training with a live progress line, validation, metrics and
// checkpoints.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>

#include "cli/commands.h"
#include "cli/metrics_file.h"
#include "cli/progress.h"
#include "cli/training_model.h"
#include "comm/collectives.h"
#include "comm/world.h"
#include "core/error.h"
#include "core/memory.h"
#include "data/batch_loader.h"
#include "data/corpus.h"
#include "nn/lr_schedule.h"
#include "parallel/plan.h"
#include "parallel/runtime.h"
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
  bool print_schedule = false;
};

std::string mib(int64_t bytes) {
  return fmt::format("{:.1f} MiB", double(bytes) / (1024.0 * 1024.0));
}

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

// The largest value over all ranks of the job.
double max_over_job(comm::Communicator& world, double value) {
  comm::CollectiveOptions options;
  options.op = comm::ReduceOp::max;
  comm::all_reduce(world, &value, 1, DType::f64, options);
  return value;
}

nlohmann::json memory_by_category_over_job(comm::Communicator& world) {
  nlohmann::json json = memory_by_category();
  for (auto& [name, bytes] : json.items()) bytes = int64_t(max_over_job(world, double(bytes.get<int64_t>())));
  return json;
}

// Training with a plan (or plain data parallel over all ranks of an MPI job): every rank loads the
// same data and draws the same global batches; rank 0 reports, with times and memory the largest
// over ranks.
// The tensors of a checkpoint of `model` in file order (parameters, then AdamW's moments), empty.
std::vector<train::NamedTensor> checkpoint_layout(const nn::ModelConfig& model) {
  std::vector<train::NamedTensor> tensors;
  for (const char* prefix : {"", "adam.m.", "adam.v."})
    for (const nn::ParameterSpec& spec : nn::parameter_specs(model))
      tensors.push_back({prefix + spec.name, Tensor::empty_in(spec.shape, MemoryCategory::workspace)});
  return tensors;
}

void run_parallel_train(const CLI::App& command, TrainFlags& flags) {
  if (flags.log_every <= 0) throw_user_error("--log-every {} must be a positive integer", flags.log_every);
  if (flags.save_every < 0) throw_user_error("--save-every {} must be >= 0", flags.save_every);
  if (flags.save_every > 0 && flags.save.empty()) throw_user_error("--save-every needs --save DIR");
  if (!flags.save.empty()) train::check_checkpoint_target(flags.save);
  train::TrainConfig config = flags.config;
  nlohmann::json checkpoint;  // metadata of --resume
  nn::ModelConfig model;
  if (!flags.resume.empty()) {
    // The checkpoint defines the run (any plan can continue it: its tensors are whole).
    checkpoint = train::read_checkpoint_metadata(flags.resume);
    config = train::train_config_from_json(checkpoint.at("train_config"));
    if (command.count("--steps") > 0) config.steps = flags.config.steps;
    require_same(command, "--model", flags.config.model, config.model);
    require_same(command, "--data", flags.config.data, config.data);
    require_same(command, "--seq", flags.config.seq, config.seq);
    require_same(command, "--seed", flags.config.seed, config.seed);
    model = nn::parse_model_config(checkpoint.at("model_config"), flags.resume + "/checkpoint.json");
  } else {
    model = load_training_model(config.model);
  }
  train::validate_train_config(config);
  const int threads = apply_thread_count(flags.threads);
  auto world = comm::world_communicator();
  nn::validate_model_config(model, config.model);
  if (config.seq > model.seq_len)
    throw_user_error("--seq {} exceeds the model's seq_len={} (valid: 1..{})", config.seq, model.seq_len,
                     model.seq_len);
  parallel::ParallelPlan plan = flags.plan.empty() ? parallel::data_parallel_plan(model, world->size(), config.batch)
                                                   : parallel::read_plan(flags.plan);
  if ((command.count("--batch") > 0 || !flags.resume.empty()) && config.batch != plan.global_batch)
    throw_user_error(
        "--batch {} differs from the plan's global_batch {} (omit --batch with --plan; a resumed run keeps its "
        "checkpoint's batch)",
        config.batch, plan.global_batch);
  config.batch = plan.global_batch;
  parallel::validate_plan(plan, model, world->size());
  for (size_t l = 0; l < plan.layers.size(); ++l) {
    const parallel::LayerStrategy& layer = plan.layers[l];
    if (layer.sequence_parallel && config.seq % layer.tp != 0)
      throw_user_error(
          "--seq {} is not divisible by layer {}'s tp {}, which sequence parallelism needs (valid: a "
          "multiple of {})",
          config.seq, l, layer.tp, layer.tp);
  }

  const data::Corpus corpus = data::load_corpus(config.data, config.seed);
  if (corpus.vocab_size > model.vocab_size)
    throw_user_error("--data '{}' has token ids up to {} but the model's vocab_size is {}", config.data,
                     corpus.vocab_size - 1, model.vocab_size);
  const data::CorpusSplit split = data::split_corpus(corpus, config.val_fraction);
  data::BatchLoader loader(&split.train, config.batch, config.seq, config.seed);
  const std::vector<data::Batch> validation_set =
      data::validation_batches(split.validation, config.batch, config.seq, config.eval_batches);
  nn::LrSchedule schedule;
  schedule.peak_lr = config.lr;
  schedule.min_lr = config.min_lr;
  schedule.warmup_steps = config.warmup_steps;
  schedule.total_steps = config.steps;

  parallel::ParallelOptions options;
  options.seed = config.seed;
  options.adamw.weight_decay = config.weight_decay;
  options.grad_clip = config.grad_clip;
  parallel::ParallelTrainer trainer(world, plan, model, options);
  int64_t first_step = 0;
  if (!flags.resume.empty()) {
    std::vector<train::NamedTensor> tensors = checkpoint_layout(model);
    train::read_checkpoint_tensors(flags.resume, tensors);
    std::vector<std::pair<std::string, Tensor>> state;
    for (train::NamedTensor& t : tensors) state.emplace_back(t.name, t.tensor);
    trainer.load_full_state(state, checkpoint.at("optimizer").at("steps_taken").get<int64_t>());
    loader.restore(checkpoint.at("data").at("loader"));
    first_step = checkpoint.at("step").get<int64_t>();
    if (first_step > config.steps)
      throw_user_error("--steps {} is below the checkpoint's step {} (valid: >= {})", config.steps, first_step,
                       first_step);
  }
  // Collective: every rank contributes its shards; rank 0 writes the single-process format.
  auto save = [&](int64_t step) {
    std::vector<std::pair<std::string, Tensor>> state = trainer.full_state();
    if (world->rank() != 0) return;
    train::CheckpointContents contents;
    contents.metadata["step"] = step;
    contents.metadata["train_config"] = train::train_config_to_json(config);
    contents.metadata["model_config"] = nn::model_config_to_json(model);
    contents.metadata["optimizer"] = {{"name", "adamw"}, {"steps_taken", trainer.optimizer_steps()}};
    contents.metadata["data"] = {{"source", corpus.source},
                                 {"vocab_size", corpus.vocab_size},
                                 {"byte_level", corpus.byte_level},
                                 {"loader", loader.state()}};
    for (auto& [name, tensor] : state) contents.tensors.push_back({name, tensor});
    train::write_checkpoint(flags.save, contents);
  };
  const bool report = world->rank() == 0;
  MetricsFile metrics(report ? flags.metrics : std::string());
  if (report) {
    fmt::print(
        "loom train: model {} ({}, {} layers, hidden {}, {} heads) on {} ranks: {} stage{}, {} micro-batch{}, "
        "{}, {} threads per rank\n",
        model.name, nn::family_name(model.family), model.layers, model.hidden, model.heads, world->size(),
        plan.stages.size(), plan.stages.size() == 1 ? "" : "s", plan.micro_batches, plan.micro_batches == 1 ? "" : "es",
        parallel::schedule_name(plan.schedule), threads);
    fmt::print("            data {} ({} tokens), global batch {} x seq {}, steps 1..{}{}\n", corpus.source,
               corpus.tokens.size(), config.batch, config.seq, config.steps,
               flags.plan.empty() ? ", plain data parallel" : ", plan " + flags.plan);
    if (flags.print_schedule)
      fmt::print("pipeline program ({} stages, {} micro-batches, {}):\n{}", plan.stages.size(), plan.micro_batches,
                 parallel::schedule_name(plan.schedule), parallel::format_pipeline_program(trainer.program(), true));
    std::fflush(stdout);
  }

  ProgressLine progress(config.steps, flags.log_every);
  const auto start = std::chrono::steady_clock::now();
  double total_ms = 0.0;
  float first_loss = 0.0f, last_loss = 0.0f, validation = -1.0f;
  auto validation_loss = [&] {
    double total = 0.0;
    for (const data::Batch& batch : validation_set) total += trainer.evaluate(batch.inputs, batch.targets);
    return float(total / double(validation_set.size()));
  };
  const int64_t tokens_per_step = config.batch * config.seq;
  for (int64_t step = first_step; step < config.steps; ++step) {
    const data::Batch batch = loader.next();
    const float lr = schedule.at(step);
    const parallel::ParallelStepResult r = trainer.step(batch.inputs, batch.targets, lr);
    const double step_ms = max_over_job(*world, r.step_ms);
    const double exposed_ms = max_over_job(*world, r.exposed_comm_ms);
    const double pipeline_ms = max_over_job(*world, r.pipeline_wait_ms);
    const double compute_ms = max_over_job(*world, r.compute_ms);
    const double peak = max_over_job(*world, double(MemoryTracker::instance().total_peak_bytes()));
    total_ms += step_ms;
    if (step == first_step) first_loss = r.loss;
    last_loss = r.loss;
    if (!std::isfinite(r.loss))
      throw Error(fmt::format("training diverged: loss is {} at step {} (try a smaller --lr than {})", r.loss, step + 1,
                              config.lr));
    const bool evaluate = step + 1 == config.steps || (config.eval_every > 0 && (step + 1) % config.eval_every == 0);
    if (evaluate) validation = validation_loss();
    const bool checkpoint_now = flags.save_every > 0 && (step + 1) % flags.save_every == 0 && step + 1 < config.steps;
    if (checkpoint_now) save(step + 1);
    if (!report) continue;
    const double tokens_per_s = double(tokens_per_step) / (step_ms / 1000.0);
    progress.update(step + 1, r.loss, lr, tokens_per_s, total_ms / double(step + 1 - first_step));
    nlohmann::json line = {{"step", step + 1},
                           {"loss", r.loss},
                           {"lr", lr},
                           {"grad_norm", r.grad_norm},
                           {"step_ms", step_ms},
                           {"tokens_per_s", tokens_per_s},
                           {"peak_mem_bytes", int64_t(peak)},
                           {"compute_ms", compute_ms},
                           {"exposed_comm_ms", exposed_ms},
                           {"pipeline_wait_ms", pipeline_ms}};
    if (plan.prediction.present) line["predicted_step_ms"] = plan.prediction.step_ms;
    if (evaluate) {
      line["val_loss"] = validation;
      progress.message(fmt::format("step {}: train loss {:.4f}, validation loss {:.4f}", step + 1, r.loss, validation));
    }
    metrics.write(line);
    if (checkpoint_now) progress.message(fmt::format("step {}: saved checkpoint to {}", step + 1, flags.save));
  }
  if (!flags.save.empty()) save(config.steps);
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const nlohmann::json by_category = memory_by_category_over_job(*world);
  const int64_t peak = int64_t(max_over_job(*world, double(MemoryTracker::instance().total_peak_bytes())));
  if (!report) return;
  progress.finish();
  const int64_t steps_run = config.steps - first_step;
  const double tokens_per_s = steps_run > 0 ? double(steps_run * tokens_per_step) / (total_ms / 1000.0) : 0.0;
  metrics.write({{"summary", true},
                 {"steps", config.steps},
                 {"ranks", world->size()},
                 {"first_loss", first_loss},
                 {"final_loss", last_loss},
                 {"val_loss", validation},
                 {"tokens_per_s", tokens_per_s},
                 {"steps_run", steps_run},
                 {"mean_step_ms", steps_run > 0 ? total_ms / double(steps_run) : 0.0},
                 {"wall_s", wall_s},
                 {"peak_mem_bytes", peak},
                 {"peak_mem_by_category", by_category}});
  metrics.commit();
  fmt::print(
      "done: {} steps in {}, loss {:.4f} -> {:.4f}, validation loss {:.4f}, {:.0f} tok/s, peak memory per rank {}\n",
      steps_run, format_duration(wall_s), first_loss, last_loss, validation, tokens_per_s, mib(peak));
}

void run_train(const CLI::App& command, TrainFlags& flags) {
  if (!flags.plan.empty() || (comm::launched_by_mpi() && comm::world_communicator()->size() > 1)) {
    run_parallel_train(command, flags);
    return;
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
    session = train::TrainSession::create(flags.config, load_training_model(flags.config.model));
  }
  MetricsFile metrics(flags.metrics);
  const train::TrainConfig& config = session->config();
  const nn::ModelConfig& model = session->model_config();
  fmt::print("loom train: model {} ({}, {:.2f}M parameters, {} layers, hidden {}, {} heads)\n", model.name,
             nn::family_name(model.family), double(session->model().parameter_count()) / 1e6, model.layers,
             model.hidden, model.heads);
  fmt::print("            data {} ({} tokens{}), batch {} x seq {}, steps {}..{}, {} threads\n",
             session->corpus().source, session->corpus().tokens.size(),
             session->corpus().byte_level ? ", byte-level" : "", config.batch, config.seq, session->current_step() + 1,
             config.steps, threads);
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
    nlohmann::json line = {{"step", record.step},
                           {"loss", record.loss},
                           {"lr", record.lr},
                           {"grad_norm", record.grad_norm},
                           {"step_ms", record.step_ms},
                           {"tokens_per_s", record.tokens_per_s},
                           {"peak_mem_bytes", record.peak_mem_bytes}};
    const bool evaluate = session->done() || (config.eval_every > 0 && record.step % config.eval_every == 0);
    if (evaluate) {
      validation = session->validation_loss();
      line["val_loss"] = validation;
      progress.message(
          fmt::format("step {}: train loss {:.4f}, validation loss {:.4f}", record.step, record.loss, validation));
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
  CLI::App* command =
      app.add_subcommand("train", "Train a GPT or Llama model (one process, or under mpirun with a plan)");
  train::TrainConfig& c = flags->config;
  command
      ->add_option("--model", c.model,
                   "Preset (tiny, llama-tiny, gpt-bench, gpt2-small), model JSON, or Hugging Face config.json")
      ->capture_default_str();
  command->add_option("--data", c.data, "synthetic, a text file (byte tokens) or an llm.c .bin token file")
      ->capture_default_str();
  command->add_option("--steps", c.steps, "Total optimizer steps")->capture_default_str();
  command->add_option("--batch", c.batch, "Sequences per step")->capture_default_str();
  command->add_option("--seq", c.seq, "Tokens per sequence")->capture_default_str();
  command->add_option("--threads", flags->threads, "Compute threads (0: all cores)")->capture_default_str();
  command->add_option("--plan", flags->plan, "Hybrid-parallel plan JSON (run under mpirun -np <world_size>)");
  command->add_flag("--print-schedule", flags->print_schedule,
                    "With --plan: print each stage's pipeline actions (forwards, backwards, transfers) first");
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
