// Tensor construction, views and copies.
#include "core/tensor.h"

#include <cstring>

#include "core/error.h"

namespace loom {

int64_t shape_numel(const Shape& shape) {
  int64_t count = 1;
  for (int64_t extent : shape) count *= extent;
  return count;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t extent : shape) {
    LOOM_CHECK(extent >= 0, "negative extent in shape {}", shape_str(shape));
  }
  Tensor tensor;
  tensor.shape_ = shape;
  tensor.strides_ = contiguous_strides(shape);
  tensor.dtype_ = dtype;
  tensor.storage_ = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size_bytes(dtype),
                                              device, current_memory_category());
  return tensor;
}

Tensor Tensor::empty_in(const Shape& shape, MemoryCategory category, DType dtype) {
  MemoryCategoryScope scope(category);
  return empty(shape, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor tensor = empty(shape, dtype);
  std::memset(tensor.raw_data(), 0, tensor.nbytes());
  return tensor;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor tensor = empty(shape);
  tensor.fill(value);
  return tensor;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  LOOM_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "{} values for shape {}",
             values.size(), shape_str(shape));
  Tensor tensor = empty(shape);
  std::memcpy(tensor.raw_data(), values.data(), values.size() * sizeof(float));
  return tensor;
}

Tensor Tensor::from_ints(const std::vector<int32_t>& values, const Shape& shape) {
  LOOM_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "{} values for shape {}",
             values.size(), shape_str(shape));
  Tensor tensor = empty(shape, DType::i32);
  std::memcpy(tensor.raw_data(), values.data(), values.size() * sizeof(int32_t));
  return tensor;
}

int64_t Tensor::dim(int axis) const {
  const int n = ndim();
  const int resolved = axis < 0 ? axis + n : axis;
  LOOM_CHECK(resolved >= 0 && resolved < n, "axis {} out of range for {}", axis, describe());
  return shape_[static_cast<size_t>(resolved)];
}

Device Tensor::device() const { return storage_ ? storage_->device() : Device::cpu; }

MemoryCategory Tensor::category() const {
  LOOM_CHECK(defined(), "category of an undefined tensor");
  return storage_->category();
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

void* Tensor::raw_data() const {
  LOOM_CHECK(defined(), "data of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size_bytes(dtype_));
}

float* Tensor::f32() const {
  LOOM_CHECK(dtype_ == DType::f32, "expected f32, got {}", describe());
  return data<float>();
}

int32_t* Tensor::i32() const {
  LOOM_CHECK(dtype_ == DType::i32, "expected i32, got {}", describe());
  return data<int32_t>();
}

Tensor Tensor::reshape(const Shape& shape) const {
  LOOM_CHECK(is_contiguous(), "reshape of a non-contiguous {}", describe());
  Shape resolved = shape;
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      LOOM_CHECK(inferred < 0, "two -1 extents in {}", shape_str(shape));
      inferred = static_cast<int>(i);
    } else {
      known *= resolved[i];
    }
  }
  if (inferred >= 0) resolved[static_cast<size_t>(inferred)] = known == 0 ? 0 : numel() / known;
  LOOM_CHECK(shape_numel(resolved) == numel(), "cannot reshape {} to {}", describe(), shape_str(shape));
  Tensor view = *this;
  view.shape_ = resolved;
  view.strides_ = contiguous_strides(resolved);
  return view;
}

Tensor Tensor::slice(int axis, int64_t start, int64_t end) const {
  const int resolved = axis < 0 ? axis + ndim() : axis;
  LOOM_CHECK(resolved >= 0 && resolved < ndim(), "axis {} out of range for {}", axis, describe());
  const auto a = static_cast<size_t>(resolved);
  LOOM_CHECK(0 <= start && start <= end && end <= shape_[a], "slice [{}, {}) of axis {} in {}", start,
             end, axis, describe());
  Tensor view = *this;
  view.offset_ += start * strides_[a];
  view.shape_[a] = end - start;
  return view;
}

Tensor Tensor::transpose(int axis0, int axis1) const {
  const int n = ndim();
  const int a0 = axis0 < 0 ? axis0 + n : axis0;
  const int a1 = axis1 < 0 ? axis1 + n : axis1;
  LOOM_CHECK(a0 >= 0 && a0 < n && a1 >= 0 && a1 < n, "transpose({}, {}) of {}", axis0, axis1, describe());
  Tensor view = *this;
  std::swap(view.shape_[static_cast<size_t>(a0)], view.shape_[static_cast<size_t>(a1)]);
  std::swap(view.strides_[static_cast<size_t>(a0)], view.strides_[static_cast<size_t>(a1)]);
  return view;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor copy = empty(shape_, dtype_);
  copy.copy_from(*this);
  return copy;
}

Tensor Tensor::clone() const {
  Tensor copy = empty(shape_, dtype_);
  copy.copy_from(*this);
  return copy;
}

void Tensor::copy_from(const Tensor& source) {
  LOOM_CHECK(shape_ == source.shape_ && dtype_ == source.dtype_, "copy {} into {}", source.describe(),
             describe());
  LOOM_CHECK(is_contiguous(), "copy into a non-contiguous {}", describe());
  LOOM_CHECK(device() == Device::cpu && source.device() == Device::cpu, "copy_from is CPU only");
  const size_t element = dtype_size_bytes(dtype_);
  if (source.is_contiguous()) {
    std::memcpy(raw_data(), source.raw_data(), nbytes());
    return;
  }
  // Strided gather: walk the destination in order, computing each source offset.
  const int n = ndim();
  const int64_t count = numel();
  const char* src = static_cast<const char*>(source.raw_data());
  char* dst = static_cast<char*>(raw_data());
#pragma omp parallel for schedule(static) if (count > 65536)
  for (int64_t linear = 0; linear < count; ++linear) {
    int64_t remaining = linear;
    int64_t source_offset = 0;
    for (int axis = n - 1; axis >= 0; --axis) {
      const auto a = static_cast<size_t>(axis);
      const int64_t index = remaining % shape_[a];
      remaining /= shape_[a];
      source_offset += index * source.strides_[a];
    }
    std::memcpy(dst + linear * static_cast<int64_t>(element), src + source_offset * static_cast<int64_t>(element),
                element);
  }
}

void Tensor::fill(float value) {
  LOOM_CHECK(is_contiguous(), "fill of a non-contiguous {}", describe());
  float* values = f32();
  const int64_t count = numel();
  for (int64_t i = 0; i < count; ++i) values[i] = value;
}

void Tensor::zero() {
  LOOM_CHECK(is_contiguous(), "zero of a non-contiguous {}", describe());
  std::memset(raw_data(), 0, nbytes());
}

std::vector<float> Tensor::to_vector() const {
  const Tensor dense = contiguous();
  std::vector<float> values(static_cast<size_t>(numel()));
  if (dtype_ == DType::f32) {
    std::memcpy(values.data(), dense.raw_data(), values.size() * sizeof(float));
  } else if (dtype_ == DType::bf16) {
    convert_bf16_to_f32(dense.data<BFloat16>(), values.data(), values.size());
  } else if (dtype_ == DType::i32) {
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(dense.data<int32_t>()[i]);
  } else {
    LOOM_CHECK(false, "to_vector of {}", describe());
  }
  return values;
}

float Tensor::item() const {
  LOOM_CHECK(numel() == 1, "item() of {}", describe());
  return to_vector()[0];
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return dtype_name(dtype_) + shape_str(shape_);
}

}  // namespace loom
