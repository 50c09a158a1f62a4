// The op test harness: input generation and the forward, gradient and autograd checks.
#include "op_harness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "autograd/tape.h"

namespace loom::testing {

namespace {

constexpr double kFiniteDifferenceStep = 1e-6;  // in double: truncation ~1e-12, rounding ~1e-10
constexpr double kAutogradTolerance = 1e-6;     // the tape runs the same kernels

// The op's inputs as tensors and, the very same values, as doubles.
struct Inputs {
  std::vector<Tensor> tensors;
  std::vector<Values> values;
};

// Seeded from the case name (FNV-1a), so every run of a case sees the same numbers.
uint64_t seed_of(const std::string& name) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : name) hash = (hash ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  return hash;
}

std::vector<float> uniform_floats(std::mt19937_64& rng, int64_t count, double low, double high) {
  std::uniform_real_distribution<double> distribution(low, high);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& value : values) value = static_cast<float>(distribution(rng));
  return values;
}

Inputs make_inputs(const OpCase& op_case) {
  std::mt19937_64 rng(seed_of(op_case.name));
  Inputs inputs;
  for (const OpInput& input : op_case.inputs) {
    if (input.is_ids) {
      inputs.tensors.push_back(Tensor::from_ints(input.ids, input.shape));
      inputs.values.emplace_back(input.ids.begin(), input.ids.end());
    } else {
      const std::vector<float> values = uniform_floats(rng, shape_numel(input.shape), input.low, input.high);
      inputs.tensors.push_back(Tensor::from_vector(values, input.shape));
      inputs.values.emplace_back(values.begin(), values.end());
    }
  }
  return inputs;
}

// The fixed weights R of L = sum over outputs of sum(out * R), one per output.
std::vector<Tensor> loss_weights(const OpCase& op_case, const std::vector<Tensor>& outputs) {
  std::mt19937_64 rng(seed_of(op_case.name) ^ 0x5eedULL);
  std::vector<Tensor> weights;
  for (const Tensor& output : outputs) {
    weights.push_back(Tensor::from_vector(uniform_floats(rng, output.numel(), -1.0, 1.0), output.shape()));
  }
  return weights;
}

double reference_loss(const OpCase& op_case, const std::vector<Values>& values,
                      const std::vector<std::vector<float>>& weights) {
  const std::vector<Values> outputs = op_case.reference(values);
  double loss = 0.0;
  for (size_t o = 0; o < outputs.size(); ++o) {
    for (size_t i = 0; i < outputs[o].size(); ++i) loss += outputs[o][i] * double(weights[o][i]);
  }
  return loss;
}

// The elements of input `index` whose gradient is checked: all of them, or for a large input
// op_case.gradient_samples of them, always including the first and the last.
std::vector<size_t> checked_elements(const OpCase& op_case, size_t index, size_t count) {
  std::vector<size_t> elements;
  const auto samples = static_cast<size_t>(op_case.gradient_samples);
  if (samples == 0 || samples >= count) {
    for (size_t e = 0; e < count; ++e) elements.push_back(e);
    return elements;
  }
  std::mt19937_64 rng(seed_of(op_case.name) + index);
  std::uniform_int_distribution<size_t> pick(1, count - 2);
  elements = {0, count - 1};
  while (elements.size() < samples) elements.push_back(pick(rng));
  return elements;
}

std::vector<bool> differentiable_mask(const OpCase& op_case) {
  std::vector<bool> mask;
  for (const OpInput& input : op_case.inputs) mask.push_back(!input.is_ids);
  return mask;
}

}  // namespace

OpInput floats(Shape shape, double low, double high) {
  OpInput input;
  input.shape = std::move(shape);
  input.low = low;
  input.high = high;
  return input;
}

OpInput int_ids(Shape shape, std::vector<int32_t> values) {
  OpInput input;
  input.shape = std::move(shape);
  input.ids = std::move(values);
  input.is_ids = true;
  return input;
}

void PrintTo(const OpCase& op_case, std::ostream* out) {
  *out << op_case.name;
}

std::vector<int32_t> as_ids(const Values& values) {
  std::vector<int32_t> ids;
  for (double value : values) ids.push_back(static_cast<int32_t>(value));
  return ids;
}

double scaled_error(const std::vector<float>& got, const Values& want, double min_scale) {
  EXPECT_EQ(got.size(), want.size());
  double max_error = 0.0;
  double max_want = 0.0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    max_error = std::max(max_error, std::abs(double(got[i]) - want[i]));
    max_want = std::max(max_want, std::abs(want[i]));
  }
  if (std::isnan(max_error) || std::any_of(got.begin(), got.end(), [](float v) { return std::isnan(v); })) {
    return std::numeric_limits<double>::infinity();
  }
  return max_error / std::max({max_want, min_scale, 1e-6});
}

void check_forward(const OpCase& op_case) {
  const Inputs inputs = make_inputs(op_case);
  const OpRun run = op_case.forward(inputs.tensors);
  const std::vector<Values> want = op_case.reference(inputs.values);
  ASSERT_EQ(run.outputs.size(), want.size());
  for (size_t o = 0; o < want.size(); ++o) {
    EXPECT_LE(scaled_error(run.outputs[o].to_vector(), want[o]), op_case.forward_tolerance) << "output " << o;
  }
  EXPECT_DOUBLE_EQ(run.op->forward_flops(), op_case.flops);
}

