// Flow-level discrete-event simulator: runs a collective plan on a network. Each rank issues its
// steps in order; a send and its matching receive form a flow once both their steps have been
// issued, which starts moving bytes after its path's latency. Flows share every directed link
// max-min fairly; a link into a host that w > w_t flows converge on carries each byte at
// 1 / bandwidth + (w - w_t) epsilon (the incast term). When all of a step's flows are done, the
// rank spends C gamma + D delta (genmodel.h's terms, its host's rates) before its next step. On
// one non-blocking switch it reproduces the closed forms of REFERENCE.md section 5.
#pragma once

#include <cstdint>
#include <vector>

#include "topo/collective_plan.h"
#include "topo/network.h"

namespace loom::topo {

// One step index over all ranks.
struct SimulatedStep {
  int step = 0;
  double start_s = 0.0;  // the first rank to issue it
  double end_s = 0.0;    // the last rank to finish it
  int64_t wire_bytes = 0;      // bytes sent by all ranks in this step
  int64_t reduced_bytes = 0;   // all ranks
  int64_t memory_bytes = 0;    // all ranks
  int max_incast = 0;          // most flows converging on one link into a host at any moment
  double host_s = 0.0;         // longest reduction + memory time of one rank in this step
};

struct SimulationResult {
  double time_s = 0.0;  // when the last rank finishes
  std::vector<SimulatedStep> steps;
  int64_t flows = 0;
  int64_t events = 0;
};

// The plan must be valid (plan_validator.h) and have network.ranks() ranks (UserError otherwise).
SimulationResult simulate_plan(const Network& network, const CollectivePlan& plan);

}  // namespace loom::topo
