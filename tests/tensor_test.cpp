// Tensor views, copies, bf16 conversion and memory accounting.
#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/memory.h"
#include "core/tensor.h"

namespace loom {
namespace {

TEST(Tensor, ReshapeSliceTransposeShareStorage) {
  Tensor t = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor r = t.reshape({3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(r.storage(), t.storage());
  Tensor s = t.slice(1, 1, 3);
  EXPECT_EQ(s.to_vector(), (std::vector<float>{1, 2, 4, 5}));
  Tensor tr = t.transpose(0, 1);
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_EQ(tr.contiguous().to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Tensor, Bf16RoundTripRoundsToNearestEven) {
  EXPECT_EQ(BFloat16::from_float(1.0f).to_float(), 1.0f);
  // 1 + 2^-8 lies halfway between two bf16 values; ties go to the even one (1.0).
  EXPECT_EQ(BFloat16::from_float(1.0f + 1.0f / 256.0f).to_float(), 1.0f);
  EXPECT_EQ(BFloat16::from_float(1.0f + 3.0f / 256.0f).to_float(), 1.0f + 4.0f / 256.0f);
  std::vector<float> values{0.5f, -2.25f, 3.0e5f, 1.0e-3f};
  std::vector<BFloat16> packed(values.size());
  std::vector<float> back(values.size());
  convert_f32_to_bf16(values.data(), packed.data(), values.size());
  convert_bf16_to_f32(packed.data(), back.data(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(back[i], values[i], std::abs(values[i]) / 128.0f);
}

TEST(Memory, CountsLiveAndPeakByCategory) {
  auto& tracker = MemoryTracker::instance();
  const int64_t before = tracker.live_bytes(MemoryCategory::optimizer_state);
  tracker.reset_peaks();
  {
    Tensor a = Tensor::empty_in({1000}, MemoryCategory::optimizer_state);
    Tensor b = Tensor::empty_in({500}, MemoryCategory::optimizer_state);
    EXPECT_EQ(tracker.live_bytes(MemoryCategory::optimizer_state), before + 6000);
  }
  EXPECT_EQ(tracker.live_bytes(MemoryCategory::optimizer_state), before);
  EXPECT_EQ(tracker.peak_bytes(MemoryCategory::optimizer_state), before + 6000);
}

}  // namespace
}  // namespace loom
