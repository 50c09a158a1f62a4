// The grammar and patterns behind generate_synthetic_corpus. Every choice is an integer draw from
// Rng, never a floating-point threshold, so the text does not depend on the platform.
#include "data/synthetic_corpus.h"

#include <array>
#include <string_view>

#include "core/random.h"

namespace loom::data {
namespace {

struct Inflected {
  std::string_view singular;  // for nouns, the singular; for verbs, the third person singular
  std::string_view plural;    // for verbs, also the bare form used after "does"
};

constexpr std::array<Inflected, 12> kNouns{{{"cat", "cats"},
                                            {"dog", "dogs"},
                                            {"bird", "birds"},
                                            {"child", "children"},
                                            {"farmer", "farmers"},
                                            {"teacher", "teachers"},
                                            {"fox", "foxes"},
                                            {"horse", "horses"},
                                            {"owl", "owls"},
                                            {"king", "kings"},
                                            {"robot", "robots"},
                                            {"apple", "apples"}}};

constexpr std::array<Inflected, 8> kTransitiveVerbs{{{"sees", "see"},
                                                     {"likes", "like"},
                                                     {"chases", "chase"},
                                                     {"finds", "find"},
                                                     {"helps", "help"},
                                                     {"watches", "watch"},
                                                     {"follows", "follow"},
                                                     {"carries", "carry"}}};

constexpr std::array<Inflected, 5> kIntransitiveVerbs{
    {{"sleeps", "sleep"}, {"runs", "run"}, {"sings", "sing"}, {"waits", "wait"}, {"eats", "eat"}}};

constexpr std::array<std::string_view, 8> kAdjectives{"big",   "small", "red",   "old",
                                                      "happy", "quiet", "green", "clever"};

constexpr std::array<std::string_view, 6> kPlaces{"in the garden", "near the river", "at night",
                                                  "every day",     "on the hill",    "after lunch"};

constexpr std::array<std::string_view, 3> kPluralDeterminers{"the", "some", "two"};

struct Fact {
  std::string_view key;
  std::string_view value;
};
constexpr std::array<Fact, 16> kFacts{{{"sky", "blue"},
                                       {"grass", "green"},
                                       {"snow", "white"},
                                       {"coal", "black"},
                                       {"sun", "hot"},
                                       {"ice", "cold"},
                                       {"lemon", "sour"},
                                       {"honey", "sweet"},
                                       {"night", "dark"},
                                       {"stone", "hard"},
                                       {"wool", "soft"},
                                       {"sea", "salty"},
                                       {"owl", "wise"},
                                       {"fox", "quick"},
                                       {"rose", "red"},
                                       {"gold", "rare"}}};

bool starts_with_vowel(std::string_view word) {
  return std::string_view("aeiou").find(word.front()) != std::string_view::npos;
}

class LineWriter {
 public:
  LineWriter(Rng& rng, std::string& out) : rng_(rng), out_(out) {}

  // Proportions per line: 60% sentences, 15% counting, 10% sums, 15% facts.
  void line() {
    const uint64_t kind = rng_.uniform_int(100);
    const size_t line_start = out_.size();
    if (kind < 60) {
      sentence();
      if (rng_.uniform_int(3) == 0) {
        out_ += ' ';
        const size_t second = out_.size();
        sentence();
        capitalise(second);
      }
    } else if (kind < 75) {
      counting();
    } else if (kind < 85) {
      sum();
    } else {
      facts();
    }
    capitalise(line_start);
    out_ += '\n';
  }

 private:
  template <typename T, size_t N>
  const T& pick(const std::array<T, N>& list) {
    return list[rng_.uniform_int(N)];
  }

  void capitalise(size_t position) {
    char& c = out_[position];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }

  // A noun phrase; returns whether it is plural.
  bool noun_phrase() {
    const bool plural = rng_.uniform_int(3) == 0;
    const bool with_adjective = rng_.uniform_int(5) < 2;
    const std::string_view adjective = pick(kAdjectives);
    const Inflected& noun = pick(kNouns);
    const std::string_view next_word = with_adjective ? adjective : noun.singular;
    if (plural) {
      out_ += pick(kPluralDeterminers);
    } else if (rng_.uniform_int(2) == 0) {
      out_ += "the";
    } else {
      out_ += starts_with_vowel(next_word) ? "an" : "a";
    }
    out_ += ' ';
    if (with_adjective) {
      out_ += adjective;
      out_ += ' ';
    }
    out_ += plural ? noun.plural : noun.singular;
    return plural;
  }

  void verb(const Inflected& verb, bool plural) {
    out_ += ' ';
    out_ += plural ? verb.plural : verb.singular;
  }

  void maybe_place(uint64_t chance_in_ten) {
    if (rng_.uniform_int(10) < chance_in_ten) {
      out_ += ' ';
      out_ += pick(kPlaces);
    }
  }

  void sentence() {
    const uint64_t form = rng_.uniform_int(10);
    if (form == 9) {  // question: the auxiliary agrees, the verb takes its bare form
      const size_t auxiliary = out_.size();
      out_ += "does ";
      const bool plural = noun_phrase();
      if (plural) out_.replace(auxiliary, 4, "do");
      verb(pick(kTransitiveVerbs), true);
      out_ += ' ';
      noun_phrase();
      out_ += '?';
      return;
    }
    const bool plural = noun_phrase();
    if (form < 5) {
      verb(pick(kTransitiveVerbs), plural);
      out_ += ' ';
      noun_phrase();
      maybe_place(3);
    } else if (form < 7) {
      verb(pick(kIntransitiveVerbs), plural);
      maybe_place(6);
    } else if (form == 7) {
      out_ += plural ? " are " : " is ";
      out_ += pick(kAdjectives);
    } else {
      verb(pick(kTransitiveVerbs), plural);
      out_ += ' ';
      noun_phrase();
      out_ += " and";
      verb(pick(kTransitiveVerbs), plural);
      out_ += ' ';
      noun_phrase();
    }
    out_ += '.';
  }

  void counting() {
    const uint64_t step = rng_.uniform_int(4) == 0 ? 2 : 1;
    uint64_t value = rng_.uniform_int(90);
    const uint64_t length = 4 + rng_.uniform_int(5);
    out_ += step == 1 ? "count:" : "count by 2:";
    for (uint64_t i = 0; i < length; ++i, value += step) {
      out_ += ' ';
      out_ += std::to_string(value);
    }
  }

  void sum() {
    const uint64_t a = rng_.uniform_int(50);
    const uint64_t b = rng_.uniform_int(50);
    out_ += std::to_string(a) + "+" + std::to_string(b) + "=" + std::to_string(a + b) + ".";
  }

  void facts() {
    const uint64_t count = 1 + rng_.uniform_int(3);
    out_ += "facts:";
    for (uint64_t i = 0; i < count; ++i) {
      const Fact& fact = pick(kFacts);
      out_ += i == 0 ? " " : "; ";
      out_ += fact.key;
      out_ += '=';
      out_ += fact.value;
    }
  }

  Rng& rng_;
  std::string& out_;
};

}  // namespace

std::string generate_synthetic_corpus(size_t bytes, uint64_t seed) {
  Rng rng(seed);
  std::string text;
  text.reserve(bytes + 256);
  LineWriter writer(rng, text);
  while (text.size() < bytes) writer.line();
  text.resize(bytes);
  return text;
}

}  // namespace loom::data
