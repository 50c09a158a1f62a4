// A generated English-like corpus for training without a data file. Lines come from a small
// grammar over a fixed lexicon (subject-verb agreement, a/an, questions) mixed with counting
// runs, sums and a fixed table of key=value facts, so a small byte-level model has structure to
// learn within a few hundred steps and its samples can be read against the source.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace loom::data {

// Exactly `bytes` bytes of printable ASCII and '\n'; the same seed gives the same bytes on every
// platform, and a shorter corpus is a prefix of a longer one (the last line may be cut short).
std::string generate_synthetic_corpus(size_t bytes, uint64_t seed);

}  // namespace loom::data
