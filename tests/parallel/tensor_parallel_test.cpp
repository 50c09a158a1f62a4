// Tensor parallelism against the unsharded computation (ranks are threads): every rank builds the
// same full parameters, takes its shard, runs its part, and the outputs and gradients must match
// the single-process block, embedding and cross-entropy. The differentiable collectives are
// checked against closed-form values. Shards are cut here by the test's own slicing, so these
// tests do not depend on placement.cpp.
#include "parallel/tensor_parallel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/tape.h"
#include "comm/collectives.h"
#include "comm/thread_transport.h"
#include "core/random.h"

namespace loom::parallel {
namespace {

namespace af = autograd;
using Member = Var nn::BlockParameters::*;

// fp32 results of the sharded and the single-process computation differ only by the order of
// summation: row-parallel products are split into t partial sums, the norm and bias gradients of
// sequence parallelism into t partial row sums, the softmax denominator into t partial sums. Each
// reordered sum of n <= 128 terms moves by about sqrt(n) * 2^-24 of its magnitude (~1e-6);
// 1e-5 of the tensor's largest value leaves headroom for what the norm and attention backward
// amplify (the largest error seen here is 5e-7), while a misplaced shard or a missing reduction
// is off by O(1).
constexpr double kRelativeTolerance = 1e-5;

Tensor random_tensor(const Shape& shape, uint64_t seed, float scale = 1.0f) {
  Tensor t = Tensor::empty(shape);
  Rng rng(seed);
  float* data = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) data[i] = static_cast<float>(rng.normal()) * scale;
  return t;
}

Tensor random_ids(const Shape& shape, int64_t vocab, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::i32);
  Rng rng(seed);
  int32_t* data = t.i32();
  for (int64_t i = 0; i < t.numel(); ++i) data[i] = static_cast<int32_t>(rng.uniform_int(uint64_t(vocab)));
  return t;
}

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (float v : t.to_vector()) m = std::max(m, double(std::fabs(v)));
  return m;
}

// max |actual - expected| <= kRelativeTolerance * scale (scale: the largest value of the whole,
// unsharded tensor the expected piece is cut from).
void expect_close(const Tensor& actual, const Tensor& expected, double scale, const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what << ": no value";
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const std::vector<float> a = actual.to_vector();
  const std::vector<float> e = expected.to_vector();
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - e[i])));
  EXPECT_LE(worst, kRelativeTolerance * std::max(scale, 1e-30)) << what << " (largest value " << scale << ")";
}

// [start, start + length) of `full` along `dim`, as a contiguous tensor.
Tensor piece(const Tensor& full, int dim, int64_t start, int64_t length) {
  return full.slice(dim, start, start + length).contiguous();
}

// Concatenation along `dim`.
Tensor concat(const std::vector<Tensor>& parts, int dim) {
  Shape shape = parts.front().shape();
  shape[size_t(dim)] = 0;
  for (const Tensor& p : parts) shape[size_t(dim)] += p.dim(dim);
  Tensor out = Tensor::empty(shape);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < dim; ++i) outer *= shape[size_t(i)];
  for (size_t i = size_t(dim) + 1; i < shape.size(); ++i) inner *= shape[i];
  int64_t offset = 0;
  for (const Tensor& p : parts) {
    const Tensor c = p.contiguous();
    const int64_t width = c.dim(dim) * inner;
    for (int64_t o = 0; o < outer; ++o)
      std::copy_n(c.f32() + o * width, width, out.f32() + o * shape[size_t(dim)] * inner + offset);
    offset += width;
  }
  return out;
}

// Shard `index` of `count` under a placement: each segment of the dimension is split evenly and
// this rank's parts of all segments are concatenated.
Tensor shard_of(const Tensor& full, const Placement& placement, int index, int count) {
  if (placement.kind == Placement::Kind::replicate) return full.clone();
  const int dim = placement.dim;
  const std::vector<int64_t> segments =
      placement.segments.empty() ? std::vector<int64_t>{full.dim(dim)} : placement.segments;
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t segment : segments) {
    const int64_t length = segment / count;
    parts.push_back(piece(full, dim, start + index * length, length));
    start += segment;
  }
  return concat(parts, dim);
}

