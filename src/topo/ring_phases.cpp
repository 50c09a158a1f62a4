// Ring phases: reduce-scatter and all-gather around a list of members (ring_phases.h).
#include "topo/ring_phases.h"

namespace loom::topo {
namespace {

int add_ring_phase(std::vector<Transfer>& out, const std::vector<int>& members, int first_chunk, int chunks_per_part,
                   int step, bool reduce) {
  const int n = int(members.size());
  for (int s = 0; s + 1 < n; ++s) {
    for (int j = 0; j < n; ++j) {
      // Reduce-scatter sends the part it is adding to; all-gather the part it last completed.
      const int part = ((reduce ? j - s : j + 1 - s) % n + n) % n;
      out.push_back({step + s, members[size_t(j)], members[size_t((j + 1) % n)], first_chunk + part * chunks_per_part,
                     chunks_per_part, reduce});
    }
  }
  return n > 1 ? step + n - 1 : step;
}

}  // namespace

int add_ring_reduce_scatter(std::vector<Transfer>& out, const std::vector<int>& members, int first_chunk,
                            int chunks_per_part, int step) {
  return add_ring_phase(out, members, first_chunk, chunks_per_part, step, true);
}

int add_ring_all_gather(std::vector<Transfer>& out, const std::vector<int>& members, int first_chunk,
                        int chunks_per_part, int step) {
  return add_ring_phase(out, members, first_chunk, chunks_per_part, step, false);
}

}  // namespace loom::topo
