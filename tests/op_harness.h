// The table-driven op test harness. An OpCase declares an op's inputs, tolerances and FLOPs and
// how to run it three ways: the fp32 primitive, the double-precision reference forward, and the
// differentiable function on an autograd tape. The checks:
//   forward   fp32 outputs against the reference, relative to the reference's largest magnitude;
//   gradient  the primitive's backward of L = sum(out * R) (R random, fixed) against central
//             differences of the double reference (at every element, or at a sample of a large
//             input's), relative to the gradient's largest magnitude; and needs_input_grad
//             honoured (undefined where not asked for);
//   autograd  the tape's gradients equal the primitive's direct backward.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "core/tensor.h"
#include "ops/primitive.h"
#include "ops/reference/reference.h"

namespace loom::testing {

using ops::reference::Values;

// One input: a float tensor drawn uniformly from [low, high), or fixed integer ids.
struct OpInput {
  Shape shape;
  double low = -1.0;
  double high = 1.0;
  std::vector<int32_t> ids;  // non-empty (or a zero-size shape with is_ids): an i32 input, never differentiable
  bool is_ids = false;
};

OpInput floats(Shape shape, double low = -1.0, double high = 1.0);
OpInput int_ids(Shape shape, std::vector<int32_t> values);

// A primitive after its forward, with the outputs it returned.
struct OpRun {
  std::shared_ptr<ops::Primitive> op;
  std::vector<Tensor> outputs;
};

struct OpCase {
  std::string name;  // the test's name: letters, digits and underscores
  std::vector<OpInput> inputs;
  double forward_tolerance = 1e-5;   // max |fp32 - reference| / max |reference|
  double gradient_tolerance = 1e-3;  // max |analytic - numeric| / max |numeric|
  int64_t gradient_samples = 0;      // finite differences at this many elements per input (0: all)
  double flops = 0.0;                // the expected forward_flops()
  // Builds the primitive and runs its forward.
  std::function<OpRun(const std::vector<Tensor>&)> forward;
  // The double reference forward; integer inputs arrive as doubles (see as_ids).
  std::function<std::vector<Values>(const std::vector<Values>&)> reference;
  // The same op through autograd/functions.h.
  std::function<std::vector<autograd::Var>(const std::vector<autograd::Var>&)> differentiable;
};

// gtest prints a parameter with this (the name, not the bytes).
void PrintTo(const OpCase& op_case, std::ostream* out);

std::vector<int32_t> as_ids(const Values& values);

// max |got - want| / max(max |want|, min_scale, 1e-6).
double scaled_error(const std::vector<float>& got, const Values& want, double min_scale = 0.0);

// The three checks; each reports through gtest's EXPECT macros.
void check_forward(const OpCase& op_case);
void check_gradient(const OpCase& op_case);
void check_autograd(const OpCase& op_case);

}  // namespace loom::testing
