// Tape: the record of primitives applied during a forward, replayed in reverse by backward().
// A tape's scope is whatever ran while it was current: a whole model, or one layer for one
// micro-batch (the pipeline runtime runs one stage's backward per micro-batch; recompute drops a
// layer's tape and records it again before the backward). Ops record only while a tape is
// current on the thread and one of their inputs requires a gradient.
#pragma once

#include <memory>
#include <vector>

#include "autograd/variable.h"
#include "ops/primitive.h"

namespace loom::autograd {

class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // Appends one applied primitive; outputs get fresh slots (returned in order).
  std::vector<Var> record(std::shared_ptr<ops::Primitive> op, const std::vector<Var>& inputs,
                          std::vector<Tensor> outputs);

  // Seeds the roots with the given gradients and runs every recorded backward in reverse,
  // accumulating into parameters and into Vars from outside the tape (layer inputs). Releases
  // each node (and the activations it saved) as soon as it has run; the tape is empty after.
  void backward(const std::vector<Var>& roots, const std::vector<Tensor>& seeds);
  void backward(const Var& scalar_loss);  // seed 1

  size_t size() const { return nodes_.size(); }
  bool empty() const { return nodes_.empty(); }
  void clear() { nodes_.clear(); }
  // FLOPs of everything recorded (forward) and of its backward.
  double forward_flops() const;
  double backward_flops() const;

 private:
  struct Node {
    std::shared_ptr<ops::Primitive> op;
    std::vector<std::shared_ptr<GradSlot>> inputs;  // null for inputs that need no gradient
    std::vector<std::shared_ptr<GradSlot>> outputs;  // slots hold gradients only, never values
    std::vector<Shape> output_shapes;
  };
  std::vector<Node> nodes_;
};

// Makes a tape current on this thread while it lives (nesting restores the previous one).
class TapeScope {
 public:
  explicit TapeScope(Tape& tape);
  ~TapeScope();
  TapeScope(const TapeScope&) = delete;
  TapeScope& operator=(const TapeScope&) = delete;

 private:
  Tape* previous_;
};

// Suspends recording on this thread while it lives (inference, recompute's first forward).
class NoGradScope {
 public:
  NoGradScope();
  ~NoGradScope();
  NoGradScope(const NoGradScope&) = delete;
  NoGradScope& operator=(const NoGradScope&) = delete;

 private:
  Tape* previous_;
};

Tape* current_tape();

// The one entry point ops use: records when a tape is current and an input needs a gradient,
// otherwise wraps the outputs as constants.
std::vector<Var> apply(std::shared_ptr<ops::Primitive> op, const std::vector<Var>& inputs,
                       std::vector<Tensor> outputs);
Var apply_one(std::shared_ptr<ops::Primitive> op, const std::vector<Var>& inputs, Tensor output);

}  // namespace loom::autograd
