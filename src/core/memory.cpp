// Memory accounting and the aligned host allocator.
#include "core/memory.h"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace loom {

namespace {
thread_local MemoryCategory t_category = MemoryCategory::activations;

void raise_peak(std::atomic<int64_t>& peak, int64_t value) {
  int64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}
// Freed host blocks of at least kCachedBlockMinBytes, by exact (page-rounded) size.
constexpr size_t kCachedBlockMinBytes = size_t{1} << 16;
constexpr size_t kPageBytes = 4096;
constexpr size_t kHugePageBytes = size_t{2} << 20;

size_t round_up(size_t bytes, size_t unit) {
  return (bytes + unit - 1) / unit * unit;
}

class HostBlockCache {
 public:
  static HostBlockCache& instance() {
    static HostBlockCache* cache = new HostBlockCache();  // never destroyed: tensors may outlive statics
    return *cache;
  }

  void* allocate(size_t bytes) {
    const size_t rounded = round(bytes);
    if (rounded >= kCachedBlockMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = blocks_.find(rounded);
      if (it != blocks_.end() && !it->second.empty()) {
        void* block = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= static_cast<int64_t>(rounded);
        return block;
      }
    }
    // Blocks of 2 MiB and more are aligned to 2 MiB and offered to transparent huge pages: a
    // fresh 64 MiB buffer otherwise costs tens of thousands of 4 KiB page faults.
    const bool huge = rounded >= kHugePageBytes;
    void* block = std::aligned_alloc(huge ? kHugePageBytes : 64, huge ? round_up(rounded, kHugePageBytes) : rounded);
    if (block == nullptr) {
      release();
      block = std::aligned_alloc(huge ? kHugePageBytes : 64, huge ? round_up(rounded, kHugePageBytes) : rounded);
      if (block == nullptr) throw std::bad_alloc();
    }
    if (huge) ::madvise(block, round_up(rounded, kHugePageBytes), MADV_HUGEPAGE);
    return block;
  }

  void deallocate(void* block, size_t bytes) {
    const size_t rounded = round(bytes);
    if (rounded >= kCachedBlockMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + static_cast<int64_t>(rounded) <= limit_bytes_) {
        blocks_[rounded].push_back(block);
        cached_bytes_ += static_cast<int64_t>(rounded);
        return;
      }
    }
    std::free(block);
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, list] : blocks_)
      for (void* block : list) std::free(block);
    blocks_.clear();
    cached_bytes_ = 0;
  }

  int64_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_bytes_;
  }

 private:
  HostBlockCache() {
    if (const char* limit = std::getenv("LOOM_HOST_CACHE_MB")) limit_bytes_ = std::atoll(limit) * (int64_t{1} << 20);
  }
  static size_t round(size_t bytes) {
    const size_t unit = bytes >= kCachedBlockMinBytes ? kPageBytes : 64;
    return bytes == 0 ? 64 : (bytes + unit - 1) / unit * unit;
  }

  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> blocks_;
  int64_t cached_bytes_ = 0;
  int64_t limit_bytes_ = int64_t{8} << 30;  // LOOM_HOST_CACHE_MB overrides
};

}  // namespace

void release_cached_host_memory() {
  HostBlockCache::instance().release();
}

int64_t MemoryTracker::cached_bytes() const {
  return HostBlockCache::instance().cached_bytes();
}

std::string memory_category_name(MemoryCategory category) {
  switch (category) {
    case MemoryCategory::parameters:
      return "parameters";
    case MemoryCategory::gradients:
      return "gradients";
    case MemoryCategory::optimizer_state:
      return "optimizer_state";
    case MemoryCategory::activations:
      return "activations";
    case MemoryCategory::workspace:
      return "workspace";
    case MemoryCategory::communication:
      return "communication";
  }
  LOOM_CHECK(false, "unknown memory category {}", static_cast<int>(category));
}

MemoryTracker& MemoryTracker::instance() {
  static MemoryTracker tracker;
  return tracker;
}

void MemoryTracker::on_allocate(MemoryCategory category, size_t bytes) {
  const auto index = static_cast<size_t>(category);
  const int64_t live = live_[index].fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
  raise_peak(peak_[index], live);
  const int64_t total = total_live_.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
  raise_peak(total_peak_, total);
}

void MemoryTracker::on_free(MemoryCategory category, size_t bytes) {
  live_[static_cast<size_t>(category)].fetch_sub(static_cast<int64_t>(bytes));
  total_live_.fetch_sub(static_cast<int64_t>(bytes));
}

int64_t MemoryTracker::live_bytes(MemoryCategory category) const {
  return live_[static_cast<size_t>(category)].load();
}

int64_t MemoryTracker::peak_bytes(MemoryCategory category) const {
  return peak_[static_cast<size_t>(category)].load();
}

void MemoryTracker::reset_peaks() {
  for (int i = 0; i < kMemoryCategoryCount; ++i) peak_[i].store(live_[i].load());
  total_peak_.store(total_live_.load());
}

MemoryCategoryScope::MemoryCategoryScope(MemoryCategory category) : previous_(t_category) {
  t_category = category;
}

MemoryCategoryScope::~MemoryCategoryScope() {
  t_category = previous_;
}

MemoryCategory current_memory_category() {
  return t_category;
}

Storage::Storage(size_t bytes, Device device, MemoryCategory category)
    : bytes_(bytes), device_(device), category_(category) {
  if (device == Device::cuda) {
    data_ = cuda::allocate(bytes == 0 ? 1 : bytes);
  } else {
    data_ = HostBlockCache::instance().allocate(bytes);
  }
  MemoryTracker::instance().on_allocate(category, bytes);
}

void Storage::release() {
  LOOM_CHECK(device_ == Device::cpu, "Storage::release is for host storage");
  if (data_ == nullptr) return;
  MemoryTracker::instance().on_free(category_, bytes_);
  HostBlockCache::instance().deallocate(data_, bytes_);
  data_ = nullptr;
}

void Storage::reacquire() {
  LOOM_CHECK(device_ == Device::cpu, "Storage::reacquire is for host storage");
  if (data_ != nullptr) return;
  data_ = HostBlockCache::instance().allocate(bytes_);
  MemoryTracker::instance().on_allocate(category_, bytes_);
}

Storage::~Storage() {
  if (data_ == nullptr) return;  // released
  MemoryTracker::instance().on_free(category_, bytes_);
  if (device_ == Device::cuda) {
    try {
      cuda::deallocate(data_);
    } catch (...) {  // a destructor must not throw; the buffer is lost with the device
    }
  } else {
    HostBlockCache::instance().deallocate(data_, bytes_);
  }
}

std::string device_name(Device device) {
  return device == Device::cpu ? "cpu" : "cuda";
}

}  // namespace loom
