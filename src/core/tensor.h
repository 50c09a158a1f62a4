// Tensor: a shape, strides and an offset into a shared, counted Storage. Views (reshape of a
// contiguous tensor, slices along one dimension, transposes) share storage; kernels ask for
// contiguous inputs and call contiguous() when a view is not.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/memory.h"

namespace loom {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage

  // New tensors are allocated under the current MemoryCategoryScope unless a category is given.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor empty_in(const Shape& shape, MemoryCategory category, DType dtype = DType::f32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32);
  static Tensor full(const Shape& shape, float value);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_ints(const std::vector<int32_t>& values, const Shape& shape);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int axis) const;  // negative axes count from the end
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size_bytes(dtype_); }
  bool is_contiguous() const;
  MemoryCategory category() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  void* raw_data() const;
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }
  float* f32() const;      // checks dtype f32
  int32_t* i32() const;    // checks dtype i32

  // Views sharing storage.
  Tensor reshape(const Shape& shape) const;  // contiguous only; one dimension may be -1
  Tensor slice(int axis, int64_t start, int64_t end) const;
  Tensor transpose(int axis0, int axis1) const;

  // Copies.
  Tensor contiguous() const;  // this tensor if already contiguous
  Tensor clone() const;       // always a new buffer, same category as the current scope
  void copy_from(const Tensor& source);  // same shape and dtype; handles strided sources
  void fill(float value);
  void zero();

  std::vector<float> to_vector() const;  // f32 values in logical order
  float item() const;                    // the single value of a one-element f32 tensor
  std::string describe() const;          // "f32[2, 3]"

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Shape strides_;
  int64_t offset_ = 0;  // in elements
  DType dtype_ = DType::f32;
};

}  // namespace loom
