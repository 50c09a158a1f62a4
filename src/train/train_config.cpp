// TrainConfig validation and JSON form.
#include "train/train_config.h"

#include "core/error.h"

namespace loom::train {

void validate_train_config(const TrainConfig& c) {
  if (c.steps <= 0) throw_user_error("--steps {} must be a positive integer", c.steps);
  if (c.batch <= 0) throw_user_error("--batch {} must be a positive integer", c.batch);
  if (c.seq <= 0) throw_user_error("--seq {} must be a positive integer", c.seq);
  if (!(c.lr > 0.0f)) throw_user_error("--lr {} must be positive", c.lr);
  if (!(c.min_lr >= 0.0f) || c.min_lr > c.lr)
    throw_user_error("--min-lr {} must be in [0, lr={}]", c.min_lr, c.lr);
  if (c.warmup_steps < 0) throw_user_error("--warmup {} must be >= 0", c.warmup_steps);
  if (!(c.weight_decay >= 0.0f)) throw_user_error("--weight-decay {} must be >= 0", c.weight_decay);
  if (!(c.grad_clip >= 0.0f)) throw_user_error("--grad-clip {} must be >= 0 (0 disables clipping)", c.grad_clip);
  if (!(c.val_fraction > 0.0 && c.val_fraction < 0.5))
    throw_user_error("--val-fraction {} must be in (0, 0.5)", c.val_fraction);
  if (c.eval_every < 0) throw_user_error("--eval-every {} must be >= 0", c.eval_every);
  if (c.eval_batches <= 0) throw_user_error("--eval-batches {} must be a positive integer", c.eval_batches);
}

nlohmann::json train_config_to_json(const TrainConfig& c) {
  return {{"model", c.model},         {"data", c.data},
          {"steps", c.steps},         {"batch", c.batch},
          {"seq", c.seq},             {"seed", c.seed},
          {"lr", c.lr},               {"min_lr", c.min_lr},
          {"warmup_steps", c.warmup_steps}, {"weight_decay", c.weight_decay},
          {"grad_clip", c.grad_clip}, {"val_fraction", c.val_fraction},
          {"eval_every", c.eval_every}, {"eval_batches", c.eval_batches}};
}

TrainConfig train_config_from_json(const nlohmann::json& json) {
  TrainConfig c;
  try {
    c.model = json.at("model").get<std::string>();
    c.data = json.at("data").get<std::string>();
    c.steps = json.at("steps").get<int64_t>();
    c.batch = json.at("batch").get<int64_t>();
    c.seq = json.at("seq").get<int64_t>();
    c.seed = json.at("seed").get<uint64_t>();
    c.lr = json.at("lr").get<float>();
    c.min_lr = json.at("min_lr").get<float>();
    c.warmup_steps = json.at("warmup_steps").get<int64_t>();
    c.weight_decay = json.at("weight_decay").get<float>();
    c.grad_clip = json.at("grad_clip").get<float>();
    c.val_fraction = json.at("val_fraction").get<double>();
    c.eval_every = json.at("eval_every").get<int64_t>();
    c.eval_batches = json.at("eval_batches").get<int64_t>();
  } catch (const nlohmann::json::exception& error) {
    throw_user_error("checkpoint: training config is malformed: {}", error.what());
  }
  return c;
}

}  // namespace loom::train
