// The plan interpreter under mpirun: generated plans against MPI_Allreduce on random data, for
// every dtype and op and counts 0, 1, 7, 1000 and 2^18 + 5: flat plans through run_plan, plans on
// the group's topology (LOOM_COMM_RANKS_PER_NODE=2 makes it two nodes) through
// all_reduce_with_generated_plan, on the world and on a sub-group with its ranks interleaved over
// the nodes, and gentree through all_reduce.
#include <gtest/gtest.h>

#include "comm/collectives.h"
#include "comm/group_topology.h"
#include "comm/plan_interpreter.h"
#include "comm/world.h"
#include "reference.h"
#include "topo/generators.h"
#include "topo/gentree.h"
#include "topo/plan_validator.h"

namespace loom::comm {
namespace {

using testing::all_dtypes;
using testing::all_ops;

const std::vector<size_t>& counts() {
  static const std::vector<size_t> list{0, 1, 7, 1000, (size_t{1} << 18) + 5};
  return list;
}

// Checks one all-reduce done by `run` against MPI_Allreduce; a mismatch is reported and the test
// goes on, so that every rank keeps making the same calls.
template <typename Run>
void check(Communicator& comm, DType dtype, ReduceOp op, size_t count, uint64_t seed, const std::string& what,
           Run run) {
  const std::vector<char> input = testing::random_elements(count, dtype, comm.rank(), seed);
  const std::vector<char> expected = testing::expected_all_reduce(comm, input, count, dtype, op);
  std::vector<char> data = input;
  run(data.data());
  EXPECT_EQ(testing::compare_all_reduce(data.data(), expected, count, dtype, op, comm.size()), "")
      << what << " " << dtype_name(dtype) << " " << reduce_op_name(op) << " x " << count << ", rank " << comm.rank()
      << " of " << comm.size() << " in '" << comm.name() << "'";
}

TEST(MpiPlanInterpreter, FlatPlansMatchMpiAllreduce) {
  auto world = world_communicator();
  const int p = world->size();
  uint64_t seed = 7000;
  for (const std::string generator : {"ring", "rabenseifner", "direct", "double_binary_tree"}) {
    for (DType dtype : all_dtypes()) {
      const int element = static_cast<int>(dtype_size_bytes(dtype));
      for (size_t count : counts()) {
        const topo::CollectivePlan plan = [&] {
          const int64_t bytes = static_cast<int64_t>(count) * element;
          if (generator == "ring") return topo::generate_ring(p, bytes, element);
          if (generator == "rabenseifner") return topo::generate_rabenseifner(p, bytes, element);
          if (generator == "direct") return topo::generate_direct(p, bytes, element);
          return topo::generate_double_binary_tree(p, bytes, element);
        }();
        topo::validate_plan(plan, "[" + generator + "]");
        for (ReduceOp op : all_ops())
          check(*world, dtype, op, count, seed++, generator,
                [&](void* data) { run_plan(*world, plan, data, count, dtype, op); });
      }
    }
  }
}

TEST(MpiPlanInterpreter, PlansOnTheGroupTopology) {
  auto world = world_communicator();
  // The world, and the world with even ranks first: on two nodes of two, ranks 0 and 1 of that
  // group sit on different nodes, so plan ranks and group ranks differ.
  const int r = world->rank();
  auto reordered = world->split(0, (r % 2) * world->size() + r, "even ranks first");
  uint64_t seed = 8000;
  for (Communicator* group : {world.get(), reordered.get()}) {
    for (const std::string generator : {"ring", "hierarchical", "tree"}) {
      for (size_t count : counts()) {
        for (auto [dtype, op] : {std::pair{DType::f32, ReduceOp::sum}, std::pair{DType::i64, ReduceOp::max},
                                 std::pair{DType::bf16, ReduceOp::avg}}) {
          check(*group, dtype, op, count, seed++, "plan:" + generator,
                [&](void* data) { all_reduce_with_generated_plan(*group, data, count, dtype, op, generator); });
        }
      }
    }
  }
}

TEST(MpiPlanInterpreter, GentreeThroughAllReduce) {
  auto world = world_communicator();
  uint64_t seed = 9000;
  for (DType dtype : all_dtypes()) {
    for (ReduceOp op : all_ops()) {
      for (size_t count : counts()) {
        check(*world, dtype, op, count, seed++, "gentree", [&](void* data) {
          CollectiveOptions options;
          options.algorithm = AllReduceAlgorithm::gentree;
          options.op = op;
          all_reduce(*world, data, count, dtype, options);
        });
      }
    }
  }
}

}  // namespace
}  // namespace loom::comm
