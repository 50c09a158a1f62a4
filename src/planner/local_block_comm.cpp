// The stand-in collectives of LocalBlockComm. Each mirrors the buffers of its counterpart in
// parallel/tensor_parallel.cpp (output, packing blocks in the communication category) so that
// the measured bytes are the runtime's; where the runtime would receive other ranks' data it
// copies its own.
#include "planner/local_block_comm.h"

#include <cstring>
#include <memory>

#include "autograd/tape.h"
#include "core/error.h"
#include "ops/primitive.h"

namespace loom::planner {

namespace {

using autograd::Var;

// [B, t, C] -> [B, parts * t, C] made of `parts` copies of x along dimension 1, through the
// buffers an all-gather along the sequence uses.
Tensor gather_copies(const Tensor& x_in, int parts) {
  const Tensor x = x_in.contiguous();
  LOOM_CHECK(x.ndim() == 3, "local sequence gather expects [B, T, C], got {}", x.describe());
  Shape full_shape = x.shape();
  full_shape[1] *= parts;
  Tensor out = Tensor::empty(full_shape);
  const int64_t outer = x.dim(0);
  const int64_t piece_row = x.dim(1) * x.dim(2);
  const auto piece_bytes = static_cast<size_t>(piece_row) * sizeof(float);
  if (outer == 1) {  // the all-gather writes whole pieces straight into the output
    for (int p = 0; p < parts; ++p) std::memcpy(out.f32() + p * piece_row, x.f32(), piece_bytes);
    return out;
  }
  // What the all-gather delivers: block p is rank p's piece (here every block is ours).
  Tensor blocks = Tensor::empty_in({x.numel() * parts}, MemoryCategory::communication);
  for (int p = 0; p < parts; ++p)
    std::memcpy(blocks.f32() + p * x.numel(), x.f32(), static_cast<size_t>(x.numel()) * sizeof(float));
  for (int p = 0; p < parts; ++p)
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(out.f32() + (o * parts + p) * piece_row, blocks.f32() + (p * outer + o) * piece_row, piece_bytes);
  return out;
}

// [B, T, C] -> [B, T / parts, C]: this rank's slice along dimension 1, through the buffers a
// reduce-scatter along the sequence uses.
Tensor keep_slice(const Tensor& x_in, int parts) {
  const Tensor x = x_in.contiguous();
  LOOM_CHECK(x.ndim() == 3 && x.dim(1) % parts == 0, "local sequence scatter of {} over {} ranks", x.describe(), parts);
  Shape piece_shape = x.shape();
  piece_shape[1] /= parts;
  Tensor out = Tensor::empty(piece_shape);
  const int64_t outer = x.dim(0);
  const int64_t piece_row = piece_shape[1] * piece_shape[2];
  const auto piece_bytes = static_cast<size_t>(piece_row) * sizeof(float);
  const float* send = x.f32();
  Tensor blocks;
  if (outer != 1) {  // pack the pieces rank by rank, as the reduce-scatter reads them
    blocks = Tensor::empty_in({x.numel()}, MemoryCategory::communication);
    for (int p = 0; p < parts; ++p)
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(blocks.f32() + (p * outer + o) * piece_row, x.f32() + (o * parts + p) * piece_row, piece_bytes);
    send = blocks.f32();
  }
  // The group's sum of block 0 would arrive here; this rank's own block stands for it.
  std::memcpy(out.f32(), send, static_cast<size_t>(out.numel()) * sizeof(float));
  return out;
}

// A new buffer where the runtime all-reduces into one (the sum itself is the comm model's).
Tensor copy_of(const Tensor& x) {
  return x.contiguous().clone();
}

// Megatron's f without the group: identity forward, a copy of the gradient backward.
class LocalCopyToGroup final : public ops::Primitive {
 public:
  std::string name() const override { return "local_copy_to_group"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads, const std::vector<bool>&) override {
    return {copy_of(output_grads.at(0))};
  }
};

// Megatron's g without the group: a copy forward, identity backward.
class LocalReduceFromGroup final : public ops::Primitive {
 public:
  std::string name() const override { return "local_reduce_from_group"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads, const std::vector<bool>&) override {
    return {output_grads.at(0)};
  }
};

class LocalGatherSequence final : public ops::Primitive {
 public:
  explicit LocalGatherSequence(int parts) : parts_(parts) {}
  std::string name() const override { return "local_gather_sequence"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads, const std::vector<bool>&) override {
    return {keep_slice(output_grads.at(0), parts_)};
  }

 private:
  int parts_;
};

class LocalScatterSequence final : public ops::Primitive {
 public:
  explicit LocalScatterSequence(int parts) : parts_(parts) {}
  std::string name() const override { return "local_scatter_sequence"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads, const std::vector<bool>&) override {
    return {gather_copies(output_grads.at(0), parts_)};
  }

 private:
  int parts_;
};

}  // namespace

LocalBlockComm::LocalBlockComm(int degree, bool sequence_parallel)
    : degree_(degree), sequence_parallel_(sequence_parallel) {
  LOOM_CHECK(degree >= 1, "LocalBlockComm of degree {}", degree);
}

Var LocalBlockComm::enter(const Var& x) const {
  if (degree_ == 1) return x;
  if (sequence_parallel_)
    return autograd::apply_one(std::make_shared<LocalGatherSequence>(degree_), {x}, gather_copies(x.value(), degree_));
  return autograd::apply_one(std::make_shared<LocalCopyToGroup>(), {x}, x.value());
}

Var LocalBlockComm::leave(const Var& x) const {
  if (degree_ == 1) return x;
  if (sequence_parallel_)
    return autograd::apply_one(std::make_shared<LocalScatterSequence>(degree_), {x}, keep_slice(x.value(), degree_));
  return autograd::apply_one(std::make_shared<LocalReduceFromGroup>(), {x}, copy_of(x.value()));
}

}  // namespace loom::planner