// ---- (c) the differentiable collectives ------------------------------------------------------

// f(index) = b * 1000 + t * 10 + c on a [B, T, C] grid: small integers, so sums are exact.
Tensor grid_values(const Shape& shape, float scale, const Shape& origin = {0, 0, 0}) {
  Tensor t = Tensor::empty(shape);
  float* data = t.f32();
  for (int64_t b = 0; b < shape[0]; ++b)
    for (int64_t s = 0; s < shape[1]; ++s)
      for (int64_t c = 0; c < shape[2]; ++c)
        data[(b * shape[1] + s) * shape[2] + c] =
            scale * float((b + origin[0]) * 1000 + (s + origin[1]) * 10 + (c + origin[2]));
  return t;
}

const int kGroupSizes[] = {1, 2, 3, 4};

TEST(TensorParallelCollectives, CopyToGroupIsIdentityForwardAllReduceBackward) {
  for (int p : kGroupSizes) {
    SCOPED_TRACE("group of " + std::to_string(p));
    comm::ThreadWorld::run(p, [&](comm::Communicator& group) {
      const float rank_factor = float(group.rank() + 1);
      const float sum_factor = float(p * (p + 1) / 2);
      const Shape shape{2, 3, 5};
      Var x(grid_values(shape, 1.0f), true);
      {
        const Var untaped = copy_to_group(x, group);  // no tape: nothing recorded, no gradient
        EXPECT_FALSE(untaped.requires_grad());
      }
      af::Tape tape;
      Var y;
      {
        af::TapeScope scope(tape);
        y = copy_to_group(x, group);
      }
      EXPECT_EQ(y.value().to_vector(), grid_values(shape, 1.0f).to_vector());
      tape.backward({y}, {grid_values(shape, rank_factor)});
      EXPECT_EQ(x.grad().to_vector(), grid_values(shape, sum_factor).to_vector());
    });
  }
}

TEST(TensorParallelCollectives, ReduceFromGroupIsAllReduceForwardIdentityBackward) {
  for (int p : kGroupSizes) {
    SCOPED_TRACE("group of " + std::to_string(p));
    comm::ThreadWorld::run(p, [&](comm::Communicator& group) {
      const float rank_factor = float(group.rank() + 1);
      const float sum_factor = float(p * (p + 1) / 2);
      const Shape shape{2, 3, 5};
      const Tensor input = grid_values(shape, rank_factor);
      Var x(input, true);
      af::Tape tape;
      Var y;
      {
        af::TapeScope scope(tape);
        y = reduce_from_group(x, group);
      }
      EXPECT_EQ(y.value().to_vector(), grid_values(shape, sum_factor).to_vector());
      EXPECT_EQ(input.to_vector(), grid_values(shape, rank_factor).to_vector());  // not reduced in place
      tape.backward({y}, {grid_values(shape, 2.0f * rank_factor)});
      EXPECT_EQ(x.grad().to_vector(), grid_values(shape, 2.0f * rank_factor).to_vector());
    });
  }
}

