// Memory accounting. Every tensor buffer is allocated under a category; live and peak bytes are
// counted per category and in total, so that measured memory can be compared with the planner's
// predictions. The category comes from the innermost MemoryCategoryScope on the calling thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/device.h"

namespace loom {

enum class MemoryCategory : uint8_t {
  parameters,
  gradients,
  optimizer_state,
  activations,
  workspace,
  communication,
};
inline constexpr int kMemoryCategoryCount = 6;

std::string memory_category_name(MemoryCategory category);

// Process-wide counters (one process is one rank).
class MemoryTracker {
 public:
  static MemoryTracker& instance();

  void on_allocate(MemoryCategory category, size_t bytes);
  void on_free(MemoryCategory category, size_t bytes);

  int64_t live_bytes(MemoryCategory category) const;
  int64_t peak_bytes(MemoryCategory category) const;
  int64_t total_live_bytes() const { return total_live_.load(); }
  int64_t total_peak_bytes() const { return total_peak_.load(); }
  // Peaks restart from the current live values (e.g. at the start of a step).
  void reset_peaks();
  // Bytes held by the host block cache for reuse (not counted as live).
  int64_t cached_bytes() const;

 private:
  std::array<std::atomic<int64_t>, kMemoryCategoryCount> live_{};
  std::array<std::atomic<int64_t>, kMemoryCategoryCount> peak_{};
  std::atomic<int64_t> total_live_{0};
  std::atomic<int64_t> total_peak_{0};
};

// Sets the category of allocations made on this thread while it lives.
class MemoryCategoryScope {
 public:
  explicit MemoryCategoryScope(MemoryCategory category);
  ~MemoryCategoryScope();
  MemoryCategoryScope(const MemoryCategoryScope&) = delete;
  MemoryCategoryScope& operator=(const MemoryCategoryScope&) = delete;

 private:
  MemoryCategory previous_;
};

MemoryCategory current_memory_category();

// Returns every cached host block to the system.
void release_cached_host_memory();

// A counted, 64-byte aligned buffer on one device. Large host buffers come from a cache of
// freed blocks of the same size: training repeats the same shapes every step, and reusing a
// block avoids the page faults and zeroing of fresh pages (a third of a step's time here).
class Storage {
 public:
  Storage(size_t bytes, Device device, MemoryCategory category);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  MemoryCategory category() const { return category_; }

  // Sharded data parallel (ZeRO-3) frees a gathered parameter buffer between uses while the
  // views that autograd saved keep pointing at this object: release() returns the bytes (data()
  // is null until reacquire()), reacquire() allocates them again (contents undefined until the
  // next gather fills them). Host storage only.
  void release();
  void reacquire();
  bool resident() const { return data_ != nullptr; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  MemoryCategory category_;
};

}  // namespace loom
