// Power-of-two fold: how recursive doubling and Rabenseifner run on a rank count that is not a
// power of two. The core is the largest power of two <= ranks; each extra rank core + i first
// adds its whole vector into rank i (one step), the core runs the power-of-two algorithm, and
// rank i sends the result back (one step). Two extra steps, the extras idle in between.
#pragma once

#include <vector>

#include "topo/plan_builder.h"

namespace loom::topo {

struct PowerOfTwoFold {
  int ranks = 1;
  int core = 1;  // the largest power of two <= ranks
  int extras() const { return ranks - core; }
};

PowerOfTwoFold power_of_two_fold(int ranks);

// Extras add chunks [first_chunk, + chunk_count) into their partners; returns the next step
// (`step` itself when there are no extras).
int add_fold_in(std::vector<Transfer>& out, const PowerOfTwoFold& fold, int first_chunk, int chunk_count, int step);
// Partners send the same chunks back to their extras.
int add_fold_out(std::vector<Transfer>& out, const PowerOfTwoFold& fold, int first_chunk, int chunk_count, int step);

}  // namespace loom::topo
