// GenTree's plan: the chosen digits written out as operations. The buffer is cut into as many
// chunks as the split digits (and rings) multiply to; every digit that splits leaves each rank
// one contiguous part of its range, so ranges stay contiguous chunk runs all the way down.
#include "topo/gentree.h"

#include <fmt/format.h>

#include "core/error.h"
#include "topo/gentree_search.h"
#include "topo/simulator.h"

namespace loom::topo {

std::string gentree_mode_name(GenTreeMode mode) {
  switch (mode) {
    case GenTreeMode::split:
      return "split";
    case GenTreeMode::whole:
      return "whole";
    case GenTreeMode::ring:
      return "ring";
  }
  return "?";
}

std::string describe_gentree_strategy(const GenTreeStrategy& strategy) {
  std::string text;
  for (const GenTreeDigit& digit : strategy.digits) {
    if (!text.empty()) text += " ";
    text += fmt::format("{}({})@{}", gentree_mode_name(digit.mode), digit.fan_in, digit.stride);
  }
  return text.empty() ? "none" : text;
}

namespace {

bool splits(const GenTreeDigit& digit) {
  return digit.mode != GenTreeMode::whole;
}

// The chunk run a rank works on.
struct ChunkRange {
  int first = 0;
  int count = 0;
  ChunkRange part(int index, int parts) const { return {first + index * (count / parts), count / parts}; }
};

class PlanWriter {
 public:
  PlanWriter(CollectivePlan& plan) : plan_(plan) {}
  void op(int rank, PlanOpKind kind, int step, int peer, ChunkRange range) {
    PlanOp op;
    op.kind = kind;
    op.step = step;
    op.peer = peer;
    op.first_chunk = range.first;
    op.chunk_count = range.count;
    plan_.ops[rank].push_back(op);
  }

