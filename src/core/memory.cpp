// Memory accounting and the aligned host allocator.
#include "core/memory.h"

#include <cstdlib>
#include <new>

#include "core/error.h"

namespace loom {

namespace {
thread_local MemoryCategory t_category = MemoryCategory::activations;

void raise_peak(std::atomic<int64_t>& peak, int64_t value) {
  int64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}
}  // namespace

std::string memory_category_name(MemoryCategory category) {
  switch (category) {
    case MemoryCategory::parameters: return "parameters";
    case MemoryCategory::gradients: return "gradients";
    case MemoryCategory::optimizer_state: return "optimizer_state";
    case MemoryCategory::activations: return "activations";
    case MemoryCategory::workspace: return "workspace";
    case MemoryCategory::communication: return "communication";
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

MemoryCategoryScope::~MemoryCategoryScope() { t_category = previous_; }

MemoryCategory current_memory_category() { return t_category; }

Storage::Storage(size_t bytes, Device device, MemoryCategory category)
    : bytes_(bytes), device_(device), category_(category) {
  if (device == Device::cuda) {
    data_ = cuda::allocate(bytes == 0 ? 1 : bytes);
  } else {
    const size_t rounded = ((bytes + 63) / 64) * 64;
    data_ = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (data_ == nullptr) throw std::bad_alloc();
  }
  MemoryTracker::instance().on_allocate(category, bytes);
}

Storage::~Storage() {
  MemoryTracker::instance().on_free(category_, bytes_);
  if (device_ == Device::cuda) {
    try {
      cuda::deallocate(data_);
    } catch (...) {  // a destructor must not throw; the buffer is lost with the device
    }
  } else {
    std::free(data_);
  }
}

std::string device_name(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }

}  // namespace loom
