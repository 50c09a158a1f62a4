// Window sampling and the loader's checkpointable state.
#include "data/batch_loader.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace loom::data {
namespace {

void check_shape(int64_t batch, int64_t seq) {
  if (batch < 1) throw_user_error("data: batch size is {} (valid: >= 1)", batch);
  if (seq < 1) throw_user_error("data: sequence length is {} (valid: >= 1)", seq);
}

void check_holds_window(size_t tokens, int64_t seq, const char* split) {
  if (tokens < static_cast<size_t>(seq) + 1) {
    throw_user_error(
        "data: the {} split has {} tokens, fewer than seq+1 = {}; use a larger file or a "
        "smaller --seq",
        split, tokens, seq + 1);
  }
}

// Copies the window starting at `start` into row `row` of the batch.
void fill_row(const std::vector<uint16_t>& tokens, size_t start, int64_t row, int64_t seq,
              Batch& batch) {
  int32_t* inputs = batch.inputs.i32() + row * seq;
  int32_t* targets = batch.targets.i32() + row * seq;
  for (int64_t t = 0; t < seq; ++t) {
    inputs[t] = tokens[start + static_cast<size_t>(t)];
    targets[t] = tokens[start + static_cast<size_t>(t) + 1];
  }
}

Batch empty_batch(int64_t rows, int64_t seq) {
  return Batch{Tensor::empty({rows, seq}, DType::i32), Tensor::empty({rows, seq}, DType::i32)};
}

// The integer field `key` of a loader state; UserError when it is missing or not an integer.
int64_t state_integer(const nlohmann::json& state, const char* key) {
  if (!state.contains(key) || !state[key].is_number_integer()) {
    throw_user_error("data: loader state field '{}' is missing or not an integer (got {})", key,
                     state.contains(key) ? state[key].dump() : "nothing");
  }
  return state[key].get<int64_t>();
}

}  // namespace

CorpusSplit split_corpus(const Corpus& corpus, double validation_fraction) {
  if (!(validation_fraction >= 0.0 && validation_fraction < 1.0)) {
    throw_user_error("data: validation fraction is {} (valid: 0 <= fraction < 1)",
                     validation_fraction);
  }
  if (corpus.tokens.empty()) throw_user_error("data: corpus '{}' has no tokens", corpus.source);
  const size_t total = corpus.tokens.size();
  const auto validation =
      static_cast<size_t>(std::floor(static_cast<double>(total) * validation_fraction));
  const auto boundary = corpus.tokens.begin() + static_cast<std::ptrdiff_t>(total - validation);
  CorpusSplit split;
  split.train.assign(corpus.tokens.begin(), boundary);
  split.validation.assign(boundary, corpus.tokens.end());
  return split;
}

BatchLoader::BatchLoader(const std::vector<uint16_t>* tokens, int64_t batch, int64_t seq,
                         uint64_t seed)
    : tokens_(tokens), batch_(batch), seq_(seq), rng_(seed) {
  LOOM_CHECK(tokens != nullptr, "BatchLoader needs a token vector");
  check_shape(batch, seq);
  check_holds_window(tokens->size(), seq, "training");
}

Batch BatchLoader::next() {
  Batch result = empty_batch(batch_, seq_);
  const uint64_t starts = tokens_->size() - static_cast<size_t>(seq_);  // valid starts: [0, starts)
  for (int64_t row = 0; row < batch_; ++row) {
    fill_row(*tokens_, static_cast<size_t>(rng_.uniform_int(starts)), row, seq_, result);
  }
  ++batches_served_;
  return result;
}

nlohmann::json BatchLoader::state() const {
  const Rng::State words = rng_.state();
  return {{"rng", words},
          {"batches_served", batches_served_},
          {"batch", batch_},
          {"seq", seq_},
          {"tokens", tokens_->size()}};
}

void BatchLoader::restore(const nlohmann::json& state) {
  if (!state.is_object()) {
    throw_user_error("data: loader state is {} (valid: a JSON object)", state.type_name());
  }
  if (!state.contains("rng") || !state["rng"].is_array() ||
      state["rng"].size() != Rng::kStateWords) {
    throw_user_error(
        "data: loader state field 'rng' is {} (valid: an array of {} unsigned integers)",
        state.contains("rng") ? state["rng"].dump() : "missing", Rng::kStateWords);
  }
  Rng::State words{};
  for (size_t i = 0; i < words.size(); ++i) {
    const nlohmann::json& word = state["rng"][i];
    // Text parses non-negative integers as unsigned; a state built in code may hold signed ones.
    if (!word.is_number_unsigned() && !(word.is_number_integer() && word.get<int64_t>() >= 0)) {
      throw_user_error("data: loader state field 'rng[{}]' is {} (valid: an unsigned integer)", i,
                       word.dump());
    }
    words[i] = word.get<uint64_t>();
  }
  const int64_t served = state_integer(state, "batches_served");
  if (served < 0) {
    throw_user_error("data: loader state field 'batches_served' is {} (valid: >= 0)", served);
  }
  const struct {
    const char* key;
    int64_t current;
  } guards[] = {
      {"batch", batch_}, {"seq", seq_}, {"tokens", static_cast<int64_t>(tokens_->size())}};
  for (const auto& guard : guards) {
    const int64_t saved = state_integer(state, guard.key);
    if (saved != guard.current) {
      throw_user_error("data: loader state was saved with {} = {}, but this run has {} = {}",
                       guard.key, saved, guard.key, guard.current);
    }
  }
  Rng restored;
  restored.set_state(words);
  rng_ = restored;
  batches_served_ = served;
}

std::vector<Batch> validation_batches(const std::vector<uint16_t>& tokens, int64_t batch,
                                      int64_t seq, int64_t max_batches) {
  check_shape(batch, seq);
  if (max_batches < 0) {
    throw_user_error("data: max validation batches is {} (valid: >= 0, 0 = all)", max_batches);
  }
  check_holds_window(tokens.size(), seq, "validation");
  const auto windows = static_cast<int64_t>((tokens.size() - 1) / static_cast<size_t>(seq));
  int64_t count = windows < batch ? 1 : windows / batch;
  const int64_t rows = windows < batch ? windows : batch;
  if (max_batches > 0 && count > max_batches) count = max_batches;
  std::vector<Batch> batches;
  batches.reserve(static_cast<size_t>(count));
  for (int64_t b = 0; b < count; ++b) {
    Batch result = empty_batch(rows, seq);
    for (int64_t row = 0; row < rows; ++row) {
      fill_row(tokens, static_cast<size_t>((b * rows + row) * seq), row, seq, result);
    }
    batches.push_back(std::move(result));
  }
  return batches;
}

}  // namespace loom::data
