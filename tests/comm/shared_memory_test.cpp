// The shared_memory all-reduce with ranks as threads (the thread transport's segments are heap
// memory every thread sees): closed-form answers over many rank counts, dtypes, ops and sizes
// that cross its chunk and slot boundaries, shared buffers, and deadlines that name the missing rank.
#include <gtest/gtest.h>

#include <cstring>

#include "comm/allreduce_shared_memory.h"
#include "comm/collective_values.h"
#include "comm/shared_buffer.h"
#include "comm/thread_transport.h"

namespace loom::comm {
namespace {

using testing::element;

// Rank r contributes r + (i % 7) at element i: every dtype holds these exactly.
void fill(void* data, size_t count, DType dtype, int rank) {
  for (size_t i = 0; i < count; ++i) {
    const int value = rank + static_cast<int>(i % 7);
    switch (dtype) {
      case DType::f32:
        static_cast<float*>(data)[i] = static_cast<float>(value);
        break;
      case DType::bf16:
        static_cast<BFloat16*>(data)[i] = BFloat16::from_float(static_cast<float>(value));
        break;
      case DType::f64:
        static_cast<double*>(data)[i] = value;
        break;
      case DType::i32:
        static_cast<int32_t*>(data)[i] = value;
        break;
      case DType::i64:
        static_cast<int64_t*>(data)[i] = value;
        break;
      default:
        break;
    }
  }
}

// avg reduces as a sum (the dispatcher divides).
double expected(size_t i, ReduceOp op, int p) {
  const double base = static_cast<double>(i % 7);
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg:
      return p * base + p * (p - 1) / 2.0;
    case ReduceOp::max:
      return base + p - 1;
    case ReduceOp::min:
      return base;
  }
  return 0;
}

// Checks a few elements spread over the buffer and every element of small ones.
void expect_reduced(const void* data, size_t count, DType dtype, ReduceOp op, int p, const std::string& where) {
  const size_t stride = count > 5000 ? 997 : 1;
  for (size_t i = 0; i < count; i += stride) {
    const double want = expected(i, op, p);
    // bf16 holds integers exactly up to 256.
    if (dtype == DType::bf16 && want > 256) continue;
    if (element(data, i, dtype) != want) {
      ADD_FAILURE() << where << ": element " << i << " of " << count << " is " << element(data, i, dtype)
                    << ", expected " << want;
      return;
    }
  }
  if (count > 0 && (dtype != DType::bf16 || expected(count - 1, op, p) <= 256)) {
    EXPECT_EQ(element(data, count - 1, dtype), expected(count - 1, op, p)) << where << ": last element";
  }
}

TEST(SharedMemoryAllReduce, ClosedFormOverRankCountsDtypesOpsAndSizes) {
  for (int p : {1, 2, 3, 4, 5, 7, 8, 9, 13, 16}) {
    ThreadWorld::run(p, [&](Communicator& comm) {
      for (DType dtype : {DType::f32, DType::bf16, DType::f64, DType::i32, DType::i64}) {
        for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max, ReduceOp::min}) {
          for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{8193}, size_t{1} << 20}) {
            if (p > 4 && count == (size_t{1} << 20) && dtype != DType::f32) continue;  // keep it quick
            std::vector<char> data(count * dtype_size_bytes(dtype));
            fill(data.data(), count, dtype, comm.rank());
            comm.begin_operation("shared memory test");
            all_reduce_shared_memory(comm, data.data(), count, dtype, op);
            expect_reduced(data.data(), count, dtype, op, p,
                           fmt::format("p={} {} {} count {}", p, dtype_name(dtype), reduce_op_name(op), count));
          }
        }
      }
    });
  }
}

TEST(SharedMemoryAllReduce, SharedBuffersAtOffsetsBetweenStagedCalls) {
  for (int p : {2, 3, 5}) {
    ThreadWorld::run(p, [&](Communicator& comm) {
      auto buffer = allocate_shared_buffer(comm, size_t{1} << 22);
      EXPECT_NE(find_shared_segment(comm, buffer->data(), 16), nullptr);
      int not_in_buffer = 0;
      EXPECT_EQ(find_shared_segment(comm, &not_in_buffer, sizeof(int)), nullptr);
      for (size_t offset : {size_t{0}, size_t{64}, size_t{4096 + 8}}) {
        for (size_t count : {size_t{1}, size_t{1000}, size_t{300001}}) {
          char* at = static_cast<char*>(buffer->data()) + offset;
          fill(at, count, DType::f32, comm.rank());
          comm.begin_operation("in segment");
          all_reduce_shared_memory(comm, at, count, DType::f32, ReduceOp::sum);
          expect_reduced(at, count, DType::f32, ReduceOp::sum, p, fmt::format("in segment p={} offset {}", p, offset));
          std::vector<double> staged(count);
          fill(staged.data(), count, DType::f64, comm.rank());
          comm.begin_operation("staged");
          all_reduce_shared_memory(comm, staged.data(), count, DType::f64, ReduceOp::max);
          expect_reduced(staged.data(), count, DType::f64, ReduceOp::max, p, "staged between");
        }
      }
    });
  }
}

TEST(SharedMemoryAllReduce, GroupSpanningNodesIsRejected) {
  ThreadWorld::run(
      4,
      [](Communicator& comm) {
        float value = 1;
        EXPECT_THROW(all_reduce_shared_memory(comm, &value, 1, DType::f32, ReduceOp::sum), UserError);
        EXPECT_THROW(allocate_shared_buffer(comm, 64), UserError);
        // Each node's own group works.
        Communicator& node = comm.intra_node();
        node.begin_operation("node");
        all_reduce_shared_memory(node, &value, 1, DType::f32, ReduceOp::sum);
        EXPECT_EQ(value, 2.0f);
      },
      2);
}

TEST(SharedMemoryAllReduce, TimeoutNamesTheMissingRank) {
  for (size_t count : {size_t{16}, size_t{1} << 18}) {  // one-step and staged
    std::atomic<int> errors{0};
    try {
      ThreadWorld::run(3, [&](Communicator& comm) {
        comm.set_timeout(std::chrono::milliseconds(300));
        std::vector<float> data(count, 1.0f);
        comm.begin_operation("all_reduce(shared_memory, test)");
        if (comm.rank() == 1) return;  // rank 1 skips
        try {
          all_reduce_shared_memory(comm, data.data(), count, DType::f32, ReduceOp::sum);
        } catch (const CommError& e) {
          ++errors;
          const std::string message = e.what();
          EXPECT_NE(message.find("all_reduce(shared_memory, test) on group 'world'"), std::string::npos) << message;
          EXPECT_NE(message.find("waiting for rank 1"), std::string::npos) << message;
          EXPECT_EQ(e.missing_ranks(), std::vector<int>{1});
          throw;
        }
      });
      ADD_FAILURE() << "no rank failed";
    } catch (const CommError&) {
    }
    EXPECT_EQ(errors.load(), 2);
  }
}

}  // namespace
}  // namespace loom::comm
