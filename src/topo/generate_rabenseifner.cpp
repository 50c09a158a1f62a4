// Rabenseifner: a recursive-halving reduce-scatter (each step a rank keeps half of its range,
// sends the other half to its partner and adds in the partner's half of its own, partners at
// distance core / 2 first) then the mirror-image recursive-doubling all-gather. With the core
// of 2^k ranks cut into 2^k chunks, rank r ends the reduce-scatter owning chunk r. Rank counts
// that are not powers of two fold their extras in first (power_of_two_fold.h).
#include "topo/generators.h"
#include "topo/plan_builder.h"
#include "topo/power_of_two_fold.h"

namespace loom::topo {

CollectivePlan generate_rabenseifner(int ranks, int64_t bytes, int element_bytes) {
  const PowerOfTwoFold fold = power_of_two_fold(ranks);
  const int core = fold.core;
  CollectivePlan plan = start_plan("rabenseifner", ranks, bytes, core, element_bytes);
  std::vector<Transfer> transfers;
  int step = add_fold_in(transfers, fold, 0, core, 0);
  // Each core rank's range [first[r], first[r] + length) of chunks it is responsible for.
  std::vector<int> first(size_t(core), 0);
  int length = core;
  for (int distance = core / 2; distance >= 1; distance /= 2, ++step) {
    length /= 2;
    for (int rank = 0; rank < core; ++rank) {
      const bool upper = (rank & distance) != 0;
      const int give = upper ? first[size_t(rank)] : first[size_t(rank)] + length;
      transfers.push_back({step, rank, rank ^ distance, give, length, true});
    }
    for (int rank = 0; rank < core; ++rank)
      if ((rank & distance) != 0) first[size_t(rank)] += length;
  }
  for (int distance = 1; distance < core; distance *= 2, ++step) {
    for (int rank = 0; rank < core; ++rank)
      transfers.push_back({step, rank, rank ^ distance, first[size_t(rank)], length, false});
    // Partners own adjacent ranges at this distance, the upper one's right after the lower's.
    for (int rank = 0; rank < core; ++rank)
      if ((rank & distance) != 0) first[size_t(rank)] -= length;
    length *= 2;
  }
  add_fold_out(transfers, fold, 0, core, step);
  append_transfers(plan, std::move(transfers));
  return plan;
}

}  // namespace loom::topo