TEST(TensorParallelCollectives, GatherAlongConcatenatesInRankOrderAndReduceScattersTheGradient) {
  const Shape base{2, 3, 5};
  for (int p : kGroupSizes) {
    for (int dim = 0; dim < 3; ++dim) {
      SCOPED_TRACE("group of " + std::to_string(p) + ", dim " + std::to_string(dim));
      comm::ThreadWorld::run(p, [&](comm::Communicator& group) {
        const int r = group.rank();
        Shape full = base;
        full[size_t(dim)] *= p;
        Shape origin{0, 0, 0};
        origin[size_t(dim)] = r * base[size_t(dim)];
        Var x(grid_values(base, 1.0f, origin), true);
        af::Tape tape;
        Var y;
        {
          af::TapeScope scope(tape);
          y = gather_along_reduce_grad(x, dim, group);
        }
        EXPECT_EQ(y.shape(), full);
        EXPECT_EQ(y.value().to_vector(), grid_values(full, 1.0f).to_vector());
        tape.backward({y}, {grid_values(full, float(r + 1))});
        EXPECT_EQ(x.grad().to_vector(), grid_values(base, float(p * (p + 1) / 2), origin).to_vector());
      });
    }
  }
}

TEST(TensorParallelCollectives, ReduceScatterAlongKeepsMyPieceOfTheSumAndGathersTheGradient) {
  const Shape base{2, 3, 5};
  for (int p : kGroupSizes) {
    for (int dim = 0; dim < 3; ++dim) {
      SCOPED_TRACE("group of " + std::to_string(p) + ", dim " + std::to_string(dim));
      comm::ThreadWorld::run(p, [&](comm::Communicator& group) {
        const int r = group.rank();
        Shape full = base;
        full[size_t(dim)] *= p;
        Shape origin{0, 0, 0};
        origin[size_t(dim)] = r * base[size_t(dim)];
        Var x(grid_values(full, float(r + 1)), true);
        af::Tape tape;
        Var y;
        {
          af::TapeScope scope(tape);
          y = reduce_scatter_along(x, dim, group);
        }
        EXPECT_EQ(y.shape(), base);
        EXPECT_EQ(y.value().to_vector(), grid_values(base, float(p * (p + 1) / 2), origin).to_vector());
        // Each rank seeds its own piece of f: the gathered gradient is f whole.
        tape.backward({y}, {grid_values(base, 1.0f, origin)});
        EXPECT_EQ(x.grad().to_vector(), grid_values(full, 1.0f).to_vector());
      });
    }
  }
}

TEST(TensorParallelCollectives, ReduceScatterRefusesAnUnevenSplit) {
  comm::ThreadWorld::run(2, [](comm::Communicator& group) {
    EXPECT_THROW(reduce_scatter_along(Var(Tensor::zeros({2, 3, 4})), 1, group), InternalError);
  });
}

// ---- block parameter placements ------------------------------------------------------------

TEST(TensorParallelPlacement, BlockParametersSplitAsMegatron) {
  nn::ModelConfig config;
  config.family = nn::ModelFamily::llama;
  config.hidden = 64;
  config.heads = 8;
  config.kv_heads = 2;
  using P = nn::BlockParameters;
  EXPECT_EQ(block_parameter_placement(config, &P::qkv_weight), Placement::shard(0, {64, 16, 16}));
  EXPECT_EQ(block_parameter_placement(config, &P::qkv_bias), Placement::shard(0, {64, 16, 16}));
  EXPECT_EQ(block_parameter_placement(config, &P::out_weight), Placement::shard(1));
  EXPECT_EQ(block_parameter_placement(config, &P::fc_weight), Placement::shard(0));
  EXPECT_EQ(block_parameter_placement(config, &P::fc_bias), Placement::shard(0));
  EXPECT_EQ(block_parameter_placement(config, &P::up_weight), Placement::shard(0));
  EXPECT_EQ(block_parameter_placement(config, &P::proj_weight), Placement::shard(1));
  for (Member m : {&P::norm1_gamma, &P::norm1_beta, &P::norm2_gamma, &P::norm2_beta, &P::out_bias, &P::proj_bias}) {
    EXPECT_EQ(block_parameter_placement(config, m), Placement::replicate());
    EXPECT_TRUE(gradient_partial_under_sequence_parallel(m));
  }
  for (Member m :
       {&P::qkv_weight, &P::qkv_bias, &P::out_weight, &P::fc_weight, &P::fc_bias, &P::up_weight, &P::proj_weight})
    EXPECT_FALSE(gradient_partial_under_sequence_parallel(m));
}

