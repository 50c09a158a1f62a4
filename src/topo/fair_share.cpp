// Progressive filling (fair_share.h).
#include "topo/fair_share.h"

#include <algorithm>
#include <functional>
#include <limits>

namespace loom::topo {

FairShareSolver::FairShareSolver(size_t links, size_t flows)
    : link_epoch_(links, 0),
      link_version_(links, 0),
      remaining_(links, 0.0),
      unfrozen_(links, 0),
      local_(links, 0),
      frozen_epoch_(flows, 0) {}

void FairShareSolver::solve(const std::vector<int32_t>& flows, const FlowPaths& paths,
                            const std::vector<double>& capacity, std::vector<double>& rate) {
  ++epoch_;
  touched_.clear();
  for (int32_t f : flows) {
    const int32_t route = paths.route[f];
    if (paths.begin[route] == paths.begin[route + 1]) rate[size_t(f)] = std::numeric_limits<double>::infinity();
    for (int32_t i = paths.begin[route]; i < paths.begin[route + 1]; ++i) {
      const int32_t l = paths.links[i];
      if (link_epoch_[size_t(l)] != epoch_) {
        link_epoch_[size_t(l)] = epoch_;
        remaining_[size_t(l)] = capacity[size_t(l)];
        unfrozen_[size_t(l)] = 0;
        local_[size_t(l)] = int32_t(touched_.size());
        touched_.push_back(l);
      }
      ++unfrozen_[size_t(l)];
    }
  }
  // The flows of each link, as compressed rows in the order of touched_.
  link_flow_begin_.assign(touched_.size() + 1, 0);
  for (size_t i = 0; i < touched_.size(); ++i)
    link_flow_begin_[i + 1] = link_flow_begin_[i] + unfrozen_[size_t(touched_[i])];
  link_flows_.resize(size_t(link_flow_begin_.back()));
  // Fill each row from its end, counting unfrozen_ back down to zero; it is restored below.
  for (int32_t f : flows) {
    const int32_t route = paths.route[f];
    for (int32_t i = paths.begin[route]; i < paths.begin[route + 1]; ++i) {
      const int32_t l = paths.links[i];
      const int32_t row = local_[size_t(l)];
      link_flows_[size_t(link_flow_begin_[size_t(row)] + (--unfrozen_[size_t(l)]))] = f;
    }
  }
  std::vector<Share>& heap = heap_;
  heap.clear();
  const auto push = [&heap](const Share& share) {
    heap.push_back(share);
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (int32_t l : touched_) {
    const int32_t row = local_[size_t(l)];
    unfrozen_[size_t(l)] = link_flow_begin_[size_t(row) + 1] - link_flow_begin_[size_t(row)];
    push({remaining_[size_t(l)] / unfrozen_[size_t(l)], l, ++link_version_[size_t(l)]});
  }
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const Share top = heap.back();
    heap.pop_back();
    const size_t l = size_t(top.link);
    if (top.version != link_version_[l] || unfrozen_[l] == 0) continue;
    const double share = std::max(remaining_[l], 0.0) / unfrozen_[l];
    const int32_t row = local_[l];
    for (int32_t j = link_flow_begin_[size_t(row)]; j < link_flow_begin_[size_t(row) + 1]; ++j) {
      const int32_t f = link_flows_[size_t(j)];
      if (frozen_epoch_[size_t(f)] == epoch_) continue;
      frozen_epoch_[size_t(f)] = epoch_;
      rate[size_t(f)] = share;
      const int32_t route = paths.route[f];
      for (int32_t i = paths.begin[route]; i < paths.begin[route + 1]; ++i) {
        const size_t other = size_t(paths.links[i]);
        remaining_[other] -= share;
        --unfrozen_[other];
        if (other != l && unfrozen_[other] > 0)
          push({std::max(remaining_[other], 0.0) / unfrozen_[other], int32_t(other), ++link_version_[other]});
      }
    }
  }
}

}  // namespace loom::topo
