// The device mesh: how the ranks of one pipeline stage are arranged for each layer, and the
// communicators of those arrangements. A stage of n ranks runs a layer with TP degree t as a
// [dp = n/t, tp = t] grid: consecutive TP puts stage-local index i at (dp i / t, tp i % t),
// strided TP at (dp i % (n/t), tp i / (n/t)). TP groups hold one replica's shards; DP groups hold
// the same shard in different replicas (gradients are summed over them; ZeRO shards over them).
#pragma once

#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "comm/communicator.h"
#include "parallel/plan.h"

namespace loom::parallel {

struct GridLayout {
  int tp = 1;
  bool consecutive = true;
  bool operator==(const GridLayout&) const = default;
  auto operator<=>(const GridLayout&) const = default;
};

struct GridPosition {
  int dp = 0;  // replica index, 0..n/tp-1
  int tp = 0;  // shard index, 0..tp-1
};

// Stage-local index <-> grid position, and the stage-local members of a rank's groups (in group
// rank order: by tp index for a TP group, by dp index for a DP group).
GridPosition grid_position(int local, int stage_size, const GridLayout& layout);
int grid_local_index(const GridPosition& position, int stage_size, const GridLayout& layout);
std::vector<int> tp_group_members(int local, int stage_size, const GridLayout& layout);
std::vector<int> dp_group_members(int local, int stage_size, const GridLayout& layout);

// This rank's view of the plan: its stage, its index in the stage, and the communicators of every
// layout the stage uses. Built collectively: every world rank constructs it with the same plan
// (communicator splits are collective over the world), before any training.
class DeviceMesh {
 public:
  DeviceMesh(std::shared_ptr<comm::Communicator> world, const ParallelPlan& plan);

  comm::Communicator& world() { return *world_; }
  int stage() const { return stage_; }
  int stages() const { return static_cast<int>(plan_.stages.size()); }
  int local_index() const { return local_; }  // index in the stage's rank list
  int stage_size() const { return stage_size_; }
  const std::vector<int>& stage_ranks(int stage) const { return plan_.stages.at(static_cast<size_t>(stage)).ranks; }
  GridPosition position(const GridLayout& layout) const { return grid_position(local_, stage_size_, layout); }

  // The groups of a layout of my stage (the layout must be one the plan uses on my stage).
  comm::Communicator& tp_group(const GridLayout& layout);
  comm::Communicator& dp_group(const GridLayout& layout);
  comm::Communicator& stage_group();  // all ranks of my stage

  // The world rank at my position in a neighbouring stage (pipeline send/receive partner):
  // the rank with my stage-local index (stages must have equal sizes; the plan validator ensures
  // it for pipelines, see plan.h).
  int peer_in_stage(int stage) const;

  // Every layout the plan uses on `stage` (layers, embedding, head), sorted.
  static std::vector<GridLayout> stage_layouts(const ParallelPlan& plan, int stage);

 private:
  std::shared_ptr<comm::Communicator> world_;
  ParallelPlan plan_;
  int stage_ = 0;
  int local_ = 0;
  int stage_size_ = 1;
  std::map<GridLayout, std::shared_ptr<comm::Communicator>> tp_groups_, dp_groups_;
  std::shared_ptr<comm::Communicator> stage_group_;
};

}  // namespace loom::parallel
