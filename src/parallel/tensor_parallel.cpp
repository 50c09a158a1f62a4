// Tensor parallelism: the differentiable collectives (each a Primitive that keeps its group for
// the backward), the BlockComm made of them, the block parameter placements, and the
// vocabulary-parallel embedding and cross-entropy. The collectives move flat blocks, so splitting
// along a dimension packs the pieces in group rank order first and unpacks them after.
#include "parallel/tensor_parallel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "autograd/op_profile.h"
#include "autograd/tape.h"
#include "comm/collectives.h"
#include "core/error.h"
#include "ops/primitive.h"

namespace loom::parallel {

namespace {

using autograd::apply_one;

Tensor contiguous_f32(const Tensor& x, const char* what) {
  ops::require_cpu(x, what);
  LOOM_CHECK(x.dtype() == DType::f32, "{}: expects f32, got {}", what, x.describe());
  return x.contiguous();
}

// A contiguous tensor seen as [outer, along, inner] around one dimension.
struct DimSplit {
  int64_t outer = 1;
  int64_t along = 1;
  int64_t inner = 1;
};

DimSplit split_around(const Shape& shape, int dim) {
  LOOM_CHECK(dim >= 0 && dim < static_cast<int>(shape.size()), "dimension {} of a tensor of shape {}", dim,
             shape_str(shape));
  DimSplit split;
  for (int i = 0; i < dim; ++i) split.outer *= shape[static_cast<size_t>(i)];
  split.along = shape[static_cast<size_t>(dim)];
  for (size_t i = static_cast<size_t>(dim) + 1; i < shape.size(); ++i) split.inner *= shape[i];
  return split;
}

// full [outer, along, inner] -> `parts` consecutive blocks, block p = full[:, p-th piece, :]
// (the layout reduce_scatter reads and all_gather writes).
void pack_pieces(const float* full, float* blocks, const DimSplit& split, int parts) {
  const int64_t piece_row = split.along / parts * split.inner;  // one outer index of one piece
  for (int p = 0; p < parts; ++p)
    for (int64_t o = 0; o < split.outer; ++o)
      std::memcpy(blocks + (p * split.outer + o) * piece_row, full + o * split.along * split.inner + p * piece_row,
                  static_cast<size_t>(piece_row) * sizeof(float));
}

void unpack_pieces(const float* blocks, float* full, const DimSplit& split, int parts) {
  const int64_t piece_row = split.along / parts * split.inner;
  for (int p = 0; p < parts; ++p)
    for (int64_t o = 0; o < split.outer; ++o)
      std::memcpy(full + o * split.along * split.inner + p * piece_row, blocks + (p * split.outer + o) * piece_row,
                  static_cast<size_t>(piece_row) * sizeof(float));
}

// The group's pieces of x concatenated along `dim` in group rank order.
Tensor all_gather_along(const Tensor& x_in, int dim, comm::Communicator& group) {
  const Tensor x = contiguous_f32(x_in, "all-gather along a dimension");
  const int parts = group.size();
  Shape full_shape = x.shape();
  LOOM_CHECK(dim >= 0 && dim < x.ndim(), "all-gather along dimension {} of {}", dim, x.describe());
  full_shape[static_cast<size_t>(dim)] *= parts;
  Tensor out = Tensor::empty(full_shape);
  const DimSplit split = split_around(full_shape, dim);
  const auto count = static_cast<size_t>(x.numel());
  if (split.outer == 1) {  // the pieces are already whole blocks of the output
    comm::all_gather(group, x.f32(), out.f32(), count, DType::f32);
    return out;
  }
  Tensor blocks = Tensor::empty_in({x.numel() * parts}, MemoryCategory::communication);
  comm::all_gather(group, x.f32(), blocks.f32(), count, DType::f32);
  unpack_pieces(blocks.f32(), out.f32(), split, parts);
  return out;
}

// Sum over the group of x, of which this rank keeps its piece along `dim`.
Tensor reduce_scatter_along_dim(const Tensor& x_in, int dim, comm::Communicator& group) {
  const Tensor x = contiguous_f32(x_in, "reduce-scatter along a dimension");
  const int parts = group.size();
  const DimSplit split = split_around(x.shape(), dim);
  LOOM_CHECK(split.along % parts == 0, "reduce-scatter: dimension {} of {} does not split over {} ranks", dim,
             x.describe(), parts);
  Shape piece_shape = x.shape();
  piece_shape[static_cast<size_t>(dim)] /= parts;
  Tensor out = Tensor::empty(piece_shape);
  const float* send = x.f32();
  Tensor blocks;
  if (split.outer != 1) {
    blocks = Tensor::empty_in({x.numel()}, MemoryCategory::communication);
    pack_pieces(x.f32(), blocks.f32(), split, parts);
    send = blocks.f32();
  }
  comm::reduce_scatter(group, send, out.f32(), static_cast<size_t>(out.numel()), DType::f32);
  return out;
}

// A new buffer holding the group's sum of x (the input may be shared: never reduce in place).
Tensor all_reduced_copy(const Tensor& x, comm::Communicator& group) {
  Tensor out = contiguous_f32(x, "all-reduce").clone();
  comm::all_reduce(group, out.f32(), static_cast<size_t>(out.numel()), DType::f32);
  return out;
}

// Megatron's f: identity forward, all-reduce backward.
class CopyToGroup final : public ops::Primitive {
 public:
  explicit CopyToGroup(comm::Communicator& group) : group_(&group) {}
  std::string name() const override { return "copy_to_group"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads, const std::vector<bool>&) override {
    return {all_reduced_copy(output_grads.at(0), *group_)};
  }

