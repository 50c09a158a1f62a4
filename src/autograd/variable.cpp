// Var and gradient accumulation.
#include "autograd/variable.h"

#include <cstring>

#include "core/error.h"

namespace loom::autograd {

Var::Var(Tensor value, bool requires_grad) : value_(std::move(value)) {
  if (requires_grad) slot_ = std::make_shared<GradSlot>();
}

Var Var::parameter(Tensor value, std::string name) {
  Var var(std::move(value), true);
  var.slot_->is_parameter = true;
  var.slot_->name = std::move(name);
  return var;
}

Var Var::with_slot(Tensor value, std::shared_ptr<GradSlot> slot) {
  Var var;
  var.value_ = std::move(value);
  var.slot_ = std::move(slot);
  return var;
}

const Tensor& Var::grad() const {
  static const Tensor kUndefined;
  return slot_ ? slot_->grad : kUndefined;
}

void Var::accumulate_grad(const Tensor& gradient) {
  LOOM_CHECK(slot_ != nullptr, "accumulate_grad on a Var that does not require grad");
  accumulate_into(*slot_, gradient);
}

void Var::zero_grad() {
  if (slot_ && slot_->grad.defined()) slot_->grad.zero();
}

void Var::clear_grad() {
  if (slot_) slot_->grad = Tensor();
}

const std::string& Var::name() const {
  static const std::string kEmpty;
  return slot_ ? slot_->name : kEmpty;
}

void accumulate_into(GradSlot& slot, const Tensor& gradient) {
  if (!gradient.defined()) return;
  if (!slot.grad.defined()) {
    if (!slot.is_parameter) {
      slot.grad = gradient;
      return;
    }
    slot.grad = Tensor::empty_in(gradient.shape(), MemoryCategory::gradients);
    slot.grad.copy_from(gradient);
    return;
  }
  LOOM_CHECK(slot.grad.shape() == gradient.shape(), "gradient {} for a slot holding {}",
             gradient.describe(), slot.grad.describe());
  if (slot.grad.storage() == gradient.storage()) {  // never alias: copy before adding in place
    Tensor copy = gradient.clone();
    accumulate_into(slot, copy);
    return;
  }
  if (!slot.is_parameter && slot.grad.storage().use_count() > 1) {
    slot.grad = slot.grad.clone();  // the taken tensor may be shared; do not write through it
  }
  const Tensor source = gradient.contiguous();
  float* dst = slot.grad.f32();
  const float* src = source.f32();
  const int64_t count = gradient.numel();
#pragma omp parallel for simd schedule(static) if (count > 65536)
  for (int64_t i = 0; i < count; ++i) dst[i] += src[i];
}

}  // namespace loom::autograd
