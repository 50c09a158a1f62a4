// Asynchronous collectives over the thread transport: several buckets in flight while the caller
// computes, results against closed forms, and errors and timeouts reaching Work::wait().
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <numeric>
#include <vector>

#include "comm/async.h"
#include "comm/thread_transport.h"

namespace loom::comm {
namespace {

// Joins the communicator's progress thread when the rank's function ends, however it ends.
struct AsyncScope {
  Communicator& comm;
  ~AsyncScope() { shutdown_async(comm); }
};

TEST(AsyncCollectives, SeveralBucketsInFlightGiveClosedFormSums) {
  for (int size : {1, 2, 3, 5, 8}) {
    ThreadWorld::run(size, [](Communicator& comm) {
      AsyncScope scope{comm};
      const int p = comm.size();
      const std::vector<size_t> counts{0, 1, 7, 1000, 4096, 100000};
      std::vector<std::vector<float>> buckets;
      for (size_t b = 0; b < counts.size(); ++b) buckets.emplace_back(counts[b], float(comm.rank() + 1 + int(b)));
      std::vector<std::shared_ptr<Work>> works;
      for (auto& bucket : buckets) works.push_back(all_reduce_async(comm, bucket.data(), bucket.size(), DType::f32));
      // Compute meanwhile (the rest of the backward pass).
      std::vector<double> compute(1 << 16, 1.0);
      const double busy = std::accumulate(compute.begin(), compute.end(), 0.0);
      EXPECT_EQ(busy, double(1 << 16));
      for (size_t b = 0; b < works.size(); ++b) {
        works[b]->wait();
        EXPECT_TRUE(works[b]->is_completed());
        const float expected = float(p * (p + 1) / 2 + p * int(b));
        for (float value : buckets[b]) ASSERT_EQ(value, expected) << "bucket " << b << " of " << p << " ranks";
      }
    });
  }
}

TEST(AsyncCollectives, ReduceScatterAllGatherAndBroadcastInOneQueue) {
  ThreadWorld::run(4, [](Communicator& comm) {
    AsyncScope scope{comm};
    const int p = comm.size();
    const size_t block = 33;
    std::vector<int32_t> send(block * size_t(p));
    for (size_t i = 0; i < send.size(); ++i) send[i] = int32_t(i / block) * 100 + comm.rank();
    std::vector<int32_t> scattered(block);
    std::vector<int32_t> gathered_in(block, comm.rank()), gathered(block * size_t(p));
    std::vector<int64_t> broadcasted(17, comm.rank() == 2 ? 42 : -1);
    auto a = reduce_scatter_async(comm, send.data(), scattered.data(), block, DType::i32);
    auto b = all_gather_async(comm, gathered_in.data(), gathered.data(), block, DType::i32);
    auto c = broadcast_async(comm, broadcasted.data(), broadcasted.size(), DType::i64, 2);
    c->wait();  // FIFO: c done means a and b are done too
    EXPECT_TRUE(a->is_completed());
    EXPECT_TRUE(b->is_completed());
    a->wait();
    b->wait();
    for (int32_t v : scattered) EXPECT_EQ(v, comm.rank() * 100 * p + p * (p - 1) / 2);
    for (size_t i = 0; i < gathered.size(); ++i) EXPECT_EQ(gathered[i], int32_t(i / block));
    for (int64_t v : broadcasted) EXPECT_EQ(v, 42);
  });
}

TEST(AsyncCollectives, ErrorsPropagateAndPoisonTheQueue) {
  ThreadWorld::run(3, [](Communicator& comm) {
    AsyncScope scope{comm};
    std::vector<float> data(10, 1.0f);
    auto failing = enqueue_collective(comm, "failing step", [] { throw UserError("bucket 3 has a bad shape"); });
    auto after = all_reduce_async(comm, data.data(), data.size(), DType::f32);
    try {
      failing->wait();
      ADD_FAILURE() << "no error";
    } catch (const UserError& e) {
      EXPECT_STREQ(e.what(), "bucket 3 has a bad shape");
    }
    // Nothing queued behind a failure runs: the ranks may disagree on what the next message is.
    try {
      after->wait();
      ADD_FAILURE() << "no error";
    } catch (const CommError& e) {
      EXPECT_NE(std::string(e.what()).find("not run: an earlier collective failed (failing step: bucket 3"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(data[0], 1.0f);  // untouched
  });
}

TEST(AsyncCollectives, TimeoutReachesWaitOnEveryWaitingRank) {
  // Rank 0 never queues the all-reduce; the others must fail with the timeout, not hang.
  ThreadWorld::run(3, [](Communicator& comm) {
    AsyncScope scope{comm};
    if (comm.rank() == 0) return;
    std::vector<float> data(1000, 1.0f);
    CollectiveOptions options;
    options.timeout = std::chrono::milliseconds(300);
    options.algorithm = AllReduceAlgorithm::ring;
    auto work = all_reduce_async(comm, data.data(), data.size(), DType::f32, options);
    try {
      work->wait();
      ADD_FAILURE() << "rank " << comm.rank() << ": no timeout";
    } catch (const CommError& e) {
      EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(work->is_completed());
  });
}

TEST(AsyncCollectives, ShutdownWaitsForQueuedWork) {
  ThreadWorld::run(2, [](Communicator& comm) {
    std::vector<double> data(5000, 0.5);
    auto work = all_reduce_async(comm, data.data(), data.size(), DType::f64);
    shutdown_async(comm);
    EXPECT_TRUE(work->is_completed());
    EXPECT_EQ(data[4999], 1.0);
    shutdown_async(comm);  // a second call has nothing to do
  });
}

}  // namespace
}  // namespace loom::comm
