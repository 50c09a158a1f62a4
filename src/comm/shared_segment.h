// SharedSegment: memory that every rank of one node's group can load and store directly (an
// MPI-3 shared window, or heap memory when ranks are threads). Each rank owns one slice; a slice
// starts with a small control block of 64-bit words, one per cache line and zero at allocation,
// that only its owner writes. Algorithms synchronise through those words: the owner publishes
// with a release store, peers read with acquire loads, so no MPI call sits on the fast path.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace loom::comm {

class Transport;

class SharedSegment {
 public:
  static constexpr int kControlWords = 16;
  // Control block plus padding, so that every data area starts on a page.
  static constexpr size_t kControlBytes = 4096;
  static constexpr size_t kAlignment = 4096;

  virtual ~SharedSegment();
  SharedSegment(const SharedSegment&) = delete;
  SharedSegment& operator=(const SharedSegment&) = delete;

  // Bytes a transport allocates for one slice holding `bytes_per_rank` of data.
  static size_t slice_bytes(size_t bytes_per_rank);

  int rank() const { return rank_; }
  int size() const { return static_cast<int>(bases_.size()); }
  size_t bytes_per_rank() const { return bytes_per_rank_; }
  // The transport this segment was allocated over: a segment serves only that group.
  const Transport* group() const { return group_; }

  // Data area of `rank`'s slice: bytes_per_rank() bytes, page-aligned.
  void* slice(int rank) const { return bases_[static_cast<size_t>(rank)] + kControlBytes; }
  // True when [data, data + bytes) lies inside my own slice's data area.
  bool in_my_slice(const void* data, size_t bytes) const;

  // Control word `word` of `rank`'s slice, read with acquire ordering.
  uint64_t load(int rank, int word) const {
    return std::atomic_ref<uint64_t>(*control(rank, word)).load(std::memory_order_acquire);
  }
  // Publishes my own control word with release ordering (only the owner writes its words).
  void store(int word, uint64_t value) {
    std::atomic_ref<uint64_t>(*control(rank_, word)).store(value, std::memory_order_release);
  }

 protected:
  // `bases` holds every rank's slice start (kAlignment-aligned); my control block must be zero.
  SharedSegment(const Transport* group, int rank, std::vector<char*> bases, size_t bytes_per_rank);

 private:
  uint64_t* control(int rank, int word) const {
    return reinterpret_cast<uint64_t*>(bases_[static_cast<size_t>(rank)] + static_cast<size_t>(word) * 64);
  }

  const Transport* group_;
  int rank_;
  std::vector<char*> bases_;
  size_t bytes_per_rank_;
};

}  // namespace loom::comm
