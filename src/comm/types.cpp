// Names of reduce operations and algorithms.
#include "comm/types.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace loom::comm {

std::string reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return "sum";
    case ReduceOp::avg:
      return "avg";
    case ReduceOp::max:
      return "max";
    case ReduceOp::min:
      return "min";
  }
  LOOM_CHECK(false, "unknown reduce op {}", static_cast<int>(op));
}

ReduceOp reduce_op_from_name(const std::string& name) {
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max, ReduceOp::min})
    if (reduce_op_name(op) == name) return op;
  throw_user_error("reduce op '{}' is not known (valid: sum, avg, max, min)", name);
}

std::string algorithm_name(AllReduceAlgorithm algorithm) {
  switch (algorithm) {
    case AllReduceAlgorithm::automatic:
      return "auto";
    case AllReduceAlgorithm::ring:
      return "ring";
    case AllReduceAlgorithm::recursive_doubling:
      return "recursive_doubling";
    case AllReduceAlgorithm::rabenseifner:
      return "rabenseifner";
    case AllReduceAlgorithm::tree:
      return "tree";
    case AllReduceAlgorithm::hierarchical:
      return "hierarchical";
    case AllReduceAlgorithm::gentree:
      return "gentree";
    case AllReduceAlgorithm::shared_memory:
      return "shared_memory";
    case AllReduceAlgorithm::mpi:
      return "mpi";
    case AllReduceAlgorithm::reference:
      return "reference";
  }
  LOOM_CHECK(false, "unknown algorithm {}", static_cast<int>(algorithm));
}

std::vector<AllReduceAlgorithm> all_reduce_algorithms() {
  return {AllReduceAlgorithm::ring,          AllReduceAlgorithm::recursive_doubling,
          AllReduceAlgorithm::rabenseifner,  AllReduceAlgorithm::tree,
          AllReduceAlgorithm::hierarchical,  AllReduceAlgorithm::gentree,
          AllReduceAlgorithm::shared_memory, AllReduceAlgorithm::mpi};
}

AllReduceAlgorithm algorithm_from_name(const std::string& name) {
  std::vector<std::string> names{"auto"};
  for (AllReduceAlgorithm algorithm : all_reduce_algorithms()) {
    if (algorithm_name(algorithm) == name) return algorithm;
    names.push_back(algorithm_name(algorithm));
  }
  if (name == "auto") return AllReduceAlgorithm::automatic;
  if (name == "reference") return AllReduceAlgorithm::reference;
  throw_user_error("all-reduce algorithm '{}' is not known (valid: {})", name, fmt::join(names, ", "));
}

}  // namespace loom::comm
