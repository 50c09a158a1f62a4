// Placements: shard/unshard round trips on every dimension (with segments), the classification of
// activation moves, and reshard on four threads: the forward gives every rank exactly its target
// part of an activation whose values encode (batch, position, channel), and the backward moves a
// gradient from the target layout back to exactly the source layout's part.
#include "parallel/placement.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "autograd/tape.h"
#include "comm/thread_transport.h"
#include "core/error.h"

namespace loom::parallel {
namespace {

using autograd::Var;
using comm::Communicator;
using comm::ThreadWorld;

Tensor arange(const Shape& shape) {
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  return Tensor::from_vector(values, shape);
}

TEST(Placement, Describe) {
  EXPECT_EQ(Placement::replicate().describe(), "Replicate");
  EXPECT_EQ(Placement::partial().describe(), "Partial");
  EXPECT_EQ(Placement::shard(0).describe(), "Shard(0)");
  EXPECT_EQ(Placement::shard(0, {256, 256, 256}).describe(), "Shard(0, segments 256+256+256)");
}

TEST(Placement, ShardAndUnshardRoundTripOnEveryDimension) {
  const Shape shape{6, 4, 2};
  const Tensor full = arange(shape);
  for (int dim = 0; dim < 3; ++dim) {
    for (int count : {1, 2}) {
      SCOPED_TRACE(testing::Message() << "dim " << dim << " count " << count);
      const Placement placement = Placement::shard(dim);
      Shape expected_shape = shape;
      expected_shape[static_cast<size_t>(dim)] /= count;
      EXPECT_EQ(shard_shape(shape, placement, count), expected_shape);
      std::vector<Tensor> shards;
      for (int index = 0; index < count; ++index) {
        Tensor shard = shard_tensor(full, placement, index, count);
        ASSERT_EQ(shard.shape(), expected_shape);
        EXPECT_TRUE(shard.is_contiguous());
        // Element (i, j, k) of the shard is the full tensor's with dim offset by index * extent.
        const std::vector<float> values = shard.to_vector();
        size_t position = 0;
        for (int64_t i = 0; i < expected_shape[0]; ++i) {
          for (int64_t j = 0; j < expected_shape[1]; ++j) {
            for (int64_t k = 0; k < expected_shape[2]; ++k) {
              int64_t index3[3] = {i, j, k};
              index3[dim] += index * expected_shape[static_cast<size_t>(dim)];
              EXPECT_EQ(values[position++], static_cast<float>((index3[0] * 4 + index3[1]) * 2 + index3[2]));
            }
          }
        }
        shards.push_back(shard);
      }
      EXPECT_EQ(unshard_tensor(shards, placement).to_vector(), full.to_vector());
    }
  }
  // Three shards of dim 0, and a non-contiguous source (a transpose).
  const Placement rows = Placement::shard(0);
  std::vector<Tensor> thirds;
  for (int index = 0; index < 3; ++index) thirds.push_back(shard_tensor(full, rows, index, 3));
  EXPECT_EQ(unshard_tensor(thirds, rows).to_vector(), full.to_vector());
  const Tensor transposed = full.transpose(0, 1);  // [4, 6, 2]
  const Tensor half = shard_tensor(transposed, Placement::shard(1), 1, 2);
  EXPECT_EQ(half.to_vector(), transposed.slice(1, 3, 6).contiguous().to_vector());
}

TEST(Placement, SegmentsSplitEachSegmentSeparately) {
  // A fused QKV-like weight: rows q0..q3, k0..k3, v0..v3; shard i of 2 holds rows of every segment.
  const Tensor full = arange({12, 3});
  const Placement placement = Placement::shard(0, {4, 4, 4});
  const Tensor first = shard_tensor(full, placement, 0, 2);
  const Tensor second = shard_tensor(full, placement, 1, 2);
  ASSERT_EQ(first.shape(), (Shape{6, 3}));
  std::vector<float> expected_first, expected_second;
  for (int row : {0, 1, 4, 5, 8, 9}) {
    for (int c = 0; c < 3; ++c) expected_first.push_back(static_cast<float>(row * 3 + c));
  }
  for (int row : {2, 3, 6, 7, 10, 11}) {
    for (int c = 0; c < 3; ++c) expected_second.push_back(static_cast<float>(row * 3 + c));
  }
  EXPECT_EQ(first.to_vector(), expected_first);
  EXPECT_EQ(second.to_vector(), expected_second);
  EXPECT_EQ(unshard_tensor({first, second}, placement).to_vector(), full.to_vector());

  // Unequal segments on the last dimension, four shards.
  const Tensor wide = arange({2, 12});
  const Placement columns = Placement::shard(1, {8, 4});
  std::vector<Tensor> quarters;
  for (int index = 0; index < 4; ++index) quarters.push_back(shard_tensor(wide, columns, index, 4));
  EXPECT_EQ(quarters[3].to_vector(), (std::vector<float>{6, 7, 11, 18, 19, 23}));
  EXPECT_EQ(unshard_tensor(quarters, columns).to_vector(), wide.to_vector());
}

TEST(Placement, ReplicateCopiesAndBadSplitsAreRefused) {
  const Tensor full = arange({4, 3});
  const Tensor copy = shard_tensor(full, Placement::replicate(), 1, 2);
  EXPECT_EQ(copy.to_vector(), full.to_vector());
  EXPECT_NE(copy.raw_data(), full.raw_data());
  EXPECT_EQ(unshard_tensor({copy, copy}, Placement::replicate()).to_vector(), full.to_vector());
  EXPECT_THROW(shard_tensor(full, Placement::shard(1), 0, 2), InternalError);             // 3 rows by 2
  EXPECT_THROW(shard_tensor(full, Placement::shard(0, {2, 1, 1}), 0, 2), InternalError);  // 1 by 2
  EXPECT_THROW(shard_tensor(full, Placement::shard(0, {2, 4}), 0, 2), InternalError);     // sum 6, not 4
  EXPECT_THROW(shard_tensor(full, Placement::shard(2), 0, 1), InternalError);
  EXPECT_THROW(shard_tensor(full, Placement::partial(), 0, 2), InternalError);
}

// The activation layouts of the reshard cases (4 ranks).
const ActivationLayout kDp4{GridLayout{1, true}, false};
const ActivationLayout kTp2Consecutive{GridLayout{2, true}, false};
const ActivationLayout kTp2Strided{GridLayout{2, false}, false};
const ActivationLayout kTp2Sequence{GridLayout{2, true}, true};
const ActivationLayout kTp4{GridLayout{4, true}, false};

struct ReshardCase {
  const char* name;
  ActivationLayout from, to;
  ReshardPlan::Kind kind;
};

const ReshardCase kCases[] = {
    {"same layout", kTp2Consecutive, kTp2Consecutive, ReshardPlan::Kind::identity},
    {"dp4 -> dp2 x tp2 consecutive", kDp4, kTp2Consecutive, ReshardPlan::Kind::all_gather},
    {"dp2 x tp2 consecutive -> dp4", kTp2Consecutive, kDp4, ReshardPlan::Kind::local_slice},
    {"tp2 consecutive -> tp2 strided", kTp2Consecutive, kTp2Strided, ReshardPlan::Kind::exchange},
    {"replicated -> sequence sharded", kTp2Consecutive, kTp2Sequence, ReshardPlan::Kind::local_slice},
    {"sequence sharded -> replicated", kTp2Sequence, kTp2Consecutive, ReshardPlan::Kind::all_gather},
    {"sequence sharded -> dp4", kTp2Sequence, kDp4, ReshardPlan::Kind::all_to_all},
    {"tp2 consecutive -> tp4 replicated", kTp2Consecutive, kTp4, ReshardPlan::Kind::all_gather},
    {"dp4 -> tp2 strided", kDp4, kTp2Strided, ReshardPlan::Kind::exchange},
};

TEST(Reshard, DerivedKinds) {
  for (const ReshardCase& c : kCases) {
    const ReshardPlan plan = derive_reshard(c.from, c.to, 4);
    EXPECT_EQ(plan.kind, c.kind) << c.name << ": " << plan.description;
    EXPECT_FALSE(plan.description.empty());
  }
  // tp 1 with or without sequence sharding holds the same parts.
  EXPECT_EQ(derive_reshard(kDp4, ActivationLayout{GridLayout{1, false}, true}, 4).kind, ReshardPlan::Kind::identity);

  const ReshardPlan gather = derive_reshard(kDp4, kTp2Consecutive, 4);
  EXPECT_NE(gather.description.find("all-gather of the batch over the TP groups of 2"), std::string::npos)
      << gather.description;
  EXPECT_DOUBLE_EQ(gather.send_fraction, 0.25);  // my quarter to my TP partner
  EXPECT_DOUBLE_EQ(gather.receive_fraction, 0.25);
  const ReshardPlan sequence = derive_reshard(kTp2Sequence, kTp2Consecutive, 4);
  EXPECT_NE(sequence.description.find("sequence"), std::string::npos) << sequence.description;
  EXPECT_DOUBLE_EQ(sequence.receive_fraction, 0.25);  // half the positions of half the batch
  const ReshardPlan slice = derive_reshard(kTp2Consecutive, kDp4, 4);
  EXPECT_DOUBLE_EQ(slice.send_fraction, 0.0);
  EXPECT_DOUBLE_EQ(slice.receive_fraction, 0.0);
  const ReshardPlan exchange = derive_reshard(kTp2Consecutive, kTp2Strided, 4);
  EXPECT_DOUBLE_EQ(exchange.receive_fraction, 0.5);
  EXPECT_DOUBLE_EQ(exchange.send_fraction, 0.5);
  // The replicated half is sent by both holders, one receiver each.
  EXPECT_DOUBLE_EQ(derive_reshard(kTp2Consecutive, kTp4, 4).send_fraction, 0.5);
}

// Values of the activation and of its gradient at (batch b, position t, channel c).
float activation_value(int64_t b, int64_t t, int64_t c) {
  return static_cast<float>(b * 100 + t * 10 + c);
}
float gradient_value(int64_t b, int64_t t, int64_t c) {
  return -static_cast<float>(b * 1000 + t * 7 + c) - 0.5f;
}

// The part of a [B, T, C] tensor with values f that the rank at `local` holds under `layout`
// (written from the layout's definition, independently of placement.cpp).
Tensor expected_part(const ActivationLayout& layout, int local, int n, int64_t batch, int64_t seq, int64_t channels,
                     float (*f)(int64_t, int64_t, int64_t)) {
  const GridPosition position = grid_position(local, n, layout.grid);
  const int64_t rows = batch / (n / layout.grid.tp);
  const int64_t positions = layout.sequence_sharded ? seq / layout.grid.tp : seq;
  const int64_t first_row = position.dp * rows;
  const int64_t first_position = layout.sequence_sharded ? position.tp * positions : 0;
  std::vector<float> values;
  for (int64_t b = 0; b < rows; ++b) {
    for (int64_t t = 0; t < positions; ++t) {
      for (int64_t c = 0; c < channels; ++c) values.push_back(f(first_row + b, first_position + t, c));
    }
  }
  return Tensor::from_vector(values, {rows, positions, channels});
}

std::shared_ptr<Communicator> borrow(Communicator& comm) {
  return std::shared_ptr<Communicator>(&comm, [](Communicator*) {});
}

ParallelPlan one_stage_plan(int ranks) {
  ParallelPlan plan;
  plan.world_size = ranks;
  plan.stages = {StagePlan{0, 1, {}}};
  for (int r = 0; r < ranks; ++r) plan.stages[0].ranks.push_back(r);
  plan.layers = {LayerStrategy{}};
  return plan;
}

// Forward and backward of reshard on one rank of a stage of n.
void check_reshard_on_rank(DeviceMesh& mesh, const ActivationLayout& from, const ActivationLayout& to,
                           const std::string& name) {
  const int64_t batch = 4, seq = 8, channels = 3;
  const int n = mesh.stage_size();
  const int local = mesh.local_index();
  SCOPED_TRACE(testing::Message() << name << ", stage-local rank " << local);
  Var x(expected_part(from, local, n, batch, seq, channels, activation_value), true);
  autograd::Tape tape;
  Var y;
  {
    autograd::TapeScope scope(tape);
    y = reshard(x, from, to, mesh, batch, seq);
  }
  const Tensor expected = expected_part(to, local, n, batch, seq, channels, activation_value);
  ASSERT_EQ(y.shape(), expected.shape());
  EXPECT_EQ(y.value().to_vector(), expected.to_vector());
  if (derive_reshard(from, to, n).kind == ReshardPlan::Kind::identity) {
    EXPECT_EQ(y.value().raw_data(), x.value().raw_data());
  }
  tape.backward({y}, {expected_part(to, local, n, batch, seq, channels, gradient_value)});
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().to_vector(), expected_part(from, local, n, batch, seq, channels, gradient_value).to_vector());
}

TEST(Reshard, ForwardAndBackwardOnFourThreads) {
  const ParallelPlan plan = one_stage_plan(4);
  for (const ReshardCase& c : kCases) {
    ThreadWorld::run(4, [&](Communicator& world) {
      DeviceMesh mesh(borrow(world), plan);
      check_reshard_on_rank(mesh, c.from, c.to, c.name);
      // And back again, the reverse move.
      check_reshard_on_rank(mesh, c.to, c.from, std::string(c.name) + " (reversed)");
    });
  }
}

TEST(Reshard, RunsInsideEachStageOfATwoStagePlan) {
  // Two stages of two ranks (world {3, 1} and {0, 2}); each reshards on its own stage group.
  ParallelPlan plan;
  plan.world_size = 4;
  plan.stages = {StagePlan{0, 1, {3, 1}}, StagePlan{1, 2, {0, 2}}};
  plan.layers = {LayerStrategy{2, true}, LayerStrategy{2, true}};
  const ActivationLayout dp2{GridLayout{1, true}, false};
  const ActivationLayout sequence{GridLayout{2, true}, true};
  ThreadWorld::run(4, [&](Communicator& world) {
    DeviceMesh mesh(borrow(world), plan);
    EXPECT_EQ(derive_reshard(dp2, sequence, 2).kind, ReshardPlan::Kind::all_to_all);
    if (mesh.stage() == 0) {
      check_reshard_on_rank(mesh, dp2, sequence, "stage 0: dp2 -> sequence sharded");
    } else {
      check_reshard_on_rank(mesh, sequence, ActivationLayout{GridLayout{2, true}, false},
                            "stage 1: sequence sharded -> replicated");
    }
  });
}

TEST(Reshard, MovesWithoutATapeAndRejectsAWrongShape) {
  const ParallelPlan plan = one_stage_plan(2);
  ThreadWorld::run(2, [&](Communicator& world) {
    DeviceMesh mesh(borrow(world), plan);
    const ActivationLayout dp2{GridLayout{1, true}, false};
    const ActivationLayout replicated{GridLayout{2, true}, false};
    Var x(expected_part(dp2, mesh.local_index(), 2, 4, 2, 5, activation_value));
    const Var y = reshard(x, dp2, replicated, mesh, 4, 2);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.value().to_vector(), expected_part(replicated, 0, 2, 4, 2, 5, activation_value).to_vector());
    // Both ranks pass a wrong shape, so neither waits for the other.
    EXPECT_THROW(reshard(Var(Tensor::zeros({3, 2, 5})), dp2, replicated, mesh, 4, 2), InternalError);
  });
}

}  // namespace
}  // namespace loom::parallel