void check_gradient(const OpCase& op_case) {
  const Inputs inputs = make_inputs(op_case);
  const std::vector<bool> needs = differentiable_mask(op_case);
  OpRun run = op_case.forward(inputs.tensors);
  const std::vector<Tensor> weights = loss_weights(op_case, run.outputs);
  std::vector<std::vector<float>> weight_values;
  for (const Tensor& weight : weights) weight_values.push_back(weight.to_vector());
  const std::vector<Tensor> grads = run.op->backward(weights, needs);
  ASSERT_EQ(grads.size(), inputs.tensors.size());

  // Central differences of the double reference at the checked elements of every input.
  std::vector<std::vector<size_t>> checked(inputs.tensors.size());
  std::vector<Values> numeric(inputs.tensors.size());
  double case_scale = 0.0;  // the largest gradient magnitude over all inputs
  for (size_t i = 0; i < inputs.tensors.size(); ++i) {
    if (!needs[i]) continue;
    checked[i] = checked_elements(op_case, i, inputs.values[i].size());
    std::vector<Values> values = inputs.values;
    for (size_t e : checked[i]) {
      const double original = values[i][e];
      values[i][e] = original + kFiniteDifferenceStep;
      const double plus = reference_loss(op_case, values, weight_values);
      values[i][e] = original - kFiniteDifferenceStep;
      const double minus = reference_loss(op_case, values, weight_values);
      values[i][e] = original;
      numeric[i].push_back((plus - minus) / (2.0 * kFiniteDifferenceStep));
      case_scale = std::max(case_scale, std::abs(numeric[i].back()));
    }
  }

  for (size_t i = 0; i < inputs.tensors.size(); ++i) {
    if (!needs[i]) {
      EXPECT_FALSE(grads[i].defined()) << "input " << i << " is not differentiable but got a gradient";
      continue;
    }
    ASSERT_TRUE(grads[i].defined()) << "no gradient for input " << i;
    ASSERT_EQ(grads[i].shape(), inputs.tensors[i].shape()) << "input " << i;
    const std::vector<float> analytic_all = grads[i].to_vector();
    std::vector<float> analytic;
    for (size_t e : checked[i]) analytic.push_back(analytic_all[e]);
    // Relative to this input's largest gradient, but an input whose true gradient is (nearly)
    // zero, such as q and k when T = 1, is measured against the case's scale: fp32 leaves ~1e-8.
    EXPECT_LE(scaled_error(analytic, numeric[i], 1e-3 * case_scale), op_case.gradient_tolerance) << "input " << i;

    // Asked for input i alone, the op returns just that gradient, and the same one.
    std::vector<bool> only(needs.size(), false);
    only[i] = true;
    OpRun single = op_case.forward(inputs.tensors);
    const std::vector<Tensor> single_grads = single.op->backward(weights, only);
    ASSERT_EQ(single_grads.size(), needs.size());
    const std::vector<float> all_together = grads[i].to_vector();
    for (size_t j = 0; j < needs.size(); ++j) {
      if (j == i) {
        ASSERT_TRUE(single_grads[j].defined()) << "input " << i << " asked alone";
        EXPECT_LE(scaled_error(single_grads[j].to_vector(), Values(all_together.begin(), all_together.end())),
                  kAutogradTolerance)
            << "input " << i << " asked alone";
      } else {
        EXPECT_FALSE(single_grads[j].defined()) << "input " << j << " not asked for but returned";
      }
    }
  }
}

void check_autograd(const OpCase& op_case) {
  const Inputs inputs = make_inputs(op_case);
  const std::vector<bool> needs = differentiable_mask(op_case);
  OpRun run = op_case.forward(inputs.tensors);
  const std::vector<Tensor> weights = loss_weights(op_case, run.outputs);
  const std::vector<Tensor> direct = run.op->backward(weights, needs);

  std::vector<autograd::Var> vars;
  for (size_t i = 0; i < inputs.tensors.size(); ++i) vars.emplace_back(inputs.tensors[i], needs[i]);
  autograd::Tape tape;
  std::vector<autograd::Var> outputs;
  {
    autograd::TapeScope scope(tape);
    outputs = op_case.differentiable(vars);
  }
  ASSERT_EQ(outputs.size(), weights.size());
  EXPECT_DOUBLE_EQ(tape.forward_flops(), op_case.flops);
  tape.backward(outputs, weights);
  EXPECT_TRUE(tape.empty());
  for (size_t i = 0; i < vars.size(); ++i) {
    if (!needs[i]) {
      EXPECT_FALSE(vars[i].grad().defined()) << "input " << i;
      continue;
    }
    ASSERT_TRUE(vars[i].grad().defined()) << "no tape gradient for input " << i;
    const std::vector<float> want = direct[i].to_vector();
    EXPECT_LE(scaled_error(vars[i].grad().to_vector(), Values(want.begin(), want.end())), kAutogradTolerance)
        << "input " << i;
  }
}

}  // namespace loom::testing