 private:
  comm::Communicator* group_;
};

// Megatron's g: all-reduce forward, identity backward.
class ReduceFromGroup final : public ops::Primitive {
 public:
  std::string name() const override { return "reduce_from_group"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads, const std::vector<bool>&) override {
    return {output_grads.at(0)};
  }
};

class GatherAlong final : public ops::Primitive {
 public:
  GatherAlong(int dim, comm::Communicator& group) : dim_(dim), group_(&group) {}
  std::string name() const override { return "gather_along_reduce_grad"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads, const std::vector<bool>&) override {
    return {reduce_scatter_along_dim(output_grads.at(0), dim_, *group_)};
  }

 private:
  int dim_;
  comm::Communicator* group_;
};

class ReduceScatterAlong final : public ops::Primitive {
 public:
  ReduceScatterAlong(int dim, comm::Communicator& group) : dim_(dim), group_(&group) {}
  std::string name() const override { return "reduce_scatter_along"; }
  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads, const std::vector<bool>&) override {
    return {all_gather_along(output_grads.at(0), dim_, *group_)};
  }

 private:
  int dim_;
  comm::Communicator* group_;
};

// Runs a collective's forward (timed like every op) and records the primitive when needed.
template <typename Forward>
Var apply_collective(std::shared_ptr<ops::Primitive> op, const Var& x, Forward&& forward) {
  Tensor y;
  {
    autograd::OpTimer timer(*op, false);
    y = forward();
  }
  return apply_one(std::move(op), {x}, std::move(y));
}

// Lookup into the rows [vocab_start, vocab_start + rows) of the vocabulary that this rank holds:
// other ids give zero rows and no gradient.
class MaskedEmbedding final : public ops::Primitive {
 public:
  explicit MaskedEmbedding(int64_t vocab_start) : vocab_start_(vocab_start) {}
  std::string name() const override { return "vocab_parallel_embedding"; }

