// The MPI transport on its own: point-to-point of awkward sizes, the node layout, splits that
// agree with MPI_Comm_split, shared segments that every rank sees, and the world's identity.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <numeric>

#include "comm/world.h"
#include "reference.h"

namespace loom::comm {
namespace {

TEST(MpiTransport, WorldMatchesMpi) {
  auto world = world_communicator();
  int rank = -1, size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  EXPECT_EQ(world->rank(), rank);
  EXPECT_EQ(world->size(), size);
  EXPECT_EQ(world_rank(), rank);
  EXPECT_EQ(world->transport().kind(), "mpi");
  EXPECT_TRUE(launched_by_mpi());
  EXPECT_EQ(world_communicator(), world);  // built once
}

TEST(MpiTransport, RingExchangeOfAwkwardSizes) {
  auto world = world_communicator();
  const int right = (world->rank() + 1) % world->size();
  const int left = (world->rank() + world->size() - 1) % world->size();
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{7}, size_t{4096}, size_t{1} << 22}) {
    world->begin_operation(fmt::format("ring exchange of {} bytes", bytes));
    std::vector<unsigned char> sent(bytes), received(bytes, 0xee);
    for (size_t i = 0; i < bytes; ++i) sent[i] = static_cast<unsigned char>(i * 31 + world->rank());
    world->send_recv(right, sent.data(), bytes, left, received.data(), bytes);
    for (size_t i = 0; i < bytes; ++i) {
      if (received[i] != static_cast<unsigned char>(i * 31 + left)) {
        ADD_FAILURE() << "byte " << i << " of " << bytes << " from rank " << left;
        break;
      }
    }
  }
}

TEST(MpiTransport, AllPairsWithTagsDoNotMix) {
  auto world = world_communicator();
  world->begin_operation("all pairs");
  std::vector<Pending> pending;
  std::vector<int64_t> sent(static_cast<size_t>(world->size()) * 2), received(sent.size(), -1);
  for (int peer = 0; peer < world->size(); ++peer) {
    for (int tag = 0; tag < 2; ++tag) {
      const size_t i = static_cast<size_t>(peer) * 2 + static_cast<size_t>(tag);
      sent[i] = world->rank() * 1000 + peer * 10 + tag;
      pending.push_back(world->irecv(peer, &received[i], sizeof(int64_t), tag));
      pending.push_back(world->isend(peer, &sent[i], sizeof(int64_t), tag));
    }
  }
  world->wait_all(pending);
  for (int peer = 0; peer < world->size(); ++peer)
    for (int tag = 0; tag < 2; ++tag)
      EXPECT_EQ(received[static_cast<size_t>(peer) * 2 + static_cast<size_t>(tag)],
                peer * 1000 + world->rank() * 10 + tag);
  world->barrier();
}

TEST(MpiTransport, OneNodeLayout) {
  auto world = world_communicator();
  if (std::getenv("LOOM_COMM_RANKS_PER_NODE") != nullptr) {
    const int per_node = std::atoi(std::getenv("LOOM_COMM_RANKS_PER_NODE"));
    EXPECT_EQ(world->node_count(), (world->size() + per_node - 1) / per_node);
    EXPECT_EQ(world->local_rank(), world->rank() % per_node);
    return;
  }
  EXPECT_EQ(world->node_count(), 1);
  EXPECT_TRUE(world->single_node());
  EXPECT_EQ(world->local_size(), world->size());
  EXPECT_EQ(world->local_rank(), world->rank());
  EXPECT_EQ(world->inter_node().size(), 1);
}

TEST(MpiTransport, SplitAgreesWithMpiCommSplit) {
  auto world = world_communicator();
  const int p = world->size();
  for (int groups = 1; groups <= p; ++groups) {
    // Consecutive (color = rank / width) and strided (color = rank % groups), keys reversed.
    const int width = (p + groups - 1) / groups;
    for (bool strided : {false, true}) {
      const int color = strided ? world->rank() % groups : world->rank() / width;
      const int key = -world->rank();
      auto sub = world->split(color, key, "sub");
      ASSERT_NE(sub, nullptr);
      MPI_Comm mpi_sub = MPI_COMM_NULL;
      MPI_Comm_split(MPI_COMM_WORLD, color, key, &mpi_sub);
      int mpi_rank = -1, mpi_size = -1;
      MPI_Comm_rank(mpi_sub, &mpi_rank);
      MPI_Comm_size(mpi_sub, &mpi_size);
      EXPECT_EQ(sub->rank(), mpi_rank) << "groups " << groups << (strided ? " strided" : " consecutive");
      EXPECT_EQ(sub->size(), mpi_size);
      // A message inside the sub-group.
      sub->begin_operation("sub ring");
      int value = world->rank(), got = -1;
      sub->send_recv((sub->rank() + 1) % sub->size(), &value, sizeof(int),
                     (sub->rank() + sub->size() - 1) % sub->size(), &got, sizeof(int));
      EXPECT_EQ(strided ? got % groups : got / width, color);
      MPI_Comm_free(&mpi_sub);
    }
  }
  auto none = world->split(world->rank() == 0 ? -1 : 0, 0, "all but rank 0");
  EXPECT_EQ(none == nullptr, world->rank() == 0);
}

TEST(MpiTransport, SharedSegmentIsSeenByEveryRank) {
  auto world = world_communicator();
  Communicator& node = world->intra_node();
  std::shared_ptr<SharedSegment> segment = node.transport().allocate_shared(size_t{1} << 20);
  ASSERT_NE(segment, nullptr);
  EXPECT_EQ(segment->size(), node.size());
  EXPECT_EQ(segment->rank(), node.rank());
  auto* mine = static_cast<int64_t*>(segment->slice(node.rank()));
  for (size_t i = 0; i < (size_t{1} << 17); ++i) mine[i] = node.rank() * 1000000 + static_cast<int64_t>(i);
  segment->store(5, 1);
  for (int r = 0; r < node.size(); ++r) {
    while (segment->load(r, 5) < 1) {
    }
    const auto* theirs = static_cast<const int64_t*>(segment->slice(r));
    EXPECT_EQ(theirs[0], r * 1000000);
    EXPECT_EQ(theirs[(size_t{1} << 17) - 1], r * 1000000 + (int64_t{1} << 17) - 1);
  }
  EXPECT_TRUE(segment->in_my_slice(mine + 10, 80));
  EXPECT_FALSE(segment->in_my_slice(mine + 10, size_t{1} << 21));
  node.barrier();  // nobody reads my slice after this; the window is freed collectively
}

}  // namespace
}  // namespace loom::comm
