// The collective entry points: validate the call, name it (begin_operation gives it fresh tags
// and the text every error quotes), check it against the other ranks under LOOM_COMM_CHECK=1,
// pick the algorithm, run it, and divide once for avg. The algorithms live one per file.
#include "comm/collectives.h"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

#include "comm/algorithm_selection.h"
#include "comm/allreduce_algorithms.h"
#include "comm/allreduce_shared_memory.h"
#include "comm/collective_algorithms.h"
#include "comm/collective_check.h"
#include "comm/reduce_kernels.h"

namespace loom::comm {
namespace {

// Below these sizes the latency-bound algorithm wins over the bandwidth-bound one.
constexpr size_t kPairwiseReduceScatterBytes = size_t{64} << 10;   // total send buffer
constexpr size_t kRecursiveDoublingGatherBytes = size_t{1} << 20;  // total recv buffer
constexpr size_t kChainBroadcastBytes = size_t{256} << 10;

// options.timeout, when set, for the duration of one collective.
class TimeoutScope {
 public:
  TimeoutScope(Communicator& comm, std::chrono::milliseconds timeout) : comm_(comm), saved_(comm.timeout()) {
    if (timeout.count() > 0) comm_.set_timeout(timeout);
  }
  ~TimeoutScope() { comm_.set_timeout(saved_); }
  TimeoutScope(const TimeoutScope&) = delete;
  TimeoutScope& operator=(const TimeoutScope&) = delete;

 private:
  Communicator& comm_;
  std::chrono::milliseconds saved_;
};

// Validation, with messages that name the collective, the group and the rank.
class Call {
 public:
  Call(Communicator& comm, const char* name) : comm_(comm), name_(name) {}

  template <typename... Args>
  [[noreturn]] void reject(fmt::format_string<Args...> format, Args&&... args) const {
    throw_user_error("{} on group '{}' (rank {} of {}): {}", name_, comm_.name(), comm_.rank(), comm_.size(),
                     fmt::format(format, std::forward<Args>(args)...));
  }

  void buffer(const char* what, const void* pointer, size_t count) const {
    if (pointer == nullptr && count > 0) reject("{} is null but holds {} elements", what, count);
  }

  // Bytes of `blocks` blocks of `count` elements, refusing sizes that overflow.
  size_t bytes(size_t count, size_t blocks, DType dtype) const {
    const size_t elem = dtype_bytes(dtype);
    if (count > SIZE_MAX / elem / blocks)
      reject("{} x {} elements of {} overflow the address space", blocks, count, dtype_name(dtype));
    return count * blocks * elem;
  }

  void root(int root) const {
    if (root < 0 || root >= comm_.size())
      reject("root {} is not a rank of this group (valid: 0 to {})", root, comm_.size() - 1);
  }

  void no_overlap(const void* send, size_t send_bytes, const void* recv, size_t recv_bytes) const {
    const auto* a = static_cast<const char*>(send);
    const auto* b = static_cast<const char*>(recv);
    if (send_bytes > 0 && recv_bytes > 0 && a < b + recv_bytes && b < a + send_bytes)
      reject("send and recv buffers overlap (this collective is not in place)");
  }

