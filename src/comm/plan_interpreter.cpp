// The plan interpreter: a plan is resolved once per rank into steps of byte ranges (RankProgram),
// then each step runs as post-all, wait-all, apply. Staging is one buffer sized for the largest
// step; scratch is allocated only when this rank's part of the plan touches it.
#include "comm/plan_interpreter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "comm/reduce_kernels.h"
#include "core/error.h"

namespace loom::comm {
namespace {

// Staging pieces start on cache lines, so the reduction kernels read aligned memory.
constexpr size_t kStagingAlignment = 64;

size_t align_up(size_t bytes) {
  return (bytes + kStagingAlignment - 1) / kStagingAlignment * kStagingAlignment;
}

// Bytes [begin, end) of one buffer (0: data, 1: scratch).
struct ByteRange {
  int buffer = 0;
  size_t begin = 0, end = 0;
  bool overlaps(const ByteRange& other) const {
    return buffer == other.buffer && begin < other.end && other.begin < end;
  }
};

bool overlaps_any(const ByteRange& range, const std::vector<ByteRange>& ranges) {
  return std::any_of(ranges.begin(), ranges.end(), [&](const ByteRange& r) { return range.overlaps(r); });
}

int buffer_index(topo::PlanBuffer buffer) {
  return buffer == topo::PlanBuffer::scratch ? 1 : 0;
}

}  // namespace

void check_plan_fits(const Communicator& comm, const topo::CollectivePlan& plan, const void* data, size_t count,
                     DType dtype, const char* what) {
  const auto reject = [&](const std::string& problem) {
    throw_user_error("{} of plan '{}' on group '{}' (rank {} of {}): {}", what, plan.algorithm, comm.name(),
                     comm.rank(), comm.size(), problem);
  };
  if (plan.ranks != comm.size())
    reject(fmt::format("the plan has {} ranks but the group has {} (generate it for {} ranks)", plan.ranks, comm.size(),
                       comm.size()));
  if (static_cast<int>(plan.ops.size()) != plan.ranks)
    reject(fmt::format("the plan lists operations for {} ranks, not {}", plan.ops.size(), plan.ranks));
  const size_t element = dtype_bytes(dtype);
  if (static_cast<size_t>(plan.element_bytes) != element)
    reject(fmt::format("the plan's elements are {} bytes but {} elements are {}", plan.element_bytes, dtype_name(dtype),
                       element));
  if (count * element != static_cast<size_t>(plan.bytes()))
    reject(fmt::format("the plan covers {} bytes but the buffer holds {} x {} = {} bytes", plan.bytes(), count,
                       dtype_name(dtype), count * element));
  if (data == nullptr && count > 0) reject(fmt::format("data is null but holds {} elements", count));
}

void run_plan(Communicator& comm, const topo::CollectivePlan& plan, void* data, size_t count, DType dtype,
              ReduceOp op) {
  check_plan_fits(comm, plan, data, count, dtype, "run_plan");
  const RankProgram program(plan, comm.rank());
  comm.begin_operation(fmt::format("run_plan({}, {} steps, {} x {}, {})", plan.algorithm, plan.steps(), count,
                                   dtype_name(dtype), reduce_op_name(op)));
  program.run(comm, data, dtype, op);
  if (op == ReduceOp::avg) finish_average(data, count, dtype, comm.size());
}

RankProgram::RankProgram(const topo::CollectivePlan& plan, int plan_rank,
                         const std::vector<int>& comm_rank_of_plan_rank) {
  LOOM_CHECK(plan_rank >= 0 && plan_rank < static_cast<int>(plan.ops.size()), "plan rank {} of a plan of {} ranks",
             plan_rank, plan.ops.size());
  LOOM_CHECK(comm_rank_of_plan_rank.empty() || static_cast<int>(comm_rank_of_plan_rank.size()) == plan.ranks,
             "rank map of {} entries for a plan of {} ranks", comm_rank_of_plan_rank.size(), plan.ranks);
  bytes_ = static_cast<size_t>(plan.bytes());
  const std::vector<int64_t> offsets = plan.chunk_offsets();
  const auto range_of = [&](const topo::PlanOp& op, int buffer) {
    return ByteRange{buffer, static_cast<size_t>(offsets[op.first_chunk]),
                     static_cast<size_t>(offsets[op.first_chunk + op.chunk_count])};
  };
  const auto peer_of = [&](int plan_peer) {
    return comm_rank_of_plan_rank.empty() ? plan_peer : comm_rank_of_plan_rank[plan_peer];
  };

  const std::vector<topo::PlanOp>& ops = plan.ops[plan_rank];
  size_t first = 0;
  while (first < ops.size()) {
    // One step: the run of ops with the same step number (the validator keeps them in order).
    size_t last = first;
    while (last < ops.size() && ops[last].step == ops[first].step) ++last;
    std::vector<ByteRange> reads, writes;
    for (size_t i = first; i < last; ++i) {
      const topo::PlanOp& op = ops[i];
      const int buffer = buffer_index(op.buffer);
      if (op.buffer == topo::PlanBuffer::scratch || op.kind == topo::PlanOpKind::copy) uses_scratch_ = true;
      if (op.kind == topo::PlanOpKind::send) {
        reads.push_back(range_of(op, buffer));
      } else if (op.kind == topo::PlanOpKind::copy) {
        reads.push_back(range_of(op, 1 - buffer));
        writes.push_back(range_of(op, buffer));
      } else {
        writes.push_back(range_of(op, buffer));
      }
    }
    Step step;
    size_t staging = 0;
    const auto stage = [&](size_t bytes) {
      const size_t offset = staging;
      staging += align_up(bytes);
      return offset;
    };
    for (size_t i = first; i < last; ++i) {
      const topo::PlanOp& op = ops[i];
      const int buffer = buffer_index(op.buffer);
      const ByteRange range = range_of(op, buffer);
      const size_t bytes = range.end - range.begin;
      if (bytes == 0) continue;  // both ends of a message see the same size: neither posts it
      switch (op.kind) {
        case topo::PlanOpKind::send:
          step.sends.push_back({peer_of(op.peer), buffer, range.begin, bytes});
          break;
        case topo::PlanOpKind::recv:
        case topo::PlanOpKind::recv_reduce: {
          const bool reduce = op.kind == topo::PlanOpKind::recv_reduce;
          const bool in_place = !reduce && !overlaps_any(range, reads);
          step.receives.push_back(
              {peer_of(op.peer), reduce, buffer, range.begin, bytes, in_place ? kNone : stage(bytes)});
          break;
        }
        case topo::PlanOpKind::copy: {
          // The source as it was when the step began: snapshot it when the step also writes it.
          const bool snapshot = overlaps_any(range_of(op, 1 - buffer), writes);
          step.copies.push_back({buffer, range.begin, bytes, snapshot ? stage(bytes) : kNone});
          break;
        }
      }
    }
    staging_bytes_ = std::max(staging_bytes_, staging);
    if (!step.sends.empty() || !step.receives.empty() || !step.copies.empty()) steps_.push_back(std::move(step));
    first = last;
  }
}

void RankProgram::run(Communicator& comm, void* data, DType dtype, ReduceOp op) const {
  if (steps_.empty()) return;
  const size_t element = dtype_bytes(dtype);
  // Scratch and staging are fully written before they are read: no need to zero them.
  std::unique_ptr<char[]> scratch = uses_scratch_ ? std::make_unique_for_overwrite<char[]>(bytes_) : nullptr;
  std::unique_ptr<char[]> staging =
      staging_bytes_ > 0 ? std::make_unique_for_overwrite<char[]>(staging_bytes_) : nullptr;
  char* const buffers[2] = {static_cast<char*>(data), scratch.get()};
  std::vector<Pending> pending;
  for (const Step& step : steps_) {
    for (const Copy& copy : step.copies)
      if (copy.snapshot != kNone)
        std::memcpy(staging.get() + copy.snapshot, buffers[1 - copy.to_buffer] + copy.offset, copy.bytes);
    pending.clear();
    // Receives and sends each in plan order, so that per pair the k-th send meets the k-th receive.
    for (const Receive& receive : step.receives) {
      char* target =
          receive.staging == kNone ? buffers[receive.buffer] + receive.offset : staging.get() + receive.staging;
      pending.push_back(comm.irecv(receive.peer, target, receive.bytes));
    }
    for (const Send& send : step.sends)
      pending.push_back(comm.isend(send.peer, buffers[send.buffer] + send.offset, send.bytes));
    comm.wait_all(pending);
    for (const Copy& copy : step.copies) {
      const char* source =
          copy.snapshot != kNone ? staging.get() + copy.snapshot : buffers[1 - copy.to_buffer] + copy.offset;
      std::memcpy(buffers[copy.to_buffer] + copy.offset, source, copy.bytes);
    }
    // Several receive-reduces into one range apply one after another, in plan order.
    for (const Receive& receive : step.receives) {
      if (receive.staging == kNone) continue;
      char* target = buffers[receive.buffer] + receive.offset;
      if (receive.reduce) {
        reduce_into(target, staging.get() + receive.staging, receive.bytes / element, dtype, op);
      } else {
        std::memcpy(target, staging.get() + receive.staging, receive.bytes);
      }
    }
  }
}

}  // namespace loom::comm
