// Device mesh: grid positions and groups of consecutive and strided TP layouts, the layouts a
// stage uses, and DeviceMesh on threads for a two-stage and a one-stage plan: each group holds
// exactly the expected world ranks (an all-reduce of the world ranks over it sums to theirs).
#include "parallel/mesh.h"

#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <vector>

#include "comm/collectives.h"
#include "comm/thread_transport.h"
#include "core/error.h"

namespace loom::parallel {
namespace {

using comm::Communicator;
using comm::ThreadWorld;

TEST(MeshGrid, ConsecutiveAndStridedPositionsForFourRanksOfTpTwo) {
  const GridLayout consecutive{2, true};
  const GridLayout strided{2, false};
  const int expected_consecutive[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  const int expected_strided[4][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};
  for (int local = 0; local < 4; ++local) {
    const GridPosition c = grid_position(local, 4, consecutive);
    EXPECT_EQ(c.dp, expected_consecutive[local][0]) << local;
    EXPECT_EQ(c.tp, expected_consecutive[local][1]) << local;
    const GridPosition s = grid_position(local, 4, strided);
    EXPECT_EQ(s.dp, expected_strided[local][0]) << local;
    EXPECT_EQ(s.tp, expected_strided[local][1]) << local;
  }
  EXPECT_EQ(tp_group_members(2, 4, consecutive), (std::vector<int>{2, 3}));
  EXPECT_EQ(dp_group_members(2, 4, consecutive), (std::vector<int>{0, 2}));
  EXPECT_EQ(tp_group_members(1, 4, strided), (std::vector<int>{1, 3}));
  EXPECT_EQ(dp_group_members(1, 4, strided), (std::vector<int>{0, 1}));
}

TEST(MeshGrid, PositionsRoundTripAndGroupsPartitionTheStage) {
  for (int n = 1; n <= 12; ++n) {
    for (int tp = 1; tp <= n; ++tp) {
      if (n % tp != 0) continue;
      for (bool consecutive : {true, false}) {
        const GridLayout layout{tp, consecutive};
        SCOPED_TRACE(testing::Message() << "n=" << n << " tp=" << tp << (consecutive ? " consecutive" : " strided"));
        std::vector<int> seen(static_cast<size_t>(n), 0);
        for (int local = 0; local < n; ++local) {
          const GridPosition position = grid_position(local, n, layout);
          EXPECT_EQ(grid_local_index(position, n, layout), local);
          ++seen[static_cast<size_t>(position.dp * tp + position.tp)];
          const std::vector<int> tp_members = tp_group_members(local, n, layout);
          const std::vector<int> dp_members = dp_group_members(local, n, layout);
          ASSERT_EQ(static_cast<int>(tp_members.size()), tp);
          ASSERT_EQ(static_cast<int>(dp_members.size()), n / tp);
          // Group rank order: by tp index in a TP group, by dp index in a DP group.
          EXPECT_EQ(tp_members[static_cast<size_t>(position.tp)], local);
          EXPECT_EQ(dp_members[static_cast<size_t>(position.dp)], local);
          for (int member : tp_members) EXPECT_EQ(grid_position(member, n, layout).dp, position.dp);
          for (int member : dp_members) EXPECT_EQ(grid_position(member, n, layout).tp, position.tp);
        }
        for (int count : seen) EXPECT_EQ(count, 1);
      }
    }
  }
  EXPECT_THROW(grid_position(0, 6, GridLayout{4, true}), InternalError);
  EXPECT_THROW(grid_position(4, 4, GridLayout{2, true}), InternalError);
}

// Layers 0-1 on stage 0 (tp 2 consecutive), 2-3 on stage 1 (tp 1 and tp 2 strided); the embedding
// has tp 1, the head tp 2 consecutive. Stage 0 holds world ranks {2, 0}, stage 1 {1, 3}.
ParallelPlan two_stage_plan() {
  ParallelPlan plan;
  plan.world_size = 4;
  plan.global_batch = 8;
  plan.stages = {StagePlan{0, 2, {2, 0}}, StagePlan{2, 4, {1, 3}}};
  plan.layers = {LayerStrategy{2, true}, LayerStrategy{2, true}, LayerStrategy{1, true}, LayerStrategy{2, false}};
  plan.embedding = VocabStrategy{1, true, 0};
  plan.head = VocabStrategy{2, true, 0};
  return plan;
}

ParallelPlan one_stage_plan() {
  ParallelPlan plan;
  plan.world_size = 4;
  plan.global_batch = 8;
  plan.stages = {StagePlan{0, 3, {0, 1, 2, 3}}};
  plan.layers = {LayerStrategy{1, true}, LayerStrategy{2, true}, LayerStrategy{2, false}};
  plan.embedding = VocabStrategy{2, true, 0};
  plan.head = VocabStrategy{1, false, 0};
  return plan;
}

std::shared_ptr<Communicator> borrow(Communicator& comm) {
  return std::shared_ptr<Communicator>(&comm, [](Communicator*) {});
}

// The sum of the world ranks in `group`, by an all-reduce over it.
float world_rank_sum(Communicator& group, int world_rank) {
  float value = static_cast<float>(world_rank);
  comm::all_reduce(group, &value, 1, DType::f32);
  return value;
}

float expected_sum(const std::vector<int>& locals, const std::vector<int>& stage_ranks) {
  float sum = 0;
  for (int local : locals) sum += static_cast<float>(stage_ranks[static_cast<size_t>(local)]);
  return sum;
}

TEST(DeviceMesh, StageLayoutsCoverLayersEmbeddingAndHead) {
  const ParallelPlan two = two_stage_plan();
  EXPECT_EQ(DeviceMesh::stage_layouts(two, 0), (std::vector<GridLayout>{{1, true}, {2, true}}));
  EXPECT_EQ(DeviceMesh::stage_layouts(two, 1), (std::vector<GridLayout>{{1, true}, {2, false}, {2, true}}));
  const ParallelPlan one = one_stage_plan();
  EXPECT_EQ(DeviceMesh::stage_layouts(one, 0), (std::vector<GridLayout>{{1, false}, {1, true}, {2, false}, {2, true}}));
}

TEST(DeviceMesh, TwoStagePlanOnFourThreads) {
  const ParallelPlan plan = two_stage_plan();
  ThreadWorld::run(4, [&](Communicator& world) {
    DeviceMesh mesh(borrow(world), plan);
    const int me = world.rank();
    const int stage = me == 0 || me == 2 ? 0 : 1;
    const std::vector<int>& ranks = plan.stages[static_cast<size_t>(stage)].ranks;
    EXPECT_EQ(mesh.stage(), stage);
    EXPECT_EQ(mesh.stages(), 2);
    EXPECT_EQ(mesh.stage_size(), 2);
    EXPECT_EQ(ranks[static_cast<size_t>(mesh.local_index())], me);
    // Pipeline partners: same stage-local index.
    EXPECT_EQ(mesh.peer_in_stage(stage), me);
    EXPECT_EQ(mesh.peer_in_stage(1 - stage),
              plan.stages[static_cast<size_t>(1 - stage)].ranks[static_cast<size_t>(mesh.local_index())]);
    EXPECT_THROW(mesh.peer_in_stage(2), InternalError);

    EXPECT_EQ(mesh.stage_group().size(), 2);
    EXPECT_EQ(mesh.stage_group().rank(), mesh.local_index());
    EXPECT_EQ(world_rank_sum(mesh.stage_group(), me), expected_sum({0, 1}, ranks));
    for (const GridLayout& layout : DeviceMesh::stage_layouts(plan, stage)) {
      SCOPED_TRACE(testing::Message() << "stage " << stage << " tp " << layout.tp << " "
                                      << (layout.consecutive ? "consecutive" : "strided"));
      Communicator& tp = mesh.tp_group(layout);
      Communicator& dp = mesh.dp_group(layout);
      EXPECT_EQ(tp.size(), layout.tp);
      EXPECT_EQ(dp.size(), 2 / layout.tp);
      EXPECT_EQ(tp.rank(), mesh.position(layout).tp);
      EXPECT_EQ(dp.rank(), mesh.position(layout).dp);
      EXPECT_EQ(world_rank_sum(tp, me), expected_sum(tp_group_members(mesh.local_index(), 2, layout), ranks));
      EXPECT_EQ(world_rank_sum(dp, me), expected_sum(dp_group_members(mesh.local_index(), 2, layout), ranks));
    }
    if (stage == 0) {
      EXPECT_THROW(mesh.tp_group(GridLayout{4, true}), InternalError);
    }
  });
}

TEST(DeviceMesh, OneStagePlanWithTpOneAndTwoOnFourThreads) {
  const ParallelPlan plan = one_stage_plan();
  ThreadWorld::run(4, [&](Communicator& world) {
    DeviceMesh mesh(borrow(world), plan);
    const int me = world.rank();
    EXPECT_EQ(mesh.stage(), 0);
    EXPECT_EQ(mesh.local_index(), me);
    EXPECT_EQ(mesh.stage_size(), 4);
    EXPECT_EQ(mesh.peer_in_stage(0), me);
    EXPECT_EQ(mesh.stage_group().size(), 4);

    // tp 1: every rank its own TP group, one DP group of all four; strided tp 1 is the same grid.
    EXPECT_EQ(mesh.tp_group(GridLayout{1, true}).size(), 1);
    EXPECT_EQ(world_rank_sum(mesh.dp_group(GridLayout{1, true}), me), 6.0f);
    EXPECT_EQ(&mesh.dp_group(GridLayout{1, false}), &mesh.dp_group(GridLayout{1, true}));

    // tp 2 consecutive: TP groups {0, 1}, {2, 3}; DP groups {0, 2}, {1, 3}.
    const float consecutive_tp[4] = {1, 1, 5, 5};
    const float consecutive_dp[4] = {2, 4, 2, 4};
    EXPECT_EQ(world_rank_sum(mesh.tp_group(GridLayout{2, true}), me), consecutive_tp[me]);
    EXPECT_EQ(world_rank_sum(mesh.dp_group(GridLayout{2, true}), me), consecutive_dp[me]);
    // tp 2 strided: TP groups {0, 2}, {1, 3}; DP groups {0, 1}, {2, 3}.
    EXPECT_EQ(world_rank_sum(mesh.tp_group(GridLayout{2, false}), me), consecutive_dp[me]);
    EXPECT_EQ(world_rank_sum(mesh.dp_group(GridLayout{2, false}), me), consecutive_tp[me]);
    EXPECT_EQ(mesh.tp_group(GridLayout{2, false}).rank(), me / 2);
    EXPECT_EQ(mesh.tp_group(GridLayout{2, true}).rank(), me % 2);
    EXPECT_NE(mesh.tp_group(GridLayout{2, true}).name().find("tp_group"), std::string::npos);

    EXPECT_THROW(mesh.tp_group(GridLayout{4, true}), InternalError);
  });
}

}  // namespace
}  // namespace loom::parallel
