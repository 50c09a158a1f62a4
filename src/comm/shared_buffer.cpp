// Shared buffers and the process-wide registry that tells whether a pointer lies in one.
#include "comm/shared_buffer.h"

#include <cstdint>
#include <map>
#include <mutex>

namespace loom::comm {
namespace {

// Live buffers by the start of my slice. With thread ranks every rank's slice is registered
// under its own address, so a lookup finds the caller's own segment object.
struct Registry {
  std::mutex mutex;
  std::map<uintptr_t, std::weak_ptr<SharedSegment>> segments;
};

Registry& registry() {
  static Registry instance;
  return instance;
}

uintptr_t my_slice_start(const SharedSegment& segment) {
  return reinterpret_cast<uintptr_t>(segment.slice(segment.rank()));
}

}  // namespace

SharedBuffer::SharedBuffer(std::shared_ptr<SharedSegment> segment, size_t bytes)
    : segment_(std::move(segment)), bytes_(bytes) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.segments[my_slice_start(*segment_)] = segment_;
}

SharedBuffer::~SharedBuffer() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.segments.erase(my_slice_start(*segment_));
}

std::shared_ptr<SharedBuffer> allocate_shared_buffer(Communicator& comm, size_t bytes) {
  if (!comm.single_node()) {
    throw_user_error("shared buffer on group '{}': its {} ranks span {} nodes (shared memory needs one node)",
                     comm.name(), comm.size(), comm.node_count());
  }
  std::shared_ptr<SharedSegment> segment = comm.transport().allocate_shared(bytes);
  if (segment == nullptr) {
    throw_user_error("shared buffer on group '{}': the {} transport has no shared memory", comm.name(),
                     comm.transport().kind());
  }
  return std::make_shared<SharedBuffer>(std::move(segment), bytes);
}

std::shared_ptr<SharedSegment> find_shared_segment(Communicator& comm, const void* data, size_t bytes) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.segments.upper_bound(reinterpret_cast<uintptr_t>(data));
  if (it == r.segments.begin()) return nullptr;
  std::shared_ptr<SharedSegment> segment = std::prev(it)->second.lock();
  if (segment == nullptr || segment->group() != &comm.transport() || !segment->in_my_slice(data, bytes)) {
    return nullptr;
  }
  return segment;
}

}  // namespace loom::comm