// ---- (a) one block on t ranks against the single-process block -----------------------------

nn::ModelConfig gpt_config() {
  nn::ModelConfig config;
  config.family = nn::ModelFamily::gpt;
  config.hidden = 64;
  config.heads = 4;
  config.kv_heads = 4;
  config.ffn_hidden = 128;
  config.seq_len = 8;
  config.layers = 1;
  return config;
}

// Grouped-query attention whose kv heads still split over t ranks.
nn::ModelConfig llama_config(int heads, int kv_heads) {
  nn::ModelConfig config = gpt_config();
  config.family = nn::ModelFamily::llama;
  config.heads = heads;
  config.kv_heads = kv_heads;
  config.tie_embeddings = false;
  return config;
}

struct BlockReference {
  std::vector<nn::ParameterSpec> specs;  // layer 0's parameters
  std::vector<Tensor> values;
  std::vector<Tensor> grads;
  Tensor x, dy, y, x_grad;
};

constexpr int64_t kBatch = 2;
constexpr uint64_t kSeed = 1234;

BlockReference single_process_block(const nn::ModelConfig& config) {
  BlockReference ref;
  for (const nn::ParameterSpec& spec : nn::parameter_specs(config))
    if (spec.member != nullptr && spec.layer == 0) ref.specs.push_back(spec);
  nn::BlockParameters params;
  std::vector<Var> vars;
  for (size_t i = 0; i < ref.specs.size(); ++i) {
    Tensor value = nn::initial_parameter_value(ref.specs[i], kSeed);
    if (ref.specs[i].init_std == 0.0f) {
      // Constant-initialised (ones, zeros): perturb them so that a misplaced bias or gamma shows.
      const Tensor noise = random_tensor(value.shape(), 100 + i, 0.1f);
      for (int64_t k = 0; k < value.numel(); ++k) value.f32()[k] += noise.f32()[k];
    }
    ref.values.push_back(value);
    vars.push_back(Var::parameter(value, ref.specs[i].name));
    params.*ref.specs[i].member = vars.back();
  }
  ref.x = random_tensor({kBatch, config.seq_len, config.hidden}, 7);
  ref.dy = random_tensor({kBatch, config.seq_len, config.hidden}, 8);
  Var x(ref.x, true);
  af::Tape tape;
  Var y;
  {
    af::TapeScope scope(tape);
    y = nn::block_forward(config, params, x);
  }
  tape.backward({y}, {ref.dy});
  ref.y = y.value();
  ref.x_grad = x.grad();
  for (const Var& v : vars) ref.grads.push_back(v.grad());
  return ref;
}

void check_tensor_parallel_block(const nn::ModelConfig& config, int tp, bool sequence_parallel) {
  const BlockReference ref = single_process_block(config);
  const int64_t local_seq = config.seq_len / tp;
  comm::ThreadWorld::run(tp, [&](comm::Communicator& group) {
    const int rank = group.rank();
    nn::BlockParameters params;
    std::vector<Var> vars;
    for (size_t i = 0; i < ref.specs.size(); ++i) {
      const Placement placement = block_parameter_placement(config, ref.specs[i].member);
      vars.push_back(Var::parameter(shard_of(ref.values[i], placement, rank, tp), ref.specs[i].name));
      params.*ref.specs[i].member = vars.back();
    }
    // With sequence parallelism a rank holds its slice of the sequence, in and out.
    auto mine = [&](const Tensor& t) { return sequence_parallel ? piece(t, 1, rank * local_seq, local_seq) : t; };
    Var x(mine(ref.x), true);
    const TensorParallelComm tp_comm(group, sequence_parallel);
    EXPECT_EQ(tp_comm.degree(), tp);
    af::Tape tape;
    Var y;
    {
      af::TapeScope scope(tape);
      y = nn::block_forward(config, params, x, tp_comm);
    }
    tape.backward({y}, {mine(ref.dy)});
    const std::string where = "rank " + std::to_string(rank) + ": ";
    expect_close(y.value(), mine(ref.y), max_abs(ref.y), where + "output");
    expect_close(x.grad(), mine(ref.x_grad), max_abs(ref.x_grad), where + "input gradient");
    for (size_t i = 0; i < ref.specs.size(); ++i) {
      const Member member = ref.specs[i].member;
      Tensor grad = vars[i].grad().clone();
      if (sequence_parallel && gradient_partial_under_sequence_parallel(member)) {
        comm::all_reduce(group, grad.f32(), size_t(grad.numel()), DType::f32);
      }
      const Tensor expected = shard_of(ref.grads[i], block_parameter_placement(config, member), rank, tp);
      expect_close(grad, expected, max_abs(ref.grads[i]), where + ref.specs[i].name + " gradient");
    }
  });
}