 private:
  CollectivePlan& plan_;
};

// Index of `rank` within its digit, and the rank holding index `index` of the same group.
int digit_index(int rank, const GenTreeDigit& digit) {
  return (rank / digit.stride) % digit.fan_in;
}
int digit_peer(int rank, const GenTreeDigit& digit, int index) {
  return rank + (index - digit_index(rank, digit)) * digit.stride;
}

// Reduce-scatter (or all-reduce, for `whole`) of one digit; returns the next free step.
int write_reduce(PlanWriter& out, const GenTreeDigit& digit, int ranks, std::vector<ChunkRange>& range, int step) {
  const int f = digit.fan_in;
  if (digit.mode == GenTreeMode::ring) {
    for (int k = 0; k + 1 < f; ++k) {
      for (int rank = 0; rank < ranks; ++rank) {
        const int m = digit_index(rank, digit);
        const int next = digit_peer(rank, digit, (m + 1) % f);
        const int previous = digit_peer(rank, digit, (m + f - 1) % f);
        out.op(rank, PlanOpKind::send, step + k, next, range[rank].part(((m - k - 1) % f + 2 * f) % f, f));
        out.op(rank, PlanOpKind::recv_reduce, step + k, previous, range[rank].part(((m - k - 2) % f + 2 * f) % f, f));
      }
    }
    for (int rank = 0; rank < ranks; ++rank) range[rank] = range[rank].part(digit_index(rank, digit), f);
    return step + f - 1;
  }
  for (int rank = 0; rank < ranks; ++rank) {
    const int m = digit_index(rank, digit);
    for (int u = 0; u < f; ++u) {
      if (u == m) continue;
      const ChunkRange sent = digit.mode == GenTreeMode::split ? range[rank].part(u, f) : range[rank];
      out.op(rank, PlanOpKind::send, step, digit_peer(rank, digit, u), sent);
    }
    const ChunkRange kept = digit.mode == GenTreeMode::split ? range[rank].part(m, f) : range[rank];
    for (int u = 0; u < f; ++u)
      if (u != m) out.op(rank, PlanOpKind::recv_reduce, step, digit_peer(rank, digit, u), kept);
  }
  if (digit.mode == GenTreeMode::split)
    for (int rank = 0; rank < ranks; ++rank) range[rank] = range[rank].part(digit_index(rank, digit), f);
  return step + 1;
}

// All-gather mirroring a split or ring digit: `range` holds each rank's part and becomes the
// range the digit started from. Returns the next free step.
int write_gather(PlanWriter& out, const GenTreeDigit& digit, int ranks, std::vector<ChunkRange>& range, int step) {
  const int f = digit.fan_in;
  std::vector<ChunkRange> whole(ranks);
  for (int rank = 0; rank < ranks; ++rank) {
    const int m = digit_index(rank, digit);
    whole[rank] = {range[rank].first - m * range[rank].count, range[rank].count * f};
  }
  if (digit.mode == GenTreeMode::ring) {
    for (int k = 0; k + 1 < f; ++k) {
      for (int rank = 0; rank < ranks; ++rank) {
        const int m = digit_index(rank, digit);
        const int next = digit_peer(rank, digit, (m + 1) % f);
        const int previous = digit_peer(rank, digit, (m + f - 1) % f);
        out.op(rank, PlanOpKind::send, step + k, next, whole[rank].part(((m - k) % f + f) % f, f));
        out.op(rank, PlanOpKind::recv, step + k, previous, whole[rank].part(((m - k - 1) % f + 2 * f) % f, f));
      }
    }
    range = whole;
    return step + f - 1;
  }
  for (int rank = 0; rank < ranks; ++rank) {
    const int m = digit_index(rank, digit);
    for (int u = 0; u < f; ++u)
      if (u != m) out.op(rank, PlanOpKind::send, step, digit_peer(rank, digit, u), range[rank]);
    for (int u = 0; u < f; ++u)
      if (u != m) out.op(rank, PlanOpKind::recv, step, digit_peer(rank, digit, u), whole[rank].part(u, f));
  }
  range = whole;
  return step + 1;
}

}  // namespace

CollectivePlan gentree_plan(const GenTreeStrategy& strategy, int ranks, int64_t bytes, int element_bytes) {
  int64_t product = 1;
  int chunks = 1;
  for (const GenTreeDigit& digit : strategy.digits) {
    if (digit.fan_in < 2 || digit.stride != product)
      throw_user_error("gentree: digit {} (fan-in {}, stride {}) must have fan-in >= 2 and stride {}",
                       describe_gentree_strategy(strategy), digit.fan_in, digit.stride, product);
    product *= digit.fan_in;
    if (splits(digit)) chunks *= digit.fan_in;
  }
  if (product != ranks)
    throw_user_error("gentree: strategy {} covers {} ranks, not {}", describe_gentree_strategy(strategy), product,
                     ranks);
  CollectivePlan plan;
  plan.algorithm = "gentree";
  plan.ranks = ranks;
  plan.element_bytes = element_bytes;
  plan.chunk_bytes = even_chunks(bytes, chunks, element_bytes);
  plan.ops.resize(ranks);
  PlanWriter out(plan);
  std::vector<ChunkRange> range(ranks, ChunkRange{0, chunks});
  int step = 0;
  for (const GenTreeDigit& digit : strategy.digits) step = write_reduce(out, digit, ranks, range, step);
  for (auto digit = strategy.digits.rbegin(); digit != strategy.digits.rend(); ++digit)
    if (splits(*digit)) step = write_gather(out, *digit, ranks, range, step);
  return plan;
}

CollectivePlan generate_gentree(const Network& network, int64_t bytes, int element_bytes, GenTreeChoice* choice) {
  const int ranks = network.ranks();
  if (ranks == 1) {
    CollectivePlan plan = gentree_plan(GenTreeStrategy{}, 1, bytes, element_bytes);
    plan.topology = network.topology().name;
    if (choice) *choice = GenTreeChoice{};
    return plan;
  }
  GenTreeSearchResult search = search_gentree(network, bytes, element_bytes, kGenTreeFinalists);
  // The finalists by the estimate, each simulated: the fastest wins (ties: the estimate's order).
  size_t best = 0;
  std::vector<CollectivePlan> plans;
  for (size_t i = 0; i < search.best.size(); ++i) {
    plans.push_back(gentree_plan(search.best[i], ranks, bytes, element_bytes));
    search.best[i].simulated_s = simulate_plan(network, plans.back()).time_s;
    if (search.best[i].simulated_s < search.best[best].simulated_s) best = i;
  }
  if (choice) {
    choice->chosen = search.best[best];
    choice->finalists = search.best;
    choice->strategies_priced = search.strategies_priced;
  }
  CollectivePlan plan = std::move(plans[best]);
  plan.topology = network.topology().name;
  return plan;
}

}  // namespace loom::topo
