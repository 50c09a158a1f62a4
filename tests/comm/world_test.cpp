// The process world without mpirun: one rank over the thread transport, no MPI daemon needed.
#include <gtest/gtest.h>

#include "comm/collectives.h"
#include "comm/world.h"

namespace loom::comm {
namespace {

TEST(World, AloneIsOneRankWithoutMpi) {
  if (launched_by_mpi()) GTEST_SKIP() << "started by an MPI launcher";
  auto world = world_communicator();
  EXPECT_EQ(world->size(), 1);
  EXPECT_EQ(world->rank(), 0);
  EXPECT_EQ(world->name(), "world");
  EXPECT_EQ(world->transport().kind(), "threads");
  EXPECT_EQ(world_rank(), 0);
  EXPECT_EQ(world_communicator(), world);
  float value = 3.0f;
  all_reduce(*world, &value, 1, DType::f32);
  EXPECT_EQ(value, 3.0f);
}

}  // namespace
}  // namespace loom::comm