TEST(TensorParallelBlock, GptMatchesSingleProcess) {
  for (int tp : {1, 2, 4}) {
    for (bool sequence_parallel : {false, true}) {
      SCOPED_TRACE("gpt tp=" + std::to_string(tp) + (sequence_parallel ? " sequence parallel" : ""));
      check_tensor_parallel_block(gpt_config(), tp, sequence_parallel);
    }
  }
}

TEST(TensorParallelBlock, LlamaMatchesSingleProcess) {
  // t=1 and 2: 4 heads sharing 2 kv heads; t=4: 8 heads sharing 4 kv heads (kv heads split too).
  for (int tp : {1, 2, 4}) {
    const nn::ModelConfig config = tp == 4 ? llama_config(8, 4) : llama_config(4, 2);
    for (bool sequence_parallel : {false, true}) {
      SCOPED_TRACE("llama tp=" + std::to_string(tp) + (sequence_parallel ? " sequence parallel" : ""));
      check_tensor_parallel_block(config, tp, sequence_parallel);
    }
  }
}

// ---- (b) vocabulary parallelism --------------------------------------------------------------

struct VocabCase {
  int64_t vocab;
  int tp;
};
// 250 on 4 pads to 252; 7 on 3 leaves rank 2 one real column; 5 on 4 leaves rank 3 only padding.
const VocabCase kVocabCases[] = {{250, 4}, {256, 2}, {256, 1}, {7, 3}, {5, 4}};

int64_t padded(int64_t vocab, int tp) {
  return (vocab + tp - 1) / tp * tp;
}

// The padded rows (columns of the logits) hold values that would show if they were ever used.
Tensor pad_rows(const Tensor& full, int64_t rows, float fill) {
  if (full.dim(0) == rows) return full;
  Shape shape = full.shape();
  shape[0] = rows - full.dim(0);
  return concat({full, Tensor::full(shape, fill)}, 0);
}

