// GenModel: the cost of one step of a plan as
//   T = A alpha + B beta + C gamma + D delta + max(w - w_t, 0) B epsilon
// (REFERENCE.md section 5): A messages' latency (1 when the step communicates), B bytes on the
// wire, C bytes reduced, D bytes of memory traffic, w the flows converging on one receiver.
// step_terms() is the one definition of a step's terms, shared by the simulator, the flat model
// below, the fitter and GenTree's own estimate. Memory traffic D counts what the host reads and
// writes besides the wire: k receive-reduces of n bytes into the same chunks of one step are one
// fused pass (k received inputs and the local one read, the result written: (k + 2) n); a copy
// reads and writes (2 n); sends and plain receives are DMA (0).
#pragma once

#include <cstdint>
#include <vector>

#include "topo/collective_plan.h"

namespace loom::topo {

struct GenModelParams {
  double alpha_s = 0.0;             // per message (per step that communicates)
  double beta_s_per_byte = 0.0;     // wire
  double gamma_s_per_byte = 0.0;    // arithmetic of a reduction
  double delta_s_per_byte = 0.0;    // memory traffic
  double epsilon_s_per_byte = 0.0;  // incast penalty per flow over the threshold
  double incast_threshold = 1.0;    // w_t
};

// The terms of one rank's step.
struct StepTerms {
  int64_t messages_in = 0;    // receives (the step's incast degree w)
  int64_t messages_out = 0;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
  int64_t bytes_reduced = 0;  // C
  int64_t memory_bytes = 0;   // D
};

// Terms of the operations [begin, end) of one rank, all of one step.
StepTerms step_terms(const CollectivePlan& plan, const PlanOp* begin, const PlanOp* end);

// The flat model: every rank behind one link of its own to a non-blocking fabric, steps in
// lockstep by index. Per step, each term is its largest value over the ranks: A = 1 if any rank
// communicates, B = max(bytes in, bytes out), C, D, and the incast term max over ranks of
// max(w - w_t, 0) * bytes in. The sums over steps are the plan's features.
struct PlanFeatures {
  double rounds = 0;          // A
  double wire_bytes = 0;      // B
  double reduced_bytes = 0;   // C
  double memory_bytes = 0;    // D
  // Per step: (incast degree, bytes in) of the rank with the largest excess, for any w_t:
  // the incast feature is sum over steps of max over ranks of max(w - w_t, 0) * bytes_in.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> step_receivers;
  double incast_bytes(double threshold_flows) const;
};
PlanFeatures plan_features(const CollectivePlan& plan);
double genmodel_time_s(const PlanFeatures& features, const GenModelParams& params);
// alpha-beta-gamma: the same features without the memory and incast terms.
double alpha_beta_gamma_time_s(const PlanFeatures& features, const GenModelParams& params);

}  // namespace loom::topo
