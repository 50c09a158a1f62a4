// Plan interpreter: runs a collective plan (topo/collective_plan.h) on a communicator, in place.
// The one idea: a step posts all its sends and receives at once, waits for them, then applies
// its receives, reductions and copies, which is exactly the plan's "a step reads its sources as
// they were when it began" rule. A plain receive lands straight in place when nothing of its
// step reads those bytes; everything else goes through a staging buffer. All messages of a plan
// use one tag: the transport keeps messages of one pair and tag in order, which is the plan's
// own matching rule (the k-th send a -> b meets the k-th receive on b from a).
#pragma once

#include <cstddef>
#include <vector>

#include "comm/communicator.h"
#include "topo/collective_plan.h"

namespace loom::comm {

// Runs a validated plan (topo/plan_validator.h) as an all-reduce of `count` elements of `data`:
// names the operation (fresh tags), runs this rank's part and divides once for avg. UserError
// (one line) unless comm.size() == plan.ranks, the plan's element size is dtype's and
// count * dtype size == plan.bytes(). bf16 is reduced in fp32 and rounded once per message.
void run_plan(Communicator& comm, const topo::CollectivePlan& plan, void* data, size_t count, DType dtype, ReduceOp op);

// Throws the UserError run_plan throws for a plan that does not fit the call; `what` names the
// call in the message ("run_plan").
void check_plan_fits(const Communicator& comm, const topo::CollectivePlan& plan, const void* data, size_t count,
                     DType dtype, const char* what);

// One rank's part of a plan, resolved once to byte ranges, peers and staging offsets, so that a
// plan run many times (the runtime's all-reduce of one bucket size) pays for this only once.
class RankProgram {
 public:
  // `comm_rank_of_plan_rank[q]` is the group rank that plays plan rank q (empty: the same rank);
  // `plan_rank` is this rank's index in the plan.
  RankProgram(const topo::CollectivePlan& plan, int plan_rank, const std::vector<int>& comm_rank_of_plan_rank = {});

  // Runs this rank's part on `data` (plan.bytes() bytes). Does not begin an operation and sums
  // for avg: the caller does both, as for every all-reduce algorithm.
  void run(Communicator& comm, void* data, DType dtype, ReduceOp op) const;

  size_t bytes() const { return bytes_; }
  int steps() const { return static_cast<int>(steps_.size()); }

 private:
  static constexpr size_t kNone = ~size_t{0};
  struct Send {
    int peer = -1;
    int buffer = 0;  // 0: data, 1: scratch
    size_t offset = 0, bytes = 0;
  };
  struct Receive {
    int peer = -1;
    bool reduce = false;
    int buffer = 0;
    size_t offset = 0, bytes = 0;
    size_t staging = kNone;  // offset in the staging buffer; kNone: received in place
  };
  struct Copy {
    int to_buffer = 0;  // written; read from the other buffer
    size_t offset = 0, bytes = 0;
    size_t snapshot = kNone;  // staging offset of the source taken at step start, when the step writes it
  };
  struct Step {
    std::vector<Send> sends;
    std::vector<Receive> receives;
    std::vector<Copy> copies;
  };

  std::vector<Step> steps_;
  size_t bytes_ = 0;
  size_t staging_bytes_ = 0;  // the largest any step needs
  bool uses_scratch_ = false;
};

}  // namespace loom::comm
