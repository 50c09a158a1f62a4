// Training-session construction, the training step, evaluation, save and resume.
#include "train/session.h"

#include <chrono>

#include "autograd/tape.h"
#include "core/error.h"
#include "train/checkpoint.h"

namespace loom::train {

namespace {
// Tensors of the session in checkpoint order: parameters, then Adam moments.
std::vector<NamedTensor> checkpoint_tensors(const nn::TransformerModel& model, nn::AdamW& optimizer) {
  std::vector<NamedTensor> tensors;
  const auto& parameters = model.parameters();
  for (const auto& p : parameters) tensors.push_back({p.name(), p.value()});
  for (size_t i = 0; i < parameters.size(); ++i)
    tensors.push_back({"adam.m." + parameters[i].name(), optimizer.first_moments()[i]});
  for (size_t i = 0; i < parameters.size(); ++i)
    tensors.push_back({"adam.v." + parameters[i].name(), optimizer.second_moments()[i]});
  return tensors;
}
}  // namespace

TrainSession::TrainSession(const TrainConfig& config, const nn::ModelConfig& model_config) : config_(config) {
  validate_train_config(config_);
  nn::validate_model_config(model_config, config_.model);
  if (config_.seq > model_config.seq_len) {
    throw_user_error("--seq {} exceeds the model's seq_len={} (valid: 1..{})", config_.seq, model_config.seq_len,
                     model_config.seq_len);
  }
  corpus_ = data::load_corpus(config_.data, config_.seed);
  if (corpus_.vocab_size > model_config.vocab_size) {
    throw_user_error("--data '{}' has token ids up to {} but the model's vocab_size is {}", config_.data,
                     corpus_.vocab_size - 1, model_config.vocab_size);
  }
  split_ = data::split_corpus(corpus_, config_.val_fraction);
  loader_ = std::make_unique<data::BatchLoader>(&split_.train, config_.batch, config_.seq, config_.seed);
  validation_ = data::validation_batches(split_.validation, config_.batch, config_.seq, config_.eval_batches);
  model_ = std::make_unique<nn::TransformerModel>(model_config, config_.seed);
  nn::AdamWOptions options;
  options.weight_decay = config_.weight_decay;
  optimizer_ = std::make_unique<nn::AdamW>(model_->parameters(), options);
  schedule_.peak_lr = config_.lr;
  schedule_.min_lr = config_.min_lr;
  schedule_.warmup_steps = config_.warmup_steps;
  schedule_.total_steps = config_.steps;
}

std::unique_ptr<TrainSession> TrainSession::create(const TrainConfig& config) {
  validate_train_config(config);
  return create(config, nn::load_model_config(config.model));
}

std::unique_ptr<TrainSession> TrainSession::create(const TrainConfig& config, const nn::ModelConfig& model_config) {
  validate_train_config(config);
  return std::unique_ptr<TrainSession>(new TrainSession(config, model_config));
}

StepRecord TrainSession::step() {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const data::Batch batch = loader_->next();
  optimizer_->zero_grad();
  autograd::Tape tape;
  autograd::Var loss;
  auto since = [](clock::time_point t) { return std::chrono::duration<double, std::milli>(clock::now() - t).count(); };
  StepRecord record;
  auto phase = clock::now();
  {
    autograd::TapeScope scope(tape);
    loss = model_->loss(batch.inputs, batch.targets);
  }
  record.forward_ms = since(phase);
  phase = clock::now();
  tape.backward(loss);
  record.backward_ms = since(phase);
  phase = clock::now();
  record.loss = loss.value().item();
  if (!std::isfinite(record.loss)) {
    throw Error(fmt::format("training diverged: loss is {} at step {} (try a smaller --lr than {})", record.loss,
                            step_ + 1, config_.lr));
  }
  record.grad_norm = nn::clip_grad_norm(model_->parameters(), config_.grad_clip);
  record.lr = schedule_.at(step_);
  optimizer_->step(record.lr);
  record.optimizer_ms = since(phase);
  ++step_;
  record.step = step_;
  record.step_ms = std::chrono::duration<double, std::milli>(clock::now() - start).count();
  record.tokens_per_s = double(tokens_per_step()) / (record.step_ms / 1000.0);
  record.peak_mem_bytes = MemoryTracker::instance().total_peak_bytes();
  return record;
}

float TrainSession::validation_loss() {
  autograd::NoGradScope no_grad;
  double total = 0.0;
  for (const data::Batch& batch : validation_) total += model_->loss(batch.inputs, batch.targets).value().item();
  return static_cast<float>(total / double(validation_.size()));
}

void TrainSession::save(const std::string& directory) const {
  CheckpointContents contents;
  contents.metadata["step"] = step_;
  contents.metadata["train_config"] = train_config_to_json(config_);
  contents.metadata["model_config"] = nn::model_config_to_json(model_->config());
  contents.metadata["optimizer"] = {{"name", "adamw"}, {"steps_taken", optimizer_->steps_taken()}};
  contents.metadata["data"] = {{"source", corpus_.source},
                               {"vocab_size", corpus_.vocab_size},
                               {"byte_level", corpus_.byte_level},
                               {"loader", loader_->state()}};
  contents.tensors = checkpoint_tensors(*model_, *optimizer_);
  write_checkpoint(directory, contents);
}

std::unique_ptr<TrainSession> TrainSession::resume(const std::string& directory, int64_t steps) {
  const nlohmann::json metadata = read_checkpoint_metadata(directory);
  TrainConfig config = train_config_from_json(metadata.at("train_config"));
  if (steps > 0) config.steps = steps;
  const nn::ModelConfig model_config =
      nn::parse_model_config(metadata.at("model_config"), directory + "/checkpoint.json");
  std::unique_ptr<TrainSession> session(new TrainSession(config, model_config));
  std::vector<NamedTensor> tensors = checkpoint_tensors(*session->model_, *session->optimizer_);
  read_checkpoint_tensors(directory, tensors);
  session->step_ = metadata.at("step").get<int64_t>();
  session->optimizer_->set_steps_taken(metadata.at("optimizer").at("steps_taken").get<int64_t>());
  session->loader_->restore(metadata.at("data").at("loader"));
  if (session->step_ > config.steps) {
    throw_user_error("--steps {} is below the checkpoint's step {} (valid: >= {})", config.steps, session->step_,
                     session->step_);
  }
  return session;
}

std::unique_ptr<nn::TransformerModel> TrainSession::load_model(const std::string& directory,
                                                               nlohmann::json* metadata_out) {
  const nlohmann::json metadata = read_checkpoint_metadata(directory);
  const nn::ModelConfig model_config =
      nn::parse_model_config(metadata.at("model_config"), directory + "/checkpoint.json");
  auto model = std::make_unique<nn::TransformerModel>(model_config, 0);
  nn::AdamW optimizer(model->parameters(), nn::AdamWOptions{});  // moments are read and dropped
  std::vector<NamedTensor> tensors = checkpoint_tensors(*model, optimizer);
  read_checkpoint_tensors(directory, tensors);
  if (metadata_out != nullptr) *metadata_out = metadata;
  return model;
}

}  // namespace loom::train
