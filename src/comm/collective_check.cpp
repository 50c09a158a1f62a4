// The call check: every rank sends its call to rank 0, rank 0 sends the table of all calls back,
// and each rank reaches the same verdict from the same table. 2(p-1) small messages.
#include "comm/collective_check.h"

#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace loom::comm {
namespace {

constexpr int kGatherTag = Communicator::kTagsPerOperation - 2;
constexpr int kTableTag = Communicator::kTagsPerOperation - 1;

std::string reduce_op_text(int64_t op) {
  return op >= 0 && op <= 3 ? reduce_op_name(static_cast<ReduceOp>(op)) : fmt::format("op {}", op);
}

std::string dtype_text(int64_t dtype) {
  return dtype >= 0 && dtype <= static_cast<int64_t>(DType::u16) ? dtype_name(static_cast<DType>(dtype))
                                                                 : fmt::format("dtype {}", dtype);
}

}  // namespace

std::string collective_kind_name(CollectiveKind kind) {
  switch (kind) {
    case CollectiveKind::all_reduce:
      return "all_reduce";
    case CollectiveKind::reduce_scatter:
      return "reduce_scatter";
    case CollectiveKind::all_gather:
      return "all_gather";
    case CollectiveKind::broadcast:
      return "broadcast";
    case CollectiveKind::reduce:
      return "reduce";
    case CollectiveKind::all_to_all:
      return "all_to_all";
  }
  return fmt::format("collective {}", static_cast<int64_t>(kind));
}

std::string describe_call(const CollectiveCall& call) {
  std::string text = fmt::format("{}({} x {}", collective_kind_name(call.kind), call.count, dtype_text(call.dtype));
  if (call.op >= 0) text += ", " + reduce_op_text(call.op);
  if (call.root >= 0) text += fmt::format(", root {}", call.root);
  if (call.algorithm >= 0) text += ", " + algorithm_name(static_cast<AllReduceAlgorithm>(call.algorithm));
  return text + ")";
}

bool collective_checks_enabled() {
  const char* value = std::getenv("LOOM_COMM_CHECK");
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

void check_same_call(Communicator& comm, const CollectiveCall& call) {
  const int p = comm.size();
  if (p == 1) return;
  std::vector<CollectiveCall> calls(static_cast<size_t>(p));
  const size_t table_bytes = calls.size() * sizeof(CollectiveCall);
  if (comm.rank() == 0) {
    calls[0] = call;
    std::vector<Pending> pending;
    for (int r = 1; r < p; ++r)
      pending.push_back(comm.irecv(r, &calls[static_cast<size_t>(r)], sizeof(CollectiveCall), kGatherTag));
    comm.wait_all(pending);
    pending.clear();
    for (int r = 1; r < p; ++r) pending.push_back(comm.isend(r, calls.data(), table_bytes, kTableTag));
    comm.wait_all(pending);
  } else {
    comm.send(0, &call, sizeof(CollectiveCall), kGatherTag);
    comm.recv(0, calls.data(), table_bytes, kTableTag);
  }
  std::vector<int> differing;
  for (int r = 1; r < p; ++r)
    if (!(calls[static_cast<size_t>(r)] == calls[0])) differing.push_back(r);
  if (differing.empty()) return;
  const CollectiveCall& first = calls[static_cast<size_t>(differing.front())];
  comm.fail(fmt::format("{} on group '{}': rank {} called {} but rank 0 called {} (LOOM_COMM_CHECK){}",
                        collective_kind_name(calls[0].kind), comm.name(), differing.front(), describe_call(first),
                        describe_call(calls[0]),
                        differing.size() > 1 ? fmt::format("; {} ranks differ from rank 0", differing.size()) : ""),
            differing);
}

}  // namespace loom::comm
