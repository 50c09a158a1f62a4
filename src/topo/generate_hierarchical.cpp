// Hierarchical all-reduce over two levels of the network: the inner groups are the clusters of
// the lowest hierarchy level that puts more than one rank together (a host's devices, else a
// leaf's hosts). With g ranks per group and G groups the buffer is cut into g parts of G chunks:
// a ring reduce-scatter inside every group leaves the member with inner index j owning part
// (j + 1) mod g; the members with the same inner index all-reduce that part by a ring across the
// groups; a ring all-gather inside every group spreads the parts. 2(g - 1) + 2(G - 1) steps.
#include <algorithm>

#include "core/error.h"
#include "topo/generators.h"
#include "topo/plan_builder.h"
#include "topo/ring_phases.h"

namespace loom::topo {

CollectivePlan generate_hierarchical(const Network& network, int64_t bytes, int element_bytes) {
  const int ranks = network.ranks();
  if (ranks > 1 && !network.regular())
    throw_user_error(
        "[hierarchical] topology {} is not regular (valid: every host the same number of devices and "
        "every switch the same number of children, ranks of a group consecutive)",
        network.topology().name);
  // The inner level: the lowest whose clusters hold more than one rank.
  const HierarchyLevel* inner = nullptr;
  for (const HierarchyLevel& level : network.hierarchy())
    if (level.clusters < ranks) {
      inner = &level;
      break;
    }
  std::vector<std::vector<int>> groups;
  if (inner == nullptr || ranks == 1) {
    groups.assign(1, {});
    for (int r = 0; r < ranks; ++r) groups[0].push_back(r);
  } else {
    groups.resize(size_t(inner->clusters));
    for (int r = 0; r < ranks; ++r) groups[size_t(inner->cluster_of_rank[size_t(r)])].push_back(r);
  }
  const int group_count = int(groups.size());
  const int group_size = int(groups[0].size());
  for (const auto& group : groups)
    if (int(group.size()) != group_size)
      throw_user_error("[hierarchical] topology {}: groups of {} and {} ranks (valid: equal groups)",
                       network.topology().name, group_size, group.size());

  CollectivePlan plan = start_plan("hierarchical", ranks, bytes, group_size * group_count, element_bytes);
  plan.topology = network.topology().name;
  std::vector<Transfer> transfers;
  int step = 0;
  for (const auto& group : groups) step = add_ring_reduce_scatter(transfers, group, 0, group_count, 0);
  int after_across = step;
  for (int j = 0; j < group_size; ++j) {
    std::vector<int> across;
    for (const auto& group : groups) across.push_back(group[size_t(j)]);
    const int part = (j + 1) % group_size;
    const int middle = add_ring_reduce_scatter(transfers, across, part * group_count, 1, step);
    after_across = add_ring_all_gather(transfers, across, part * group_count, 1, middle);
  }
  for (const auto& group : groups) add_ring_all_gather(transfers, group, 0, group_count, after_across);
  append_transfers(plan, std::move(transfers));
  return plan;
}

}  // namespace loom::topo
