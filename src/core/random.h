// Rng: Loom's one pseudo-random generator (xoshiro256**, seeded through splitmix64).
// Every draw is defined by integer arithmetic alone, so a seed gives the same stream on every
// platform and standard library; the four state words can be saved and restored for checkpoints.
#pragma once

#include <array>
#include <cstdint>

namespace loom {

class Rng {
 public:
  static constexpr int kStateWords = 4;
  using State = std::array<uint64_t, kStateWords>;

  explicit Rng(uint64_t seed = 0);

  uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  // Standard normal by Box-Muller; consumes exactly two next_u64() draws and keeps no cache,
  // so the state words alone describe the generator.
  double normal();
  // Uniform in [0, n) without modulo bias; n >= 1.
  uint64_t uniform_int(uint64_t n);

  State state() const { return state_; }
  // UserError for the all-zero state, which xoshiro can never leave.
  void set_state(const State& state);

 private:
  State state_{};
};

}  // namespace loom
