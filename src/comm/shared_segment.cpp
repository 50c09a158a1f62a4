// SharedSegment bookkeeping: slice sizes and the communication-memory account.
#include "comm/shared_segment.h"

#include "core/error.h"
#include "core/memory.h"

namespace loom::comm {

static_assert(SharedSegment::kControlWords * 64 <= SharedSegment::kControlBytes);

size_t SharedSegment::slice_bytes(size_t bytes_per_rank) {
  const size_t data = (bytes_per_rank + kAlignment - 1) / kAlignment * kAlignment;
  return kControlBytes + data;
}

SharedSegment::SharedSegment(const Transport* group, int rank, std::vector<char*> bases, size_t bytes_per_rank)
    : group_(group), rank_(rank), bases_(std::move(bases)), bytes_per_rank_(bytes_per_rank) {
  LOOM_CHECK(rank_ >= 0 && rank_ < size(), "rank {} of a shared segment of {}", rank_, size());
  for (char* base : bases_) {
    LOOM_CHECK(reinterpret_cast<uintptr_t>(base) % kAlignment == 0, "shared slice at {} is not page-aligned",
               static_cast<const void*>(base));
  }
  MemoryTracker::instance().on_allocate(MemoryCategory::communication, slice_bytes(bytes_per_rank_));
}

SharedSegment::~SharedSegment() {
  MemoryTracker::instance().on_free(MemoryCategory::communication, slice_bytes(bytes_per_rank_));
}

bool SharedSegment::in_my_slice(const void* data, size_t bytes) const {
  const auto begin = reinterpret_cast<uintptr_t>(slice(rank_));
  const auto address = reinterpret_cast<uintptr_t>(data);
  return address >= begin && address - begin <= bytes_per_rank_ && bytes <= bytes_per_rank_ - (address - begin);
}

}  // namespace loom::comm
