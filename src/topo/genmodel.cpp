// GenModel's terms of a step, the flat model's plan features and its time (genmodel.h).
// Memory traffic is counted per chunk: every chunk that k receive-reduces of one step write is
// one fused pass of (k + 2) times its bytes, so identical target ranges group as the model says
// and partial overlaps are charged chunk by chunk.
#include "topo/genmodel.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "topo/plan_steps.h"

namespace loom::topo {

namespace {

// One boundary of a receive-reduce's chunk range in the sweep below.
struct RangeEdge {
  uint8_t buffer = 0;
  int32_t chunk = 0;
  int32_t delta = 0;  // +1 at the first chunk, -1 one past the last
  bool operator<(const RangeEdge& other) const {
    return buffer != other.buffer ? buffer < other.buffer : chunk < other.chunk;
  }
};

// The terms of [begin, end); range_bytes(first, count) gives the bytes of a chunk range.
template <typename RangeBytes>
StepTerms terms_of(const PlanOp* begin, const PlanOp* end, const RangeBytes& range_bytes) {
  StepTerms terms;
  int reduces = 0;
  const PlanOp* only_reduce = nullptr;
  for (const PlanOp* op = begin; op != end; ++op) {
    const int64_t bytes = range_bytes(op->first_chunk, op->chunk_count);
    switch (op->kind) {
      case PlanOpKind::send:
        ++terms.messages_out;
        terms.bytes_out += bytes;
        break;
      case PlanOpKind::recv:
        ++terms.messages_in;
        terms.bytes_in += bytes;
        break;
      case PlanOpKind::recv_reduce:
        ++terms.messages_in;
        terms.bytes_in += bytes;
        terms.bytes_reduced += bytes;
        ++reduces;
        only_reduce = op;
        break;
      case PlanOpKind::copy:
        terms.memory_bytes += 2 * bytes;
        break;
    }
  }
  if (reduces == 1) {
    terms.memory_bytes += 3 * range_bytes(only_reduce->first_chunk, only_reduce->chunk_count);
  } else if (reduces > 1) {
    // Sweep the range boundaries: between two boundaries, k ranges overlap and cost (k + 2) n.
    std::vector<RangeEdge> edges;
    edges.reserve(size_t(2 * reduces));
    for (const PlanOp* op = begin; op != end; ++op) {
      if (op->kind != PlanOpKind::recv_reduce || op->chunk_count <= 0) continue;
      edges.push_back({uint8_t(op->buffer), op->first_chunk, +1});
      edges.push_back({uint8_t(op->buffer), op->first_chunk + op->chunk_count, -1});
    }
    std::sort(edges.begin(), edges.end());
    int depth = 0;
    for (size_t i = 0; i < edges.size(); ++i) {
      if (i > 0 && depth > 0 && edges[i].buffer == edges[i - 1].buffer && edges[i].chunk > edges[i - 1].chunk)
        terms.memory_bytes += int64_t(depth + 2) * range_bytes(edges[i - 1].chunk, edges[i].chunk - edges[i - 1].chunk);
      depth += edges[i].delta;
    }
  }
  return terms;
}

// Adds (w, bytes) to a step's Pareto set: the points that no other point matches or beats in
// both the incast degree and the bytes received (only those can be the step's max for some w_t).
void add_receiver(std::vector<std::pair<int64_t, int64_t>>& front, int64_t flows, int64_t bytes) {
  for (const auto& [w, b] : front)
    if (w >= flows && b >= bytes) return;
  std::erase_if(front, [&](const std::pair<int64_t, int64_t>& p) { return p.first <= flows && p.second <= bytes; });
  front.emplace_back(flows, bytes);
}

}  // namespace

StepTerms step_terms(const CollectivePlan& plan, const PlanOp* begin, const PlanOp* end) {
  return terms_of(begin, end, [&](int first, int count) { return plan.range_bytes(first, count); });
}

StepTerms step_terms_with_offsets(const std::vector<int64_t>& chunk_offsets, const PlanOp* begin, const PlanOp* end) {
  return terms_of(begin, end, [&](int first, int count) {
    return chunk_offsets[size_t(first + count)] - chunk_offsets[size_t(first)];
  });
}

PlanStepIndex index_plan_steps(const CollectivePlan& plan) {
  LOOM_CHECK(int(plan.ops.size()) == plan.ranks, "plan has {} op lists for {} ranks", plan.ops.size(), plan.ranks);
  const std::vector<int64_t> offsets = plan.chunk_offsets();
  PlanStepIndex index;
  size_t groups = 0;  // counted first: plans of millions of steps would otherwise regrow the vector
  for (const std::vector<PlanOp>& ops : plan.ops)
    for (size_t i = 0; i < ops.size(); ++i) groups += (i == 0 || ops[i].step != ops[i - 1].step) ? 1 : 0;
  index.groups.reserve(groups);
  index.rank_first_group.reserve(size_t(plan.ranks) + 1);
  for (int rank = 0; rank < plan.ranks; ++rank) {
    index.rank_first_group.push_back(int32_t(index.groups.size()));
    const std::vector<PlanOp>& ops = plan.ops[size_t(rank)];
    size_t first = 0;
    while (first < ops.size()) {
      size_t end = first + 1;
      while (end < ops.size() && ops[end].step == ops[first].step) ++end;
      StepGroup group;
      group.rank = rank;
      group.step = ops[first].step;
      group.first_op = uint32_t(first);
      group.end_op = uint32_t(end);
      group.terms = step_terms_with_offsets(offsets, ops.data() + first, ops.data() + end);
      index.groups.push_back(group);
      first = end;
    }
  }
  index.rank_first_group.push_back(int32_t(index.groups.size()));
  return index;
}

double PlanFeatures::incast_bytes(double threshold_flows) const {
  double total = 0.0;
  for (const auto& receivers : step_receivers) {
    double largest = 0.0;
    for (const auto& [flows, bytes] : receivers)
      largest = std::max(largest, std::max(double(flows) - threshold_flows, 0.0) * double(bytes));
    total += largest;
  }
  return total;
}

PlanFeatures plan_features(const CollectivePlan& plan) {
  const PlanStepIndex index = index_plan_steps(plan);
  const size_t steps = size_t(std::max(plan.steps(), 0));
  std::vector<uint8_t> communicates(steps, 0);
  std::vector<int64_t> wire(steps, 0), reduced(steps, 0), memory(steps, 0);
  PlanFeatures features;
  features.step_receivers.resize(steps);
  for (const StepGroup& group : index.groups) {
    const size_t s = size_t(group.step);
    const StepTerms& t = group.terms;
    if (t.messages_in + t.messages_out > 0) communicates[s] = 1;
    wire[s] = std::max({wire[s], t.bytes_in, t.bytes_out});
    reduced[s] = std::max(reduced[s], t.bytes_reduced);
    memory[s] = std::max(memory[s], t.memory_bytes);
    if (t.messages_in > 0) add_receiver(features.step_receivers[s], t.messages_in, t.bytes_in);
  }
  for (size_t s = 0; s < steps; ++s) {
    features.rounds += communicates[s];
    features.wire_bytes += double(wire[s]);
    features.reduced_bytes += double(reduced[s]);
    features.memory_bytes += double(memory[s]);
    std::sort(features.step_receivers[s].begin(), features.step_receivers[s].end());
  }
  return features;
}

double alpha_beta_gamma_time_s(const PlanFeatures& features, const GenModelParams& params) {
  return features.rounds * params.alpha_s + features.wire_bytes * params.beta_s_per_byte +
         features.reduced_bytes * params.gamma_s_per_byte;
}

double genmodel_time_s(const PlanFeatures& features, const GenModelParams& params) {
  return alpha_beta_gamma_time_s(features, params) + features.memory_bytes * params.delta_s_per_byte +
         features.incast_bytes(params.incast_threshold) * params.epsilon_s_per_byte;
}

}  // namespace loom::topo
