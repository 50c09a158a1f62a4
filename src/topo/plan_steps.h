// Plan steps: a plan's operations grouped by rank and step, each group with its GenModel terms.
// The flat model (genmodel.cpp) and the simulator walk the same index, so a step's terms are
// computed once per (rank, step) and the chunk offsets once per plan. Defined in genmodel.cpp,
// beside step_terms.
#pragma once

#include <cstdint>
#include <vector>

#include "topo/collective_plan.h"
#include "topo/genmodel.h"

namespace loom::topo {

// The operations [first_op, end_op) of plan.ops[rank] that share one step.
struct StepGroup {
  int32_t rank = 0;
  int32_t step = 0;
  uint32_t first_op = 0;
  uint32_t end_op = 0;
  StepTerms terms;
};

struct PlanStepIndex {
  std::vector<StepGroup> groups;          // rank by rank, each rank's steps in order
  std::vector<int32_t> rank_first_group;  // ranks + 1 entries: rank r owns [r, r + 1)
};

PlanStepIndex index_plan_steps(const CollectivePlan& plan);

// step_terms() with the plan's chunk offsets (CollectivePlan::chunk_offsets) already computed.
StepTerms step_terms_with_offsets(const std::vector<int64_t>& chunk_offsets, const PlanOp* begin, const PlanOp* end);

}  // namespace loom::topo
