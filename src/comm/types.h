// Vocabulary of the communication library: reduce operations, all-reduce algorithms, options,
// and the error a failed collective raises.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace loom::comm {

enum class ReduceOp { sum, avg, max, min };

enum class AllReduceAlgorithm {
  automatic,           // the cheapest by the cost model (cost_model.h) for this group and size
  ring,                // segmented, pipelined ring: reduce-scatter then all-gather
  recursive_doubling,  // lg p exchanges of the whole buffer
  rabenseifner,        // recursive-halving reduce-scatter + recursive-doubling all-gather
  tree,                // binomial-tree reduce to rank 0, then binomial broadcast
  hierarchical,        // intra-node reduce-scatter, inter-node all-reduce, intra-node all-gather
  gentree,             // GenTree's plan for the group's node layout (topo/gentree.h), interpreted
  shared_memory,       // one node: reduce through an MPI-3 shared-memory window
  mpi,                 // the MPI library's own MPI_Allreduce (the baseline)
  reference,           // textbook gather-reduce-broadcast through rank 0 (tests only)
};

std::string reduce_op_name(ReduceOp op);
ReduceOp reduce_op_from_name(const std::string& name);  // UserError naming the valid ones
std::string algorithm_name(AllReduceAlgorithm algorithm);
AllReduceAlgorithm algorithm_from_name(const std::string& name);
// Every algorithm a user may ask for (excludes automatic and reference).
std::vector<AllReduceAlgorithm> all_reduce_algorithms();

struct CollectiveOptions {
  AllReduceAlgorithm algorithm = AllReduceAlgorithm::automatic;
  ReduceOp op = ReduceOp::sum;
  std::chrono::milliseconds timeout{0};    // 0: the communicator's (LOOM_COMM_TIMEOUT_S, default 300 s)
  size_t segment_bytes = size_t{1} << 20;  // pipelining unit of the ring
};

// A collective that cannot complete: a timeout, a lost peer, or (LOOM_COMM_CHECK=1) ranks that
// called different operations. The message names the operation, the group and the ranks.
class CommError : public Error {
 public:
  CommError(const std::string& message, std::vector<int> missing_ranks)
      : Error(message), missing_ranks_(std::move(missing_ranks)) {}
  const std::vector<int>& missing_ranks() const { return missing_ranks_; }

 private:
  std::vector<int> missing_ranks_;
};

}  // namespace loom::comm
