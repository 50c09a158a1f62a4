// Primitive: one operation with its forward and its backward (the vector-Jacobian product).
// A primitive object is created per call: forward() computes the outputs and saves what the
// backward needs; backward() turns output gradients into input gradients. The autograd tape
// keeps the object alive between the two, so its saved tensors are the activations it holds.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace loom::ops {

class Primitive {
 public:
  virtual ~Primitive() = default;
  virtual std::string name() const = 0;

  // Input gradients from output gradients. An output gradient may be undefined only when the
  // tape knows it is zero and the op can skip it; needs_input_grad[i] false allows returning an
  // undefined tensor for input i.
  virtual std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                                       const std::vector<bool>& needs_input_grad) = 0;

  // FLOPs of the forward and the backward as executed (multiply-add = 2 FLOPs).
  virtual double forward_flops() const { return 0.0; }
  virtual double backward_flops() const { return 2.0 * forward_flops(); }
};

// Ops run on the CPU here; a tensor on another device reaches the backend seam, which reports
// that the op has no implementation there.
void require_cpu(const Tensor& tensor, const char* op_name);

}  // namespace loom::ops
