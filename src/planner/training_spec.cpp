#include "planner/training_spec.h"

#include <charconv>

#include "core/error.h"

namespace loom::planner {

std::vector<int64_t> TrainingSpec::batches() const {
  std::vector<int64_t> list{global_batch};
  for (int64_t b = global_batch * 2; batch_max > 0 && b <= batch_max; b *= 2) list.push_back(b);
  return list;
}

int TrainingSpec::optimizer_state_bytes() const {
  const int moments = optimizer == Optimizer::adamw ? 2 : 1;
  const int master = precision == Precision::fp32 ? 0 : 4;
  return moments * 4 + master;
}

const char* optimizer_name(Optimizer optimizer) {
  return optimizer == Optimizer::adamw ? "adamw" : "sgd";
}

Optimizer parse_optimizer(const std::string& name) {
  if (name == "adamw" || name == "adam") return Optimizer::adamw;
  if (name == "sgd") return Optimizer::sgd;
  throw_user_error("--optimizer '{}' is not known (valid: adamw, sgd)", name);
}

namespace {
bool parse_count(const std::string& text, int64_t& value) {
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && ptr == end;
}
}  // namespace

void parse_batch(const std::string& text, TrainingSpec& spec) {
  const size_t colon = text.find(':');
  int64_t low = 0, high = 0;
  const bool ok = colon == std::string::npos
                      ? parse_count(text, low)
                      : parse_count(text.substr(0, colon), low) && parse_count(text.substr(colon + 1), high);
  if (!ok)
    throw_user_error("--batch '{}' is not a batch size (valid: a number like 512, or a range like 256:2048)", text);
  spec.global_batch = low;
  spec.batch_max = high;
}

void validate_training(const TrainingSpec& spec, int64_t max_positions) {
  if (spec.global_batch < 1) throw_user_error("[training] batch={} must be >= 1", spec.global_batch);
  if (spec.batch_max != 0 && spec.batch_max < spec.global_batch)
    throw_user_error("[training] batch range {}:{} is empty (valid: MIN:MAX with MAX >= MIN)", spec.global_batch,
                     spec.batch_max);
  if (spec.seq < 1) throw_user_error("[training] seq={} must be >= 1", spec.seq);
  if (max_positions > 0 && spec.seq > max_positions)
    throw_user_error("[training] seq={} is longer than the model's {} positions (valid: 1..{})", spec.seq,
                     max_positions, max_positions);
}

}  // namespace loom::planner