  Tensor forward(const Tensor& ids_in, const Tensor& table_in) {
    ops::require_cpu(ids_in, "vocab_parallel_embedding");
    LOOM_CHECK(ids_in.dtype() == DType::i32, "vocab_parallel_embedding: ids must be i32, got {}", ids_in.describe());
    const Tensor table = contiguous_f32(table_in, "vocab_parallel_embedding");
    LOOM_CHECK(table.ndim() == 2, "vocab_parallel_embedding: table must be [V/t, C], got {}", table.describe());
    ids_ = ids_in.contiguous();
    table_shape_ = table.shape();
    const int64_t dim = table.dim(1);
    Shape out_shape = ids_.shape();
    out_shape.push_back(dim);
    Tensor y = Tensor::empty(out_shape);
    const int32_t* ids = ids_.i32();
    const float* rows = table.f32();
    float* out = y.f32();
    const auto row_bytes = static_cast<size_t>(dim) * sizeof(float);
    hits_ = 0;
    for (int64_t i = 0; i < ids_.numel(); ++i) {
      LOOM_CHECK(ids[i] >= 0, "vocab_parallel_embedding: negative id {} at position {}", ids[i], i);
      const int64_t local = local_row(ids[i]);
      if (local >= 0) {
        std::memcpy(out + i * dim, rows + local * dim, row_bytes);
        ++hits_;
      } else {
        std::memset(out + i * dim, 0, row_bytes);
      }
    }
    return y;
  }

  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override {
    std::vector<Tensor> grads(2);  // ids are integers: never a gradient
    if (needs_input_grad[1]) {
      const int64_t dim = table_shape_[1];
      const Tensor dy = contiguous_f32(output_grads.at(0), "vocab_parallel_embedding backward");
      LOOM_CHECK(dy.numel() == ids_.numel() * dim, "vocab_parallel_embedding: gradient {} for {} ids of width {}",
                 dy.describe(), ids_.numel(), dim);
      grads[1] = Tensor::zeros(table_shape_);
      const int32_t* ids = ids_.i32();
      const float* d = dy.f32();
      float* table_grad = grads[1].f32();
      for (int64_t i = 0; i < ids_.numel(); ++i) {
        const int64_t local = local_row(ids[i]);
        if (local < 0) continue;
        float* row = table_grad + local * dim;
        const float* d_row = d + i * dim;
        for (int64_t c = 0; c < dim; ++c) row[c] += d_row[c];
      }
    }
    ids_ = Tensor();
    return grads;
  }

  double backward_flops() const override { return double(hits_) * double(table_shape_.empty() ? 0 : table_shape_[1]); }

 private:
  // The row of `id` in the local table, or -1 when another rank holds it.
  int64_t local_row(int32_t id) const {
    const int64_t local = int64_t{id} - vocab_start_;
    return local >= 0 && local < table_shape_[0] ? local : -1;
  }

  int64_t vocab_start_;
  Tensor ids_;
  Shape table_shape_;
  int64_t hits_ = 0;
};

// Mean cross-entropy over logits split by columns (see the header). Saves the local logits and
// the per-row global log-sum-exp: the backward is softmax - onehot on the local columns.
class VocabParallelCrossEntropy final : public ops::Primitive {
 public:
  VocabParallelCrossEntropy(int64_t vocab_start, int64_t vocab, comm::Communicator& group)
      : vocab_start_(vocab_start), vocab_(vocab), group_(&group) {}
  std::string name() const override { return "vocab_parallel_cross_entropy"; }

