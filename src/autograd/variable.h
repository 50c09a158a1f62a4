// Var: a tensor value together with, when it takes part in differentiation, a gradient slot.
// Copies of a Var share the slot. The tape refers to slots, not values, so a value is freed as
// soon as neither user code nor a primitive's saved state holds it: measured activation memory
// is what the ops really keep.
#pragma once

#include <memory>
#include <string>

#include "core/tensor.h"

namespace loom::autograd {

// Where a Var's gradient accumulates.
struct GradSlot {
  Tensor grad;                // undefined until something flows in
  bool is_parameter = false;  // parameters keep a persistent buffer in the gradients category
  std::string name;
};

class Var {
 public:
  Var() = default;
  // A constant (no gradient) or a differentiable leaf.
  explicit Var(Tensor value, bool requires_grad = false);
  // A trainable parameter: its gradient lives in MemoryCategory::gradients.
  static Var parameter(Tensor value, std::string name);

  bool defined() const { return value_.defined(); }
  const Tensor& value() const { return value_; }
  Tensor& mutable_value() { return value_; }
  bool requires_grad() const { return slot_ != nullptr; }
  const std::shared_ptr<GradSlot>& slot() const { return slot_; }

  const Tensor& grad() const;        // undefined tensor when no gradient has arrived
  void accumulate_grad(const Tensor& gradient);
  void zero_grad();                  // keeps a parameter's buffer, zeroed
  void clear_grad();                 // drops the buffer
  const std::string& name() const;

  // Convenience views of the value.
  const Shape& shape() const { return value_.shape(); }

  // Internal: a Var for a recorded op output with a fresh slot.
  static Var with_slot(Tensor value, std::shared_ptr<GradSlot> slot);

 private:
  Tensor value_;
  std::shared_ptr<GradSlot> slot_;
};

// Adds `gradient` into a slot (takes the tensor when the slot is empty and not a parameter).
void accumulate_into(GradSlot& slot, const Tensor& gradient);

}  // namespace loom::autograd
