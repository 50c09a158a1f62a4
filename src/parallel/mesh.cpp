// The device mesh: grid positions of a stage's ranks under each TP layout, and the TP, DP and
// stage communicators. Every split is collective over the world, so the constructor walks every
// stage and every layout in one order that all ranks derive from the plan alone.
#include "parallel/mesh.h"

#include <fmt/format.h>
#include <algorithm>
#include <set>
#include <string>

#include "core/error.h"

namespace loom::parallel {

namespace {

void check_grid(int stage_size, const GridLayout& layout) {
  LOOM_CHECK(stage_size > 0, "stage of {} ranks", stage_size);
  LOOM_CHECK(layout.tp > 0 && stage_size % layout.tp == 0, "tp {} does not divide a stage of {} ranks", layout.tp,
             stage_size);
}

// Layouts that place every rank identically (tp 1 or tp = n: consecutive and strided coincide)
// share one key, so that they share communicators and either spelling finds them.
GridLayout canonical_layout(const GridLayout& layout, int stage_size) {
  if (layout.tp == 1 || layout.tp == stage_size) return GridLayout{layout.tp, true};
  return layout;
}

std::string layout_name(const GridLayout& layout) {
  return fmt::format("tp{}{}", layout.tp, layout.consecutive ? "c" : "s");
}

}  // namespace

GridPosition grid_position(int local, int stage_size, const GridLayout& layout) {
  check_grid(stage_size, layout);
  LOOM_CHECK(local >= 0 && local < stage_size, "stage-local index {} in a stage of {}", local, stage_size);
  const int replicas = stage_size / layout.tp;
  if (layout.consecutive) return GridPosition{local / layout.tp, local % layout.tp};
  return GridPosition{local % replicas, local / replicas};
}

int grid_local_index(const GridPosition& position, int stage_size, const GridLayout& layout) {
  check_grid(stage_size, layout);
  const int replicas = stage_size / layout.tp;
  LOOM_CHECK(position.dp >= 0 && position.dp < replicas && position.tp >= 0 && position.tp < layout.tp,
             "grid position (dp {}, tp {}) outside a [{} x {}] grid", position.dp, position.tp, replicas, layout.tp);
  if (layout.consecutive) return position.dp * layout.tp + position.tp;
  return position.tp * replicas + position.dp;
}

std::vector<int> tp_group_members(int local, int stage_size, const GridLayout& layout) {
  const GridPosition mine = grid_position(local, stage_size, layout);
  std::vector<int> members;
  for (int k = 0; k < layout.tp; ++k) members.push_back(grid_local_index({mine.dp, k}, stage_size, layout));
  return members;
}

std::vector<int> dp_group_members(int local, int stage_size, const GridLayout& layout) {
  const GridPosition mine = grid_position(local, stage_size, layout);
  std::vector<int> members;
  for (int d = 0; d < stage_size / layout.tp; ++d) {
    members.push_back(grid_local_index({d, mine.tp}, stage_size, layout));
  }
  return members;
}

std::vector<GridLayout> DeviceMesh::stage_layouts(const ParallelPlan& plan, int stage) {
  LOOM_CHECK(stage >= 0 && stage < static_cast<int>(plan.stages.size()), "stage {} of a plan with {} stages", stage,
             plan.stages.size());
  const StagePlan& stage_plan = plan.stages[static_cast<size_t>(stage)];
  std::set<GridLayout> layouts;
  for (int layer = stage_plan.first_layer; layer < stage_plan.last_layer; ++layer) {
    LOOM_CHECK(layer >= 0 && layer < static_cast<int>(plan.layers.size()), "stage {} holds layer {} of {}", stage,
               layer, plan.layers.size());
    const LayerStrategy& strategy = plan.layers[static_cast<size_t>(layer)];
    layouts.insert(GridLayout{strategy.tp, strategy.tp_consecutive});
  }
  if (stage == 0) layouts.insert(GridLayout{plan.embedding.tp, plan.embedding.tp_consecutive});
  if (stage + 1 == static_cast<int>(plan.stages.size())) {
    layouts.insert(GridLayout{plan.head.tp, plan.head.tp_consecutive});
  }
  return {layouts.begin(), layouts.end()};
}

DeviceMesh::DeviceMesh(std::shared_ptr<comm::Communicator> world, const ParallelPlan& plan)
    : world_(std::move(world)), plan_(plan) {
  LOOM_CHECK(world_ != nullptr, "device mesh without a world communicator");
  LOOM_CHECK(!plan_.stages.empty(), "device mesh for a plan without stages");
  const int me = world_->rank();
  stage_ = -1;
  for (size_t s = 0; s < plan_.stages.size(); ++s) {
    const std::vector<int>& ranks = plan_.stages[s].ranks;
    for (int rank : ranks) {
      LOOM_CHECK(rank >= 0 && rank < world_->size(), "stage {} lists rank {} of a world of {}", s, rank,
                 world_->size());
    }
    const auto found = std::find(ranks.begin(), ranks.end(), me);
    if (found != ranks.end()) {
      LOOM_CHECK(stage_ < 0, "rank {} is in stages {} and {}", me, stage_, s);
      stage_ = static_cast<int>(s);
      local_ = static_cast<int>(found - ranks.begin());
      stage_size_ = static_cast<int>(ranks.size());
    }
  }
  LOOM_CHECK(stage_ >= 0, "rank {} is in no stage of the plan", me);

  // Colors must be distinct across all groups of one split; a running counter numbers them.
  int next_color = 0;
  for (int s = 0; s < stages(); ++s) {
    const int n = plan_.stage_size(s);
    const std::vector<int>& ranks = stage_ranks(s);
    const auto mine = std::find(ranks.begin(), ranks.end(), me);
    const int local = mine == ranks.end() ? -1 : static_cast<int>(mine - ranks.begin());
    std::set<GridLayout> done;
    for (const GridLayout& layout : stage_layouts(plan_, s)) {
      check_grid(n, layout);
      const GridLayout key = canonical_layout(layout, n);
      if (!done.insert(key).second) continue;
      const std::string prefix = fmt::format("stage{}.{}", s, layout_name(key));
      const int replicas = n / key.tp;
      const GridPosition position = local >= 0 ? grid_position(local, n, key) : GridPosition{};
      auto tp_group = world_->split(local >= 0 ? next_color + position.dp : -1, position.tp, prefix + ".tp_group");
      next_color += replicas;
      auto dp_group = world_->split(local >= 0 ? next_color + position.tp : -1, position.dp, prefix + ".dp_group");
      next_color += key.tp;
      if (s == stage_) {
        tp_groups_[key] = std::move(tp_group);
        dp_groups_[key] = std::move(dp_group);
      }
    }
  }
  stage_group_ = world_->split(stage_, local_, fmt::format("stage{}.stage_group", stage_));
}

namespace {

comm::Communicator& find_group(std::map<GridLayout, std::shared_ptr<comm::Communicator>>& groups,
                               const GridLayout& layout, int stage_size, int stage, const char* kind) {
  const auto found = groups.find(canonical_layout(layout, stage_size));
  if (found == groups.end()) {
    std::vector<std::string> known;
    for (const auto& [key, group] : groups) known.push_back(layout_name(key));
    throw_check_failure(__FILE__, __LINE__, "layout used on the stage",
                        fmt::format("no {} for layout {} on stage {} (its layouts: {})", kind, layout_name(layout),
                                    stage, fmt::join(known, ", ")));
  }
  return *found->second;
}

}  // namespace

comm::Communicator& DeviceMesh::tp_group(const GridLayout& layout) {
  return find_group(tp_groups_, layout, stage_size_, stage_, "TP group");
}

comm::Communicator& DeviceMesh::dp_group(const GridLayout& layout) {
  return find_group(dp_groups_, layout, stage_size_, stage_, "DP group");
}

comm::Communicator& DeviceMesh::stage_group() {
  return *stage_group_;
}

int DeviceMesh::peer_in_stage(int stage) const {
  LOOM_CHECK(stage >= 0 && stage < stages(), "stage {} of {}", stage, stages());
  const std::vector<int>& ranks = stage_ranks(stage);
  LOOM_CHECK(local_ < static_cast<int>(ranks.size()), "stage {} has {} ranks, no peer for stage-local index {}", stage,
             ranks.size(), local_);
  return ranks[static_cast<size_t>(local_)];
}

}  // namespace loom::parallel