TEST(VocabParallel, EmbeddingMatchesTheWholeTable) {
  const int64_t hidden = 16;
  for (const VocabCase& c : kVocabCases) {
    SCOPED_TRACE("vocab " + std::to_string(c.vocab) + " on tp=" + std::to_string(c.tp));
    const int64_t local_rows = padded(c.vocab, c.tp) / c.tp;
    const Tensor table = random_tensor({c.vocab, hidden}, 21);
    Tensor ids = random_ids({kBatch, 8}, c.vocab, 22);
    ids.i32()[3] = static_cast<int32_t>(c.vocab - 1);  // the last real row, next to the padding
    ids.i32()[4] = ids.i32()[5];                       // a repeated id accumulates
    const Tensor dy = random_tensor({kBatch, 8, hidden}, 23);

    Var whole = Var::parameter(table, "embed.token");
    af::Tape reference_tape;
    Var reference;
    {
      af::TapeScope scope(reference_tape);
      reference = af::embedding(Var(ids), whole);
    }
    reference_tape.backward({reference}, {dy});
    const Tensor padded_grad = pad_rows(whole.grad(), local_rows * c.tp, 0.0f);

    const Tensor padded_table = pad_rows(table, local_rows * c.tp, 1e3f);
    comm::ThreadWorld::run(c.tp, [&](comm::Communicator& group) {
      const int rank = group.rank();
      Var local = Var::parameter(piece(padded_table, 0, rank * local_rows, local_rows), "embed.token");
      af::Tape tape;
      Var y;
      {
        af::TapeScope scope(tape);
        y = vocab_parallel_embedding(ids, local, rank * local_rows, group);
      }
      tape.backward({y}, {dy});
      expect_close(y.value(), reference.value(), max_abs(table), "embedding output");
      expect_close(local.grad(), piece(padded_grad, 0, rank * local_rows, local_rows), max_abs(whole.grad()),
                   "rank " + std::to_string(rank) + " table gradient");
    });
  }
}

TEST(VocabParallel, CrossEntropyMatchesTheWholeVocabulary) {
  const int64_t rows = 16;
  const float loss_seed = 0.7f;  // a seed other than 1 checks that the backward scales by it
  for (const VocabCase& c : kVocabCases) {
    SCOPED_TRACE("vocab " + std::to_string(c.vocab) + " on tp=" + std::to_string(c.tp));
    const int64_t local_columns = padded(c.vocab, c.tp) / c.tp;
    const Tensor logits = random_tensor({rows, c.vocab}, 31, 3.0f);
    Tensor targets = random_ids({rows}, c.vocab, 32);
    targets.i32()[0] = static_cast<int32_t>(c.vocab - 1);
    targets.i32()[1] = 0;

    Var whole(logits, true);
    af::Tape reference_tape;
    Var reference;
    {
      af::TapeScope scope(reference_tape);
      reference = af::cross_entropy(whole, Var(targets));
    }
    reference_tape.backward({reference}, {Tensor::full({1}, loss_seed)});
    // Padded columns hold a huge logit: it would dominate the softmax if it were not masked out.
    const Tensor padded_logits = pad_rows(logits.transpose(0, 1).contiguous(), local_columns * c.tp, 50.0f);
    const Tensor padded_grad = pad_rows(whole.grad().transpose(0, 1).contiguous(), local_columns * c.tp, 0.0f);

    comm::ThreadWorld::run(c.tp, [&](comm::Communicator& group) {
      const int rank = group.rank();
      const int64_t start = rank * local_columns;
      Var local(piece(padded_logits, 0, start, local_columns).transpose(0, 1).contiguous(), true);
      af::Tape tape;
      Var loss;
      {
        af::TapeScope scope(tape);
        loss = vocab_parallel_cross_entropy(local, targets, start, c.vocab, group);
      }
      tape.backward({loss}, {Tensor::full({1}, loss_seed)});
      expect_close(loss.value(), reference.value(), reference.value().item(), "loss");
      const Tensor expected = piece(padded_grad, 0, start, local_columns).transpose(0, 1).contiguous();
      expect_close(local.grad(), expected, max_abs(whole.grad()), "rank " + std::to_string(rank) + " logits gradient");
    });
  }
}

TEST(VocabParallel, CrossEntropyRejectsATargetOutsideTheVocabulary) {
  comm::ThreadWorld::run(1, [](comm::Communicator& group) {
    const Var logits(Tensor::zeros({2, 8}), true);
    EXPECT_THROW(vocab_parallel_cross_entropy(logits, Tensor::from_ints({1, 7}, {2}), 0, 7, group), InternalError);
    EXPECT_THROW(vocab_parallel_cross_entropy(logits, Tensor::from_ints({-1, 0}, {2}), 0, 7, group), InternalError);
  });
}

}  // namespace
}  // namespace loom::parallel