  Tensor forward(const Tensor& local_logits, const Tensor& targets_in) {
    logits_ = contiguous_f32(local_logits, "vocab_parallel_cross_entropy");
    LOOM_CHECK(logits_.ndim() == 2, "vocab_parallel_cross_entropy: logits must be [N, V/t], got {}",
               logits_.describe());
    const int64_t rows = logits_.dim(0);
    const int64_t columns = logits_.dim(1);
    ops::require_cpu(targets_in, "vocab_parallel_cross_entropy");
    LOOM_CHECK(targets_in.dtype() == DType::i32 && targets_in.shape() == Shape{rows},
               "vocab_parallel_cross_entropy: targets {} for logits {} (want i32[N])", targets_in.describe(),
               logits_.describe());
    targets_ = targets_in.contiguous();
    real_columns_ = std::clamp<int64_t>(vocab_ - vocab_start_, 0, columns);  // the rest is padding
    rows_ = rows;
    const float* logits = logits_.f32();
    const int32_t* target = targets_.i32();

    // Global row maximum (a rank holding only padding contributes -inf).
    Tensor row_max = Tensor::empty_in({rows}, MemoryCategory::communication);
    float* maxima = row_max.f32();
    for (int64_t r = 0; r < rows; ++r) {
      LOOM_CHECK(target[r] >= 0 && target[r] < vocab_,
                 "vocab_parallel_cross_entropy: target {} at row {} outside [0, {})", target[r], r, vocab_);
      const float* row = logits + r * columns;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t c = 0; c < real_columns_; ++c) m = std::max(m, row[c]);
      maxima[r] = m;
    }
    comm::CollectiveOptions max_options;
    max_options.op = comm::ReduceOp::max;
    comm::all_reduce(*group_, maxima, static_cast<size_t>(rows), DType::f32, max_options);

    // One all-reduce for both sums: [sum of exp(x - max) per row | target logit per row].
    Tensor sums = Tensor::empty_in({2 * rows}, MemoryCategory::communication);
    float* sum_exp = sums.f32();
    float* target_logit = sum_exp + rows;
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = logits + r * columns;
      double sum = 0.0;
      for (int64_t c = 0; c < real_columns_; ++c) sum += std::exp(double(row[c]) - double(maxima[r]));
      sum_exp[r] = static_cast<float>(sum);
      const int64_t local = int64_t{target[r]} - vocab_start_;
      target_logit[r] = local >= 0 && local < real_columns_ ? row[local] : 0.0f;
    }
    comm::all_reduce(*group_, sum_exp, static_cast<size_t>(2 * rows), DType::f32);

    lse_ = Tensor::empty({rows});
    float* lse = lse_.f32();
    double total = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      lse[r] = maxima[r] + std::log(sum_exp[r]);
      total += double(lse[r]) - double(target_logit[r]);
    }
    return Tensor::from_vector({rows == 0 ? 0.0f : static_cast<float>(total / double(rows))}, {1});
  }

  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads,
                               const std::vector<bool>& needs_input_grad) override {
    LOOM_CHECK(output_grads.at(0).numel() == 1, "vocab_parallel_cross_entropy: gradient {} for a [1] loss",
               output_grads.at(0).describe());
    std::vector<Tensor> grads(2);  // targets are integers: never a gradient
    if (needs_input_grad[0]) {
      const float scale = rows_ == 0 ? 0.0f : output_grads[0].item() / static_cast<float>(rows_);
      const int64_t columns = logits_.dim(1);
      grads[0] = Tensor::empty(logits_.shape());
      const float* logits = logits_.f32();
      const float* lse = lse_.f32();
      const int32_t* target = targets_.i32();
      float* d = grads[0].f32();
      for (int64_t r = 0; r < rows_; ++r) {
        const float* row = logits + r * columns;
        float* d_row = d + r * columns;
        for (int64_t c = 0; c < real_columns_; ++c) d_row[c] = std::exp(row[c] - lse[r]) * scale;
        for (int64_t c = real_columns_; c < columns; ++c) d_row[c] = 0.0f;
        const int64_t local = int64_t{target[r]} - vocab_start_;
        if (local >= 0 && local < real_columns_) d_row[local] -= scale;
      }
    }
    logits_ = Tensor();
    targets_ = Tensor();
    lse_ = Tensor();
    return grads;
  }

  double forward_flops() const override { return 4.0 * double(rows_) * double(real_columns_); }
  double backward_flops() const override { return 3.0 * double(rows_) * double(real_columns_); }

 private:
  int64_t vocab_start_;
  int64_t vocab_;
  comm::Communicator* group_;
  Tensor logits_, targets_, lse_;
  int64_t rows_ = 0;
  int64_t real_columns_ = 0;
};

}  // namespace

