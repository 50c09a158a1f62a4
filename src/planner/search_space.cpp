#include "planner/search_space.h"

#include <algorithm>
#include <numeric>

namespace loom::planner::detail {

using parallel::LayerStrategy;
using parallel::VocabStrategy;

std::vector<int> divisors_of(int n, int limit) {
  std::vector<int> list;
  for (int d = 1; d <= std::min(n, limit); ++d)
    if (n % d == 0) list.push_back(d);
  return list;
}

StageContext stage_context(int stage, int stage_size, double micro_batch_samples, int micro_batches) {
  StageContext context;
  context.ranks.resize(size_t(stage_size));
  std::iota(context.ranks.begin(), context.ranks.end(), stage * stage_size);
  context.micro_batch_samples = micro_batch_samples;
  context.micro_batches = micro_batches;
  return context;
}

namespace {

// Drops options dominated by another of the same layout in every term (ties: the earlier stays).
void drop_dominated(std::vector<Option>& options) {
  std::vector<Option> kept;
  for (size_t i = 0; i < options.size(); ++i) {
    const Option& a = options[i];
    bool dominated = false;
    for (size_t j = 0; j < options.size() && !dominated; ++j) {
      if (i == j) continue;
      const Option& b = options[j];
      if (b.layout != a.layout) continue;
      const bool no_worse = b.time_s <= a.time_s && b.extra_s <= a.extra_s && b.state_bytes <= a.state_bytes &&
                            b.kept_bytes <= a.kept_bytes && b.transient_bytes <= a.transient_bytes;
      const bool equal = b.time_s == a.time_s && b.extra_s == a.extra_s && b.state_bytes == a.state_bytes &&
                         b.kept_bytes == a.kept_bytes && b.transient_bytes == a.transient_bytes;
      dominated = no_worse && (!equal || j < i);
    }
    if (!dominated) kept.push_back(a);
  }
  options = std::move(kept);
}

}  // namespace

Shape build_shape(const CostInputs& inputs, const SearchOptions& options, int world, int pipeline, int64_t batch,
                  int micro_batches, int64_t& strategies_costed) {
  Shape shape;
  const ModelSpec& model = inputs.model;
  const int n = world / pipeline;
  shape.stage_size = n;
  shape.micro_batch_samples = double(batch) / double(micro_batches);
  const int64_t micro_batch = batch / micro_batches;
  const StageContext stage = stage_context(0, n, shape.micro_batch_samples, micro_batches);
  const int max_tp = options.max_tp > 0 ? options.max_tp : std::max(1, inputs.cluster.devices_per_node);
  std::vector<LayerStrategy> layouts;
  for (int t : divisors_of(n, max_tp)) {
    if (model.heads % t != 0 || model.kv_heads % t != 0 || model.ffn_hidden % t != 0) continue;
    const int replicas = n / t;
    if (micro_batch % replicas != 0) continue;  // every replica computes whole samples
    for (int consecutive = 1; consecutive >= 0; --consecutive) {
      if (!consecutive && (t == 1 || t == n)) continue;  // the same groups either way
      for (int sp = 0; sp <= 1; ++sp) {
        if (sp && (t == 1 || !options.sequence_parallel || inputs.training.seq % t != 0)) continue;
        LayerStrategy layout;
        layout.tp = t;
        layout.tp_consecutive = consecutive == 1;
        layout.sequence_parallel = sp == 1;
        layouts.push_back(layout);
      }
    }
  }
  for (size_t l = 0; l < layouts.size(); ++l) {
    const int d = n / layouts[l].tp;
    for (int sharding = 0; sharding <= (d > 1 ? options.max_sharding : 0); ++sharding) {
      for (int recompute = 0; recompute <= (options.recompute ? 1 : 0); ++recompute) {
        Option option;
        option.strategy = layouts[l];
        option.strategy.sharding = sharding;
        option.strategy.recompute = recompute == 1;
        option.layout = int(l);
        const LayerCost cost = layer_cost(inputs, stage, option.strategy);
        ++strategies_costed;
        option.time_s = cost.forward_s + cost.backward_s;
        option.extra_s = cost.grad_exposed_s + cost.update_s;
        option.state_bytes = cost.state_bytes();
        option.kept_bytes = cost.kept_bytes;
        option.transient_bytes = cost.transient_bytes;
        shape.options.push_back(option);
      }
    }
  }
  drop_dominated(shape.options);
  shape.reshard.assign(layouts.size(), std::vector<double>(layouts.size(), 0.0));
  shape.reshard_kept = shape.reshard;
  for (size_t a = 0; a < layouts.size(); ++a) {
    for (size_t b = 0; b < layouts.size(); ++b) {
      shape.reshard[a][b] = reshard_s(inputs, stage, layouts[a], layouts[b]);
      shape.reshard_kept[a][b] = reshard_kept_bytes(inputs, stage, layouts[a], layouts[b]);
    }
  }

  // The embedding and the head: vocabulary TP inside the stage, any sharding.
  const StageContext last = stage_context(pipeline - 1, n, shape.micro_batch_samples, micro_batches);
  for (int v : divisors_of(n, max_tp)) {
    if (micro_batch % (n / v) != 0) continue;
    for (int consecutive = 1; consecutive >= 0; --consecutive) {
      if (!consecutive && (v == 1 || v == n)) continue;
      for (int sharding = 0; sharding <= (n / v > 1 ? options.max_sharding : 0); ++sharding) {
        VocabStrategy vocab{v, consecutive == 1, sharding};
        auto add = [&](const LayerCost& cost, std::vector<VocabOption>& list) {
          list.push_back({vocab, cost.forward_s + cost.backward_s, cost.grad_exposed_s + cost.update_s,
                          cost.state_bytes(), cost.kept_bytes, cost.transient_bytes});
        };
        // The first piece's reduction hides behind nothing (evaluate_plan adds its whole time).
        LayerCost embedding = embedding_cost(inputs, stage, vocab);
        embedding.grad_exposed_s = embedding.grad_comm_s;
        add(embedding, shape.embeddings);
        const bool holds_table = !model.tie_embeddings || pipeline > 1;
        LayerCost head = head_cost(inputs, last, vocab, holds_table);
        add(head, shape.heads);
        strategies_costed += 2;
      }
    }
  }
  return shape;
}

}  // namespace loom::planner::detail
