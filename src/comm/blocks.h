// Block partitions and scratch buffers shared by the collective algorithms. A buffer of `count`
// elements is cut into p contiguous blocks; balanced blocks differ in size by at most one
// element (the first count % p blocks are one longer), so any count works, including counts
// smaller than p (the trailing blocks are then empty).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

#include "comm/reduce_kernels.h"

namespace loom::comm {

class Blocks {
 public:
  // p blocks as equal as possible.
  static Blocks balanced(size_t count, int parts);
  // p blocks of `block_count` elements each.
  static Blocks uniform(size_t block_count, int parts);

  int parts() const { return static_cast<int>(begin_.size()) - 1; }
  size_t begin(int block) const { return begin_[static_cast<size_t>(block)]; }
  size_t end(int block) const { return begin_[static_cast<size_t>(block) + 1]; }
  size_t size(int block) const { return end(block) - begin(block); }
  // Elements of blocks [first, last).
  size_t span(int first, int last) const { return begin_[static_cast<size_t>(last)] - begin(first); }

 private:
  std::vector<size_t> begin_;  // parts + 1 offsets, in elements
};

// Pointer to element `index` of a raw buffer of `dtype`.
inline char* element(void* base, size_t index, DType dtype) {
  return static_cast<char*>(base) + index * dtype_bytes(dtype);
}
inline const char* element(const void* base, size_t index, DType dtype) {
  return static_cast<const char*>(base) + index * dtype_bytes(dtype);
}

// memcpy that accepts empty (possibly null) buffers.
inline void copy_bytes(void* dst, const void* src, size_t bytes) {
  if (bytes > 0 && dst != src) std::memcpy(dst, src, bytes);
}

// Uninitialised scratch memory for received data.
class Scratch {
 public:
  explicit Scratch(size_t bytes) : data_(bytes > 0 ? std::make_unique_for_overwrite<char[]>(bytes) : nullptr) {}
  char* data() { return data_.get(); }

 private:
  std::unique_ptr<char[]> data_;
};

// p' = the largest power of two <= p (the ranks that take part after a fold).
int largest_power_of_two_at_most(int p);

}  // namespace loom::comm
