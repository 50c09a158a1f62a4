// The shared_memory all-reduce called directly through MPI-3 shared windows: staged buffers of
// sizes that cross chunk and slot boundaries, buffers inside a shared buffer (no copy in), at
// offsets, interleaved with staged calls, and on sub-groups of the node.
#include <gtest/gtest.h>

#include <cstring>

#include "comm/allreduce_shared_memory.h"
#include "comm/shared_buffer.h"
#include "comm/world.h"
#include "reference.h"

namespace loom::comm {
namespace {

using testing::all_dtypes;
using testing::all_ops;

void check_shared_memory(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op, uint64_t seed,
                         const std::string& where) {
  const std::vector<char> input = testing::random_elements(count, dtype, comm.rank(), seed);
  // avg reduces as a sum here: the dispatcher divides.
  const ReduceOp reduced_as = op == ReduceOp::avg ? ReduceOp::sum : op;
  const std::vector<char> expected = testing::expected_all_reduce(comm, input, count, dtype, reduced_as);
  if (!input.empty()) std::memcpy(data, input.data(), input.size());
  comm.begin_operation(fmt::format("all_reduce_shared_memory({} x {})", count, dtype_name(dtype)));
  all_reduce_shared_memory(comm, data, count, dtype, op);
  EXPECT_EQ(testing::compare_all_reduce(data, expected, count, dtype, reduced_as, comm.size()), "")
      << where << ", rank " << comm.rank() << " of " << comm.size();
}

const std::vector<size_t>& awkward_counts() {
  // Around the one-step limit (32 KiB), the chunk (256 KiB) and the four slots.
  static const std::vector<size_t> counts{0,    1,     7,     1000,  8191,   8192,
                                          8193, 65535, 65536, 65537, 300001, (size_t{1} << 20) + 3};
  return counts;
}

TEST(MpiSharedMemory, StagedMatchesMpiAllreduce) {
  Communicator& node = world_communicator()->intra_node();
  uint64_t seed = 20000;
  for (DType dtype : all_dtypes()) {
    for (ReduceOp op : all_ops()) {
      for (size_t count : awkward_counts()) {
        std::vector<char> data(count * dtype_size_bytes(dtype));
        check_shared_memory(node, data.data(), count, dtype, op, seed++, "staged");
      }
    }
  }
}

TEST(MpiSharedMemory, InSegmentBuffersSkipTheCopy) {
  Communicator& node = world_communicator()->intra_node();
  const size_t capacity = (size_t{1} << 23) + 4096;
  std::shared_ptr<SharedBuffer> buffer = allocate_shared_buffer(node, capacity);
  ASSERT_EQ(buffer->bytes(), capacity);
  uint64_t seed = 30000;
  for (DType dtype : all_dtypes()) {
    for (ReduceOp op : all_ops()) {
      for (size_t count : awkward_counts()) {
        check_shared_memory(node, buffer->data(), count, dtype, op, seed++, "in segment");
        // At an offset inside the buffer, then a staged call in between.
        char* at = static_cast<char*>(buffer->data()) + 4096 + 64;
        if (count * dtype_size_bytes(dtype) + 4096 + 64 <= capacity) {
          check_shared_memory(node, at, count, dtype, op, seed++, "in segment at an offset");
        }
        std::vector<char> staged(count * dtype_size_bytes(dtype));
        check_shared_memory(node, staged.data(), count, dtype, op, seed++, "staged between");
      }
    }
  }
}

TEST(MpiSharedMemory, TwoBuffersAndSubGroups) {
  auto world = world_communicator();
  Communicator& node = world->intra_node();
  auto first = allocate_shared_buffer(node, size_t{1} << 16);
  auto second = allocate_shared_buffer(node, size_t{1} << 16);
  check_shared_memory(node, first->data(), 1000, DType::f32, ReduceOp::sum, 1, "first buffer");
  check_shared_memory(node, second->data(), 1000, DType::f32, ReduceOp::sum, 2, "second buffer");
  // Halves of the node (consecutive) and even/odd ranks (strided).
  for (bool strided : {false, true}) {
    auto half = node.split(strided ? node.rank() % 2 : node.rank() / ((node.size() + 1) / 2), node.rank(), "half");
    std::vector<char> data(size_t{1} << 20);
    check_shared_memory(*half, data.data(), data.size() / 4, DType::f32, ReduceOp::sum, 3, "half (staged)");
    auto buffer = allocate_shared_buffer(*half, size_t{1} << 20);
    check_shared_memory(*half, buffer->data(), (size_t{1} << 20) / 8, DType::i64, ReduceOp::min, 4, "half (buffer)");
    // A buffer of the node is not one of the sub-group: staged, and still right.
    check_shared_memory(*half, first->data(), 1000, DType::f32, ReduceOp::max, 5, "half over a node buffer");
    node.barrier();
  }
}

}  // namespace
}  // namespace loom::comm
