// TrainSession: one single-process training run: model, optimizer, schedule, data, step count.
// It is created fresh from a TrainConfig or resumed from a checkpoint, advanced one optimizer
// step at a time, evaluated on the validation split, and saved. Resuming continues exactly:
// the same batches, the same updates, the same losses as an uninterrupted run.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/batch_loader.h"
#include "data/corpus.h"
#include "nn/adamw.h"
#include "nn/lr_schedule.h"
#include "nn/transformer.h"
#include "train/train_config.h"

namespace loom::train {

struct StepRecord {
  int64_t step = 0;  // 1-based index of the step just taken
  float loss = 0.0f;
  float lr = 0.0f;
  double grad_norm = 0.0;
  double step_ms = 0.0;
  double forward_ms = 0.0;    // of step_ms: the forward,
  double backward_ms = 0.0;   // the backward,
  double optimizer_ms = 0.0;  // clipping and the AdamW update
  double tokens_per_s = 0.0;
  int64_t peak_mem_bytes = 0;  // process peak over all categories since the run started
};

class TrainSession {
 public:
  static std::unique_ptr<TrainSession> create(const TrainConfig& config);
  // With the model already read (the CLI reads Hugging Face config.json files through the planner).
  static std::unique_ptr<TrainSession> create(const TrainConfig& config, const nn::ModelConfig& model_config);
  // Resume from a checkpoint directory; `steps` > 0 replaces the total step count (continue a
  // finished run further), otherwise the checkpoint's own total is kept.
  static std::unique_ptr<TrainSession> resume(const std::string& directory, int64_t steps = 0);
  // Only the trained model of a checkpoint (for sampling); metadata receives checkpoint.json.
  static std::unique_ptr<nn::TransformerModel> load_model(const std::string& directory,
                                                          nlohmann::json* metadata = nullptr);

  StepRecord step();
  bool done() const { return step_ >= config_.steps; }
  float validation_loss();
  void save(const std::string& directory) const;

  int64_t current_step() const { return step_; }
  const TrainConfig& config() const { return config_; }
  const nn::ModelConfig& model_config() const { return model_->config(); }
  const nn::TransformerModel& model() const { return *model_; }
  const data::Corpus& corpus() const { return corpus_; }
  int64_t tokens_per_step() const { return config_.batch * config_.seq; }

 private:
  TrainSession(const TrainConfig& config, const nn::ModelConfig& model_config);

  TrainConfig config_;
  data::Corpus corpus_;
  data::CorpusSplit split_;
  std::unique_ptr<data::BatchLoader> loader_;
  std::vector<data::Batch> validation_;
  std::unique_ptr<nn::TransformerModel> model_;
  std::unique_ptr<nn::AdamW> optimizer_;
  nn::LrSchedule schedule_;
  int64_t step_ = 0;
};

}  // namespace loom::train
