// LOOM_COMM_CHECK=1: before each collective, the ranks compare what they were asked to do
// (operation, count, dtype, reduce op, root, algorithm). A mismatch would otherwise hang or
// silently corrupt data; here every rank fails with the same message naming the first rank
// that differs from rank 0 and both calls.
#pragma once

#include <cstdint>
#include <string>

#include "comm/communicator.h"

namespace loom::comm {

enum class CollectiveKind : int64_t { all_reduce, reduce_scatter, all_gather, broadcast, reduce, all_to_all };

// One rank's call. Fields that do not apply to the collective are -1.
struct CollectiveCall {
  CollectiveKind kind = CollectiveKind::all_reduce;
  int64_t count = 0;  // elements (per rank for reduce_scatter, all_gather and all_to_all)
  int64_t dtype = -1;
  int64_t op = -1;
  int64_t root = -1;
  int64_t algorithm = -1;
  bool operator==(const CollectiveCall&) const = default;
};

std::string collective_kind_name(CollectiveKind kind);
// "all_reduce(1000 x f32, sum, auto)", "broadcast(7 x i64, root 2)".
std::string describe_call(const CollectiveCall& call);

// Whether LOOM_COMM_CHECK is set to something other than 0 (read on every call).
bool collective_checks_enabled();

// Collective: call right after begin_operation. Exchanges the calls through rank 0 on tags
// reserved for the check; on a mismatch every rank calls comm.fail with the same message.
void check_same_call(Communicator& comm, const CollectiveCall& call);

}  // namespace loom::comm
