// Max-min fair rates of flows over shared links, by progressive filling: every unfrozen flow's
// rate grows at the same pace until some link is full; that link's flows freeze at its fair
// share, the capacity they use is taken from the other links of their paths, and filling goes
// on. Links are taken in order of their current share from a heap, so one solve costs about
// (flows x path length + links) log links, whatever the number of bottleneck levels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loom::topo {

// Paths of flows as compressed rows: flow f takes links[begin[route[f]] .. begin[route[f] + 1]).
struct FlowPaths {
  const int32_t* route = nullptr;
  const int32_t* begin = nullptr;
  const int32_t* links = nullptr;
};

class FairShareSolver {
 public:
  FairShareSolver(size_t links, size_t flows);

  // Sets rate[f] for every f in `flows` from capacity[l] (bytes/s) of every link l they use; the
  // flows given must be all the flows on those links. A flow with an empty path gets infinity.
  void solve(const std::vector<int32_t>& flows, const FlowPaths& paths, const std::vector<double>& capacity,
             std::vector<double>& rate);

 private:
  struct Share {
    double rate = 0.0;
    int32_t link = 0;
    uint32_t version = 0;
    bool operator>(const Share& other) const { return rate > other.rate; }
  };
  uint32_t epoch_ = 0;
  std::vector<uint32_t> link_epoch_;
  std::vector<uint32_t> link_version_;
  std::vector<double> remaining_;
  std::vector<int32_t> unfrozen_;
  std::vector<int32_t> local_;  // link -> index among the links of this solve
  std::vector<uint32_t> frozen_epoch_;
  std::vector<int32_t> touched_;
  std::vector<int32_t> link_flow_begin_;
  std::vector<int32_t> link_flows_;
  std::vector<Share> heap_;  // a binary min-heap on rate, kept between solves
};

}  // namespace loom::topo