 private:
  Communicator& comm_;
  const char* name_;
};

// Names the operation, then (LOOM_COMM_CHECK=1) checks that every rank made the same call.
void begin(Communicator& comm, const std::string& description, const CollectiveCall& call) {
  comm.begin_operation(description);
  if (collective_checks_enabled()) check_same_call(comm, call);
}

size_t uniform_count(size_t per_rank, const Communicator& comm) {
  return per_rank * static_cast<size_t>(comm.size());
}

}  // namespace

void all_reduce(Communicator& comm, void* data, size_t count, DType dtype, const CollectiveOptions& options) {
  const Call call(comm, "all_reduce");
  call.buffer("data", data, count);
  const size_t bytes = call.bytes(count, 1, dtype);
  const AllReduceAlgorithm algorithm =
      options.algorithm == AllReduceAlgorithm::automatic ? choose_all_reduce_algorithm(comm, bytes) : options.algorithm;
  const TimeoutScope timeout(comm, options.timeout);
  begin(comm,
        fmt::format("all_reduce({}, {} x {}, {})", algorithm_name(algorithm), count, dtype_name(dtype),
                    reduce_op_name(options.op)),
        {CollectiveKind::all_reduce, static_cast<int64_t>(count), static_cast<int64_t>(dtype),
         static_cast<int64_t>(options.op), -1, static_cast<int64_t>(options.algorithm)});
  // The mpi baseline runs even when there is nothing to do, so that asking for it on a transport
  // without it fails the same way for every size.
  if ((count == 0 || comm.size() == 1) && algorithm != AllReduceAlgorithm::mpi) return;
  const ReduceOp op = options.op;
  switch (algorithm) {
    case AllReduceAlgorithm::ring:
      all_reduce_ring(comm, data, count, dtype, op, options.segment_bytes);
      break;
    case AllReduceAlgorithm::recursive_doubling:
      all_reduce_recursive_doubling(comm, data, count, dtype, op);
      break;
    case AllReduceAlgorithm::rabenseifner:
      all_reduce_rabenseifner(comm, data, count, dtype, op);
      break;
    case AllReduceAlgorithm::tree:
      all_reduce_tree(comm, data, count, dtype, op);
      break;
    case AllReduceAlgorithm::hierarchical:
      all_reduce_hierarchical(comm, data, count, dtype, op, options.segment_bytes);
      break;
    case AllReduceAlgorithm::gentree:
      all_reduce_gentree(comm, data, count, dtype, op);
      break;
    case AllReduceAlgorithm::shared_memory:
      all_reduce_shared_memory(comm, data, count, dtype, op);
      break;
    case AllReduceAlgorithm::mpi:
      all_reduce_mpi(comm, data, count, dtype, op);
      break;
    case AllReduceAlgorithm::reference:
      all_reduce_reference(comm, data, count, dtype, op);
      break;
    case AllReduceAlgorithm::automatic:
      LOOM_CHECK(false, "automatic was not resolved");
  }
  if (op == ReduceOp::avg) finish_average(data, count, dtype, comm.size());
}

void reduce_scatter(Communicator& comm, const void* send, void* recv, size_t recv_count, DType dtype,
                    const CollectiveOptions& options) {
  const Call call(comm, "reduce_scatter");
  const size_t send_bytes = call.bytes(recv_count, static_cast<size_t>(comm.size()), dtype);
  call.buffer("send", send, uniform_count(recv_count, comm));
  call.buffer("recv", recv, recv_count);
  call.no_overlap(send, send_bytes, recv, recv_count * dtype_bytes(dtype));
  const bool pairwise = send_bytes <= kPairwiseReduceScatterBytes;
  const TimeoutScope timeout(comm, options.timeout);
  begin(comm,
        fmt::format("reduce_scatter({}, {} x {} per rank, {})", pairwise ? "pairwise" : "ring", recv_count,
                    dtype_name(dtype), reduce_op_name(options.op)),
        {CollectiveKind::reduce_scatter, static_cast<int64_t>(recv_count), static_cast<int64_t>(dtype),
         static_cast<int64_t>(options.op), -1, -1});
  if (recv_count == 0) return;
  if (pairwise) {
    reduce_scatter_pairwise(comm, send, recv, recv_count, dtype, options.op);
  } else {
    reduce_scatter_ring(comm, send, recv, recv_count, dtype, options.op, options.segment_bytes);
  }
  if (options.op == ReduceOp::avg) finish_average(recv, recv_count, dtype, comm.size());
}

void all_gather(Communicator& comm, const void* send, void* recv, size_t send_count, DType dtype,
                const CollectiveOptions& options) {
  const Call call(comm, "all_gather");
  const size_t recv_bytes = call.bytes(send_count, static_cast<size_t>(comm.size()), dtype);
  call.buffer("send", send, send_count);
  call.buffer("recv", recv, uniform_count(send_count, comm));
  // In place is allowed when send is this rank's own block of recv.
  const void* own_block =
      static_cast<const char*>(recv) + static_cast<size_t>(comm.rank()) * send_count * dtype_bytes(dtype);
  if (send != own_block) call.no_overlap(send, send_count * dtype_bytes(dtype), recv, recv_bytes);
  const int p = comm.size();
  const bool doubling = (p & (p - 1)) == 0 && recv_bytes <= kRecursiveDoublingGatherBytes;
  const TimeoutScope timeout(comm, options.timeout);
  begin(comm,
        fmt::format("all_gather({}, {} x {} per rank)", doubling ? "recursive_doubling" : "ring", send_count,
                    dtype_name(dtype)),
        {CollectiveKind::all_gather, static_cast<int64_t>(send_count), static_cast<int64_t>(dtype), -1, -1, -1});
  if (send_count == 0) return;
  if (doubling) {
    all_gather_recursive_doubling(comm, send, recv, send_count, dtype);
  } else {
    all_gather_ring(comm, send, recv, send_count, dtype, options.segment_bytes);
  }
}

void broadcast(Communicator& comm, void* data, size_t count, DType dtype, int root, const CollectiveOptions& options) {
  const Call call(comm, "broadcast");
  call.root(root);
  call.buffer("data", data, count);
  const size_t bytes = call.bytes(count, 1, dtype);
  const bool chain = bytes >= kChainBroadcastBytes && comm.size() > 2;
  const TimeoutScope timeout(comm, options.timeout);
  begin(comm,
        fmt::format("broadcast({}, {} x {}, root {})", chain ? "chain" : "binomial", count, dtype_name(dtype), root),
        {CollectiveKind::broadcast, static_cast<int64_t>(count), static_cast<int64_t>(dtype), -1, root, -1});
  if (count == 0 || comm.size() == 1) return;
  if (chain) {
    // Enough segments to fill the chain, but not so small that latency dominates.
    const size_t segment = std::min(options.segment_bytes > 0 ? options.segment_bytes : bytes,
                                    std::max<size_t>(bytes / 16, size_t{64} << 10));
    broadcast_chain(comm, data, count, dtype, root, segment);
  } else {
    broadcast_binomial(comm, data, count, dtype, root);
  }
}

void reduce(Communicator& comm, const void* send, void* recv, size_t count, DType dtype, int root,
            const CollectiveOptions& options) {
  const Call call(comm, "reduce");
  call.root(root);
  call.buffer("send", send, count);
  if (comm.rank() == root) call.buffer("recv", recv, count);
  call.bytes(count, 1, dtype);
  const TimeoutScope timeout(comm, options.timeout);
  begin(
      comm,
      fmt::format("reduce(binomial, {} x {}, {}, root {})", count, dtype_name(dtype), reduce_op_name(options.op), root),
      {CollectiveKind::reduce, static_cast<int64_t>(count), static_cast<int64_t>(dtype),
       static_cast<int64_t>(options.op), root, -1});
  if (count == 0) return;
  reduce_binomial(comm, send, recv, count, dtype, options.op, root);
  if (options.op == ReduceOp::avg && comm.rank() == root) finish_average(recv, count, dtype, comm.size());
}

void all_to_all(Communicator& comm, const void* send, void* recv, size_t count_per_rank, DType dtype,
                const CollectiveOptions& options) {
  const Call call(comm, "all_to_all");
  const size_t bytes = call.bytes(count_per_rank, static_cast<size_t>(comm.size()), dtype);
  call.buffer("send", send, uniform_count(count_per_rank, comm));
  call.buffer("recv", recv, uniform_count(count_per_rank, comm));
  call.no_overlap(send, bytes, recv, bytes);
  const TimeoutScope timeout(comm, options.timeout);
  begin(comm, fmt::format("all_to_all(pairwise, {} x {} per rank)", count_per_rank, dtype_name(dtype)),
        {CollectiveKind::all_to_all, static_cast<int64_t>(count_per_rank), static_cast<int64_t>(dtype), -1, -1, -1});
  if (count_per_rank == 0) return;
  all_to_all_pairwise(comm, send, recv, count_per_rank, dtype);
}

}  // namespace loom::comm
