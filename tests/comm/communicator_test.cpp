// The thread transport and the communicator: point-to-point, split, barrier, node layout, and
// deadlines that name the missing rank instead of hanging.
#include <gtest/gtest.h>

#include <atomic>

#include "comm/communicator.h"
#include "comm/thread_transport.h"

namespace loom::comm {
namespace {

TEST(Communicator, RingExchangeOverManyRankCounts) {
  for (int size : {1, 2, 3, 5, 8, 13}) {
    ThreadWorld::run(size, [&](Communicator& comm) {
      comm.begin_operation("ring exchange");
      const int right = (comm.rank() + 1) % comm.size();
      const int left = (comm.rank() - 1 + comm.size()) % comm.size();
      int64_t sent = 100 + comm.rank();
      int64_t received = -1;
      comm.send_recv(right, &sent, sizeof(sent), left, &received, sizeof(received));
      EXPECT_EQ(received, 100 + left);
      comm.barrier();
    });
  }
}

TEST(Communicator, SplitFormsGroupsOrderedByKey) {
  ThreadWorld::run(7, [](Communicator& comm) {
    // Two colors (even/odd world ranks), keys reverse the order.
    auto sub = comm.split(comm.rank() % 2, -comm.rank(), "parity");
    ASSERT_NE(sub, nullptr);
    EXPECT_EQ(sub->size(), comm.rank() % 2 == 0 ? 4 : 3);
    const int expected_rank = (sub->size() - 1) - comm.rank() / 2;
    EXPECT_EQ(sub->rank(), expected_rank);
    // Messages inside the sub-group do not mix with the parent's.
    sub->begin_operation("sub exchange");
    int value = comm.rank();
    int got = -1;
    const int right = (sub->rank() + 1) % sub->size();
    const int left = (sub->rank() - 1 + sub->size()) % sub->size();
    sub->send_recv(right, &value, sizeof(value), left, &got, sizeof(got));
    EXPECT_EQ(got % 2, comm.rank() % 2);
    auto none = comm.split(comm.rank() == 0 ? -1 : 0, 0, "all but zero");
    EXPECT_EQ(none == nullptr, comm.rank() == 0);
  });
}

TEST(Communicator, NodeLayoutGivesIntraAndInterNodeGroups) {
  ThreadWorld::run(
      6,
      [](Communicator& comm) {
        EXPECT_EQ(comm.node_count(), 3);
        EXPECT_EQ(comm.local_size(), 2);
        EXPECT_EQ(comm.local_rank(), comm.rank() % 2);
        EXPECT_EQ(comm.inter_node().size(), 3);
        EXPECT_EQ(comm.inter_node().rank(), comm.rank() / 2);
      },
      2);
}

TEST(Communicator, TimeoutNamesTheMissingRankInsteadOfHanging) {
  std::atomic<int> errors{0};
  const auto start = std::chrono::steady_clock::now();
  try {
    ThreadWorld::run(3, [&](Communicator& comm) {
      comm.set_timeout(std::chrono::milliseconds(300));
      comm.begin_operation("all_reduce(ring, 4 bytes)");
      if (comm.rank() == 2) return;  // rank 2 skips the operation
      int value = 0;
      try {
        comm.recv(2, &value, sizeof(value));
      } catch (const CommError& e) {
        ++errors;
        const std::string message = e.what();
        EXPECT_NE(message.find("all_reduce(ring, 4 bytes) on group 'world'"), std::string::npos) << message;
        EXPECT_NE(message.find("waiting for rank 2"), std::string::npos) << message;
        EXPECT_EQ(e.missing_ranks(), std::vector<int>{2});
        throw;
      }
    });
    FAIL() << "expected a CommError";
  } catch (const CommError&) {
  }
  EXPECT_EQ(errors.load(), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace loom::comm
