// Reverse-mode replay of a tape.
#include "autograd/tape.h"

#include "autograd/op_profile.h"
#include "core/error.h"

namespace loom::autograd {

namespace {
thread_local Tape* t_current_tape = nullptr;
}  // namespace

Tape* current_tape() { return t_current_tape; }

TapeScope::TapeScope(Tape& tape) : previous_(t_current_tape) { t_current_tape = &tape; }
TapeScope::~TapeScope() { t_current_tape = previous_; }

NoGradScope::NoGradScope() : previous_(t_current_tape) { t_current_tape = nullptr; }
NoGradScope::~NoGradScope() { t_current_tape = previous_; }

std::vector<Var> Tape::record(std::shared_ptr<ops::Primitive> op, const std::vector<Var>& inputs,
                              std::vector<Tensor> outputs) {
  Node node;
  node.op = std::move(op);
  node.inputs.reserve(inputs.size());
  for (const Var& input : inputs) node.inputs.push_back(input.slot());
  std::vector<Var> result;
  result.reserve(outputs.size());
  for (Tensor& output : outputs) {
    auto slot = std::make_shared<GradSlot>();
    node.outputs.push_back(slot);
    node.output_shapes.push_back(output.shape());
    result.push_back(Var::with_slot(std::move(output), std::move(slot)));
  }
  nodes_.push_back(std::move(node));
  return result;
}

void Tape::backward(const Var& scalar_loss) {
  LOOM_CHECK(scalar_loss.value().numel() == 1, "backward(loss) needs a one-element loss, got {}",
             scalar_loss.value().describe());
  backward({scalar_loss}, {Tensor::full(scalar_loss.shape(), 1.0f)});
}

void Tape::backward(const std::vector<Var>& roots, const std::vector<Tensor>& seeds) {
  LOOM_CHECK_EQ(roots.size(), seeds.size());
  for (size_t i = 0; i < roots.size(); ++i) {
    LOOM_CHECK(roots[i].requires_grad(), "backward root {} does not require grad", i);
    accumulate_into(*roots[i].slot(), seeds[i]);
  }
  for (size_t index = nodes_.size(); index-- > 0;) {
    Node node = std::move(nodes_[index]);
    nodes_.pop_back();
    std::vector<Tensor> output_grads(node.outputs.size());
    bool any = false;
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      if (const auto& slot = node.outputs[o]; slot->grad.defined()) {
        output_grads[o] = std::move(slot->grad);  // an op output's gradient is needed only here
        slot->grad = Tensor();
        any = true;
      }
    }
    if (!any) continue;
    for (size_t o = 0; o < output_grads.size(); ++o) {
      if (!output_grads[o].defined()) output_grads[o] = Tensor::zeros(node.output_shapes[o]);
    }
    std::vector<bool> needs(node.inputs.size());
    bool any_needed = false;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      needs[i] = node.inputs[i] != nullptr;
      any_needed = any_needed || needs[i];
    }
    if (!any_needed) continue;
    std::vector<Tensor> input_grads;
    {
      OpTimer timer(*node.op, true);
      input_grads = node.op->backward(output_grads, needs);
    }
    LOOM_CHECK(input_grads.size() == node.inputs.size(), "{} returned {} gradients for {} inputs",
               node.op->name(), input_grads.size(), node.inputs.size());
    output_grads.clear();
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (needs[i]) accumulate_into(*node.inputs[i], input_grads[i]);
    }
  }
  nodes_.clear();
}

double Tape::forward_flops() const {
  double total = 0.0;
  for (const Node& node : nodes_) total += node.op->forward_flops();
  return total;
}

double Tape::backward_flops() const {
  double total = 0.0;
  for (const Node& node : nodes_) total += node.op->backward_flops();
  return total;
}

std::vector<Var> apply(std::shared_ptr<ops::Primitive> op, const std::vector<Var>& inputs,
                       std::vector<Tensor> outputs) {
  Tape* tape = t_current_tape;
  bool needs_grad = false;
  if (tape != nullptr) {
    for (const Var& input : inputs) needs_grad = needs_grad || input.requires_grad();
  }
  if (!needs_grad) {
    std::vector<Var> result;
    result.reserve(outputs.size());
    for (Tensor& output : outputs) result.emplace_back(std::move(output));
    return result;  // the op (and what it saved) is released here
  }
  return tape->record(std::move(op), inputs, std::move(outputs));
}

Var apply_one(std::shared_ptr<ops::Primitive> op, const std::vector<Var>& inputs, Tensor output) {
  std::vector<Tensor> outputs;
  outputs.push_back(std::move(output));
  return apply(std::move(op), inputs, std::move(outputs)).front();
}

}  // namespace loom::autograd
