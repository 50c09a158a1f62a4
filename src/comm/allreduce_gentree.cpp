// GenTree all-reduce: the plan topo::generate_gentree writes for the group's topology
// (group_topology.h), run by the plan interpreter. Generating and validating a plan costs far
// more than running it, and the runtime all-reduces the same bucket sizes over and over, so each
// thread keeps this rank's resolved program per (generator, group layout, count, dtype).
// Steps, bytes on the wire and reductions: whatever the plan says (docs/gentree.md).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "comm/allreduce_algorithms.h"
#include "comm/group_topology.h"
#include "comm/plan_interpreter.h"
#include "comm/reduce_kernels.h"
#include "topo/generators.h"
#include "topo/network.h"
#include "topo/plan_validator.h"

namespace loom::comm {
namespace {

// Past this many cached programs the cache starts over (a run uses a handful of bucket sizes).
constexpr size_t kMaximumCachedPrograms = 64;

struct ProgramKey {
  std::string generator;
  size_t count = 0;
  DType dtype = DType::f32;
  int rank = 0;
  std::vector<int> node_of_rank;
  const CommProfile* profile = nullptr;

  auto operator<=>(const ProgramKey&) const = default;
};

const RankProgram& cached_program(Communicator& comm, size_t count, DType dtype, const std::string& generator) {
  thread_local std::map<ProgramKey, std::unique_ptr<RankProgram>> programs;
  ProgramKey key{generator, count, dtype, comm.rank(), {}, &active_comm_profile()};
  key.node_of_rank.resize(static_cast<size_t>(comm.size()));
  for (int rank = 0; rank < comm.size(); ++rank) key.node_of_rank[rank] = comm.transport().node_of(rank);
  if (auto it = programs.find(key); it != programs.end()) return *it->second;

  const GroupTopology group = group_topology(key.node_of_rank, *key.profile);
  const topo::Network network(group.topology);
  const size_t element = dtype_bytes(dtype);
  const topo::CollectivePlan plan =
      topo::generate_plan(generator, network, static_cast<int64_t>(count * element), static_cast<int>(element));
  topo::validate_plan(plan, fmt::format("[{} plan for group '{}' of {} ranks]", generator, comm.name(), comm.size()));
  const auto& order = group.comm_rank_of_plan_rank;
  const int plan_rank = static_cast<int>(std::find(order.begin(), order.end(), comm.rank()) - order.begin());
  if (programs.size() >= kMaximumCachedPrograms) programs.clear();
  auto program = std::make_unique<RankProgram>(plan, plan_rank, order);
  return *programs.emplace(std::move(key), std::move(program)).first->second;
}

}  // namespace

void all_reduce_gentree(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op) {
  cached_program(comm, count, dtype, "gentree").run(comm, data, dtype, op);
}

void all_reduce_with_generated_plan(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op,
                                    const std::string& generator) {
  if (data == nullptr && count > 0)
    throw_user_error("all_reduce with the {} plan on group '{}': data is null but holds {} elements", generator,
                     comm.name(), count);
  // Generated before the operation begins, so that a generator's error names no half-begun call.
  const RankProgram& program = cached_program(comm, count, dtype, generator);
  comm.begin_operation(
      fmt::format("all_reduce(plan:{}, {} x {}, {})", generator, count, dtype_name(dtype), reduce_op_name(op)));
  program.run(comm, data, dtype, op);
  if (op == ReduceOp::avg) finish_average(data, count, dtype, comm.size());
}

}  // namespace loom::comm
