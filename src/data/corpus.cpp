// Source selection for load_corpus; the formats themselves live in token_file and file_bytes.
#include "data/corpus.h"

#include <algorithm>

#include "core/error.h"
#include "data/file_bytes.h"
#include "data/synthetic_corpus.h"

namespace loom::data {
namespace {

Corpus byte_corpus(const std::string& text, const std::string& source) {
  Corpus corpus;
  corpus.tokens.assign(text.size(), 0);
  std::transform(text.begin(), text.end(), corpus.tokens.begin(),
                 [](char c) { return static_cast<uint16_t>(static_cast<unsigned char>(c)); });
  corpus.vocab_size = 256;
  corpus.byte_level = true;
  corpus.source = source;
  return corpus;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Corpus load_corpus(const std::string& spec, uint64_t seed, size_t synthetic_bytes) {
  if (spec == "synthetic") {
    if (synthetic_bytes == 0) {
      throw_user_error("data: synthetic corpus size is 0 bytes (valid: >= 1)");
    }
    return byte_corpus(generate_synthetic_corpus(synthetic_bytes, seed), "synthetic");
  }
  if (spec.empty()) {
    throw_user_error(
        "data: the data spec is empty (valid: 'synthetic', a .bin token file or a text file)");
  }
  if (ends_with(spec, ".bin")) {
    Corpus corpus;
    corpus.tokens = read_token_file(spec);
    corpus.vocab_size = *std::max_element(corpus.tokens.begin(), corpus.tokens.end()) + 1;
    corpus.byte_level = false;
    corpus.source = spec;
    return corpus;
  }
  const std::string text = read_file_bytes(spec);
  if (text.empty()) throw_user_error("data file '{}' is empty", spec);
  return byte_corpus(text, spec);
}

}  // namespace loom::data
