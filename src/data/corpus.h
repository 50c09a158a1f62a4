// Corpus: the token stream a run trains on, from one of three sources chosen by the spec:
// "synthetic" (generated text), a path ending in ".bin" (an llm.c token file) or any other path
// (a text file read as bytes). Byte-level corpora use ids 0-255 and can be shown as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "data/token_file.h"

namespace loom::data {

struct Corpus {
  std::vector<uint16_t> tokens;  // token ids
  int32_t vocab_size = 0;        // 256 for byte-level sources; max id + 1 for token files
  bool byte_level = false;       // tokens are bytes and can be shown as text
  std::string source;            // "synthetic", or the file path
};

// Loads the corpus named by `spec`; `seed` and `synthetic_bytes` apply to "synthetic" only.
// UserError (one line naming the file) for a missing, unreadable, empty or malformed file.
Corpus load_corpus(const std::string& spec, uint64_t seed, size_t synthetic_bytes = 4 << 20);

}  // namespace loom::data