Var copy_to_group(const Var& x, comm::Communicator& group) {
  return apply_collective(std::make_shared<CopyToGroup>(group), x, [&] { return x.value(); });
}

Var reduce_from_group(const Var& x, comm::Communicator& group) {
  return apply_collective(std::make_shared<ReduceFromGroup>(), x, [&] { return all_reduced_copy(x.value(), group); });
}

Var gather_along_reduce_grad(const Var& x, int dim, comm::Communicator& group) {
  return apply_collective(std::make_shared<GatherAlong>(dim, group), x,
                          [&] { return all_gather_along(x.value(), dim, group); });
}

Var reduce_scatter_along(const Var& x, int dim, comm::Communicator& group) {
  return apply_collective(std::make_shared<ReduceScatterAlong>(dim, group), x,
                          [&] { return reduce_scatter_along_dim(x.value(), dim, group); });
}

TensorParallelComm::TensorParallelComm(comm::Communicator& group, bool sequence_parallel)
    : group_(group), sequence_parallel_(sequence_parallel) {}

int TensorParallelComm::degree() const {
  return group_.size();
}

Var TensorParallelComm::enter(const Var& x) const {
  return sequence_parallel_ ? gather_along_reduce_grad(x, 1, group_) : copy_to_group(x, group_);
}

Var TensorParallelComm::leave(const Var& x) const {
  return sequence_parallel_ ? reduce_scatter_along(x, 1, group_) : reduce_from_group(x, group_);
}

Placement block_parameter_placement(const nn::ModelConfig& config, nn::Var nn::BlockParameters::*member) {
  using P = nn::BlockParameters;
  LOOM_CHECK(member != nullptr, "block_parameter_placement: not a block parameter");
  if (member == &P::qkv_weight || member == &P::qkv_bias)
    return Placement::shard(0, {config.hidden, config.kv_hidden(), config.kv_hidden()});
  if (member == &P::out_weight || member == &P::proj_weight) return Placement::shard(1);
  if (member == &P::fc_weight || member == &P::fc_bias || member == &P::up_weight) return Placement::shard(0);
  return Placement::replicate();  // norms and the biases added after the row-parallel reduction
}

bool gradient_partial_under_sequence_parallel(nn::Var nn::BlockParameters::*member) {
  using P = nn::BlockParameters;
  // Everything the block applies to the sequence shard after `leave` or before `enter`.
  return member == &P::norm1_gamma || member == &P::norm1_beta || member == &P::norm2_gamma ||
         member == &P::norm2_beta || member == &P::out_bias || member == &P::proj_bias;
}

Var vocab_parallel_embedding(const Tensor& ids, const Var& local_table, int64_t vocab_start,
                             comm::Communicator& group) {
  auto op = std::make_shared<MaskedEmbedding>(vocab_start);
  Tensor y;
  {
    autograd::OpTimer timer(*op, false);
    y = op->forward(ids, local_table.value());
  }
  return reduce_from_group(apply_one(op, {Var(ids), local_table}, std::move(y)), group);
}

Var vocab_parallel_cross_entropy(const Var& local_logits, const Tensor& targets, int64_t vocab_start, int64_t vocab,
                                 comm::Communicator& group) {
  auto op = std::make_shared<VocabParallelCrossEntropy>(vocab_start, vocab, group);
  Tensor loss;
  {
    autograd::OpTimer timer(*op, false);
    loss = op->forward(local_logits.value(), targets);
  }
  return apply_one(op, {local_logits, Var(targets)}, std::move(loss));
}

}  // namespace loom::parallel
