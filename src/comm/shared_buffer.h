// Buffers in a node group's shared memory. The runtime allocates its gradient buckets here:
// the shared_memory all-reduce of a buffer that lies in one skips the copy into the staging
// segment and reduces straight from every rank's slice.
#pragma once

#include <cstddef>
#include <memory>

#include "comm/communicator.h"

namespace loom::comm {

// One rank's part of a segment allocated for it: `bytes` of page-aligned memory in my slice.
class SharedBuffer {
 public:
  SharedBuffer(std::shared_ptr<SharedSegment> segment, size_t bytes);
  ~SharedBuffer();  // every rank must release its buffer (on MPI, freeing the window is collective)
  SharedBuffer(const SharedBuffer&) = delete;
  SharedBuffer& operator=(const SharedBuffer&) = delete;

  void* data() const { return segment_->slice(segment_->rank()); }
  size_t bytes() const { return bytes_; }
  SharedSegment& segment() const { return *segment_; }

 private:
  std::shared_ptr<SharedSegment> segment_;
  size_t bytes_;
};

// Collective over `comm` (every rank, the same bytes, the same order): a new buffer of `bytes`
// per rank in shared memory. UserError when the group spans nodes or its transport has none.
std::shared_ptr<SharedBuffer> allocate_shared_buffer(Communicator& comm, size_t bytes);

// The segment, allocated over comm's transport, whose slice of mine holds [data, data + bytes);
// nullptr when the range lies in no shared buffer of this group.
std::shared_ptr<SharedSegment> find_shared_segment(Communicator& comm, const void* data, size_t bytes);

}  // namespace loom::comm
