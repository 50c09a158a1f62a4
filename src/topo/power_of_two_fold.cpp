// Power-of-two fold: extras fold into the core before, and get the result back after.
#include "topo/power_of_two_fold.h"

namespace loom::topo {

PowerOfTwoFold power_of_two_fold(int ranks) {
  PowerOfTwoFold fold;
  fold.ranks = ranks;
  while (fold.core * 2 <= ranks) fold.core *= 2;
  return fold;
}

int add_fold_in(std::vector<Transfer>& out, const PowerOfTwoFold& fold, int first_chunk, int chunk_count, int step) {
  for (int i = 0; i < fold.extras(); ++i) out.push_back({step, fold.core + i, i, first_chunk, chunk_count, true});
  return fold.extras() > 0 ? step + 1 : step;
}

int add_fold_out(std::vector<Transfer>& out, const PowerOfTwoFold& fold, int first_chunk, int chunk_count, int step) {
  for (int i = 0; i < fold.extras(); ++i) out.push_back({step, i, fold.core + i, first_chunk, chunk_count, false});
  return fold.extras() > 0 ? step + 1 : step;
}

}  // namespace loom::topo
