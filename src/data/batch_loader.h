// Training and validation batches cut from a token stream. Training windows start at offsets
// drawn uniformly from a seeded Rng, and the loader's state (Rng words, batches served) is a small
// JSON object, so a resumed run sees exactly the batches an uninterrupted run would have seen.
// Validation batches are fixed: consecutive, non-overlapping windows from the start of the split.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/random.h"
#include "core/tensor.h"
#include "data/corpus.h"

namespace loom::data {

struct CorpusSplit {
  std::vector<uint16_t> train, validation;
};

// Validation is the last `validation_fraction` of the tokens (rounded down), training the rest;
// UserError unless 0 <= validation_fraction < 1.
CorpusSplit split_corpus(const Corpus& corpus, double validation_fraction);

// inputs and targets are both [batch, seq] i32; targets are the inputs shifted by one token.
struct Batch {
  Tensor inputs, targets;
};

class BatchLoader {
 public:
  // `tokens` must outlive the loader. UserError unless batch >= 1, seq >= 1 and the tokens hold
  // at least seq + 1 of them.
  BatchLoader(const std::vector<uint16_t>* tokens, int64_t batch, int64_t seq, uint64_t seed);

  // `batch` windows of seq + 1 tokens with independent uniform start offsets.
  Batch next();

  // Everything needed to continue exactly: {"rng": [4 words], "batches_served", "batch", "seq",
  // "tokens"}; the last three guard against restoring into a different configuration.
  nlohmann::json state() const;
  // UserError naming the field for a malformed state or one saved with another batch, seq or
  // token count.
  void restore(const nlohmann::json& state);

  int64_t batches_served() const { return batches_served_; }

 private:
  const std::vector<uint16_t>* tokens_;
  int64_t batch_;
  int64_t seq_;
  Rng rng_;
  int64_t batches_served_ = 0;
};

// Up to `max_batches` batches (0: all) of consecutive, non-overlapping windows: window w has
// inputs tokens[w*seq, (w+1)*seq) and targets one token later. Every batch has `batch` rows,
// except that a split holding fewer than `batch` windows gives one batch of all of them.
// UserError unless batch >= 1, seq >= 1, max_batches >= 0 and the tokens hold seq + 1 of them.
std::vector<Batch> validation_batches(const std::vector<uint16_t>& tokens, int64_t batch,
                                      int64_t seq, int64_t max_batches);

}  // namespace loom::data
