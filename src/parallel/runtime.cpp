// Running a step: per-unit forward and backward on their own tapes, the pipeline program, bucketed
// gradient synchronisation on progress threads, ZeRO-3 gathers, clipping and the sharded update.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "autograd/functions.h"
#include "comm/collectives.h"
#include "core/error.h"
#include "parallel/runtime_state.h"
#include "parallel/tensor_parallel.h"

namespace loom::parallel {

namespace af = autograd;

// ---------------------------------------------------------------------------------------------
// Sharding stage 3: parameters gathered before use, freed after.

void ParallelTrainer::State::prefetch(int index) {
  if (index < 0 || index >= int(units.size())) return;
  Unit& u = units[size_t(index)];
  if (u.sharding != 3 || u.resident() || u.gather) return;
  u.flat.storage()->reacquire();
  u.gather = comm::all_gather_async(*u.dp, u.master.f32(), u.flat.f32(), size_t(u.shard), DType::f32);
}

void ParallelTrainer::State::acquire(int index, bool wait) {
  Unit& u = units[size_t(index)];
  if (u.sharding != 3) return;
  if (!u.resident() || !u.gather) prefetch(index);
  if (wait && u.gather) {
    const auto start = Clock::now();
    u.gather->wait();
    u.gather.reset();
    exposed_ms += ms_since(start);
  }
}

void ParallelTrainer::State::release(int index) {
  Unit& u = units[size_t(index)];
  if (u.sharding == 3 && !u.gather) u.flat.storage()->release();
}

// ---------------------------------------------------------------------------------------------
// Forward and backward of one unit for one micro-batch.

Var ParallelTrainer::State::unit_forward(int index, const Var& input, int mb) {
  Unit& u = units[size_t(index)];
  switch (u.kind) {
    case UnitKind::table: {  // the first stage's embedding: the token lookup (+ positions)
      const auto [begin, end] = rows(u, mb);
      Tensor local_ids = ids.slice(0, begin, end).contiguous();
      const Var table = u.param("embed.token");
      Var x = u.tp_size == 1 ? af::embedding(Var(local_ids), table)
                             : vocab_parallel_embedding(local_ids, table, int64_t(u.tp_rank) * table.shape()[0], *u.tp);
      if (embedding_unit >= 0) {
        const Var position = units[size_t(embedding_unit)].param("embed.position");
        x = af::add(x, af::embedding(Var(nn::position_ids(end - begin, seq)), position));
      }
      return x;
    }
    case UnitKind::layer: {
      const Var x = reshard(input, u.input_layout, unit_layout(u), *mesh, micro_rows, seq);
      if (u.tp_size == 1) return nn::block_forward(model, u.block, x);
      return nn::block_forward(model, u.block, x, TensorParallelComm(*u.tp, u.sequence_parallel));
    }
    case UnitKind::head: {
      const Var x = reshard(input, u.input_layout, ActivationLayout{u.grid, false}, *mesh, micro_rows, seq);
      const bool gpt = model.family == nn::ModelFamily::gpt;
      Var h = gpt ? af::layer_norm(x, u.param("final_norm.gamma"), u.param("final_norm.beta"), model.norm_eps)
                  : af::rms_norm(x, u.param("final_norm.gamma"), model.norm_eps);
      const Var table = model.tie_embeddings
                            ? units[size_t(head_table_unit >= 0 ? head_table_unit : table_unit)].param("embed.token")
                            : u.param("head.weight");
      const auto [begin, end] = rows(u, mb);
      const int64_t count = (end - begin) * seq;
      Tensor local_targets = targets.slice(0, begin, end).contiguous().reshape({count});
      if (u.tp_size > 1) h = copy_to_group(h, *u.tp);
      Var logits = af::reshape(af::matmul(h, table, false, true), {count, table.shape()[0]});
      if (u.tp_size == 1) return af::cross_entropy(logits, Var(local_targets));
      return vocab_parallel_cross_entropy(logits, local_targets, int64_t(u.tp_rank) * table.shape()[0],
                                          model.vocab_size, *u.tp);
    }
    case UnitKind::embedding:
      break;
  }
  LOOM_CHECK(false, "unit {} has no forward of its own", u.name);
  return Var();
}

void ParallelTrainer::State::begin_backward(int index) {
  for (int t : units[size_t(index)].touched) {
    Unit& u = units[size_t(t)];
    acquire(t);
    if (u.sharding >= 2 && u.touches_this_micro_batch == 0) {
      u.grads = Tensor::empty_in({u.padded}, MemoryCategory::gradients);
      u.grads.fill(0.0f);
      for (ParamEntry& p : u.params)
        p.var.slot()->grad = u.grads.slice(0, p.offset, p.offset + p.numel).reshape(p.local_shape);
    }
  }
}

namespace {
// Sums the gradients that are partial over TP (sequence-parallel norms) across the TP group.
void reduce_partial_gradients(Unit& u) {
  for (ParamEntry& p : u.params) {
    if (!p.grad_partial) continue;
    comm::all_reduce(*u.tp, u.grads.f32() + p.offset, size_t(p.numel), DType::f32);
  }
}
}  // namespace

void ParallelTrainer::State::end_backward(int index) {
  for (int t : units[size_t(index)].touched) {
    Unit& u = units[size_t(t)];
    ++u.touches;
    if (++u.touches_this_micro_batch < u.touches_per_micro_batch) {
      release(t);
      continue;
    }
    u.touches_this_micro_batch = 0;
    if (u.sharding >= 2) {
      // This micro-batch's gradient, reduce-scattered into the accumulated shard on the DP
      // group's progress thread while the backward goes on.
      reduce_partial_gradients(u);
      for (ParamEntry& p : u.params) p.var.slot()->grad = Tensor();
      Tensor full = std::move(u.grads);
      u.grads = Tensor();
      Tensor shard = u.grad_shard;
      comm::Communicator* dp = u.dp;
      const int64_t count = u.shard;
      u.reduce_work = comm::enqueue_collective(*dp, "reduce-scatter gradients of " + u.name, [dp, full, shard, count] {
        Tensor piece = Tensor::empty_in({count}, MemoryCategory::communication);
        comm::reduce_scatter(*dp, full.f32(), piece.f32(), size_t(count), DType::f32);
        float* into = shard.f32();
        const float* from = piece.f32();
        for (int64_t i = 0; i < count; ++i) into[i] += from[i];
      });
    } else if (u.touches == u.touches_per_micro_batch * plan.micro_batches) {
      reduce_partial_gradients(u);
      Bucket& bucket = buckets[size_t(u.bucket)];
      if (++bucket.complete == int(bucket.units.size())) {
        bucket.work =
            comm::all_reduce_async(*bucket.dp, bucket.buffer.f32(), size_t(bucket.buffer.numel()), DType::f32);
      }
    }
    release(t);
  }
}

void ParallelTrainer::State::forward(int mb) {
  Var x;
  if (!first) x = Var(received_input[size_t(mb)]);
  received_input[size_t(mb)] = Tensor();
  for (size_t k = 0; k < compute_units.size(); ++k) {
    const int index = compute_units[k];
    Unit& u = units[size_t(index)];
    for (int t : u.touched) acquire(t);
    if (k + 1 < compute_units.size())
      for (int t : units[size_t(compute_units[k + 1])].touched) prefetch(t);
    UnitRun& run = runs[size_t(mb)][size_t(index)];
    run.input = u.kind == UnitKind::table ? Var() : Var(x.value(), true);
    if (u.recompute) {
      autograd::NoGradScope no_grad;
      run.output = Var(unit_forward(index, run.input, mb).value());
    } else {
      autograd::TapeScope scope(run.tape);
      run.output = unit_forward(index, run.input, mb);
    }
    for (int t : u.touched) release(t);
    x = run.output;
  }
  if (last) {
    loss_sum += double(x.value().item());
  } else {
    output_to_send[size_t(mb)] = x.value().contiguous();
  }
}

void ParallelTrainer::State::backward(int mb) {
  Tensor grad;
  if (last) {
    const Unit& head = units[size_t(head_unit)];
    grad = Tensor::full(runs[size_t(mb)][size_t(head_unit)].output.shape(),
                        1.0f / float(plan.micro_batches * head.dp_size));
  } else {
    grad = std::move(received_grad[size_t(mb)]);
  }
  for (size_t k = compute_units.size(); k-- > 0;) {
    const int index = compute_units[k];
    Unit& u = units[size_t(index)];
    UnitRun& run = runs[size_t(mb)][size_t(index)];
    begin_backward(index);
    if (k > 0)
      for (int t : units[size_t(compute_units[k - 1])].touched) prefetch(t);
    if (u.recompute) {
      autograd::TapeScope scope(run.tape);
      run.output = unit_forward(index, run.input, mb);
    }
    run.tape.backward({run.output}, {grad});
    end_backward(index);
    grad = run.input.defined() ? run.input.grad() : Tensor();
    run.input = Var();
    run.output = Var();
    run.tape.clear();
  }
  if (!first) grad_to_send[size_t(mb)] = grad.contiguous();
}

// ---------------------------------------------------------------------------------------------
// The step.

namespace {
// Sends and receives on two-rank groups at once (either may be absent).
void transfer(comm::Communicator* send_group, const Tensor& send, comm::Communicator* recv_group, Tensor& recv) {
  std::vector<comm::Pending> sends, recvs;
  if (send_group != nullptr) {
    send_group->begin_operation("pipeline send");
    sends.push_back(send_group->isend(1 - send_group->rank(), send.raw_data(), send.nbytes()));
  }
  if (recv_group != nullptr) {
    recv_group->begin_operation("pipeline receive");
    recvs.push_back(recv_group->irecv(1 - recv_group->rank(), recv.raw_data(), recv.nbytes()));
  }
  if (recv_group != nullptr) recv_group->wait_all(recvs);
  if (send_group != nullptr) send_group->wait_all(sends);
}
}  // namespace

void ParallelTrainer::State::finish_gradients() {
  const auto start = Clock::now();
  for (Bucket& bucket : buckets) {
    LOOM_CHECK(bucket.work != nullptr, "gradient bucket never completed");
    bucket.work->wait();
    bucket.work.reset();
    bucket.complete = 0;
  }
  for (Unit& u : units) {
    if (u.reduce_work) u.reduce_work->wait();
    u.reduce_work.reset();
    if (u.gather) u.gather->wait();
    u.gather.reset();
    release(int(&u - units.data()));
  }
  // The tied table: the first stage's and the last stage's copies summed.
  if (tied_pair) {
    Unit& u = units[size_t(first ? table_unit : head_table_unit)];
    Tensor& g = u.sharding >= 2 ? u.grad_shard : u.grads;
    comm::all_reduce(*tied_pair, g.f32(), size_t(g.numel()), DType::f32);
  }
  exposed_ms += ms_since(start);
}

namespace {
// Calls fn(param, lo, hi) for each parameter's part of the flat index range [begin, end).
template <typename Fn>
void for_each_param_range(const Unit& u, int64_t begin, int64_t end, Fn&& fn) {
  for (const ParamEntry& p : u.params) {
    const int64_t lo = std::max(begin, p.offset);
    const int64_t hi = std::min(end, p.offset + p.numel);
    if (lo < hi) fn(p, lo, hi);
  }
}
// The flat index range of this rank's shard (all of it for sharding 0).
std::pair<int64_t, int64_t> owned_range(const Unit& u) {
  if (u.sharding == 0) return {0, u.numel};
  return {int64_t(u.dp_rank) * u.shard, std::min(u.numel, int64_t(u.dp_rank + 1) * u.shard)};
}
}  // namespace

double ParallelTrainer::State::clip_gradients() {
  double sum = 0.0;
  for (Unit& u : units) {
    if (!u.counts_in_norm) continue;
    const bool sharded = u.sharding >= 2;
    if (!sharded && u.dp_rank != 0) continue;  // every DP rank holds the same reduced gradient
    const auto [begin, end] = sharded ? owned_range(u) : std::pair<int64_t, int64_t>{0, u.numel};
    const float* g = sharded ? u.grad_shard.f32() - begin : u.grads.f32();
    for_each_param_range(u, begin, end, [&](const ParamEntry& p, int64_t lo, int64_t hi) {
      if (p.placement.kind != Placement::Kind::shard && u.tp_rank != 0) return;  // TP replicas
      sum += nn::sum_of_squares(g + lo, hi - lo);
    });
  }
  comm::all_reduce(*world, &sum, 1, DType::f64);
  const double norm = std::sqrt(sum);
  const float scale = nn::clip_scale(norm, options.grad_clip);
  if (scale != 1.0f) {
    for (Unit& u : units) {
      Tensor& g = u.sharding >= 2 ? u.grad_shard : u.grads;
      nn::scale_in_place(g.f32(), g.numel(), scale);
    }
  }
  return norm;
}

void ParallelTrainer::State::update(float lr) {
  ++steps;
  std::vector<std::shared_ptr<comm::Work>> gathers;
  for (Unit& u : units) {
    const auto [begin, end] = owned_range(u);
    const int64_t shard_base = u.sharding == 0 ? 0 : int64_t(u.dp_rank) * u.shard;
    float* w = u.sharding == 3 ? u.master.f32() - shard_base : u.flat.f32();
    const float* g = u.sharding >= 2 ? u.grad_shard.f32() - shard_base : u.grads.f32();
    float* m = u.m.f32() - shard_base;
    float* v = u.v.f32() - shard_base;
    for_each_param_range(u, begin, end, [&](const ParamEntry& p, int64_t lo, int64_t hi) {
      nn::adamw_update(w + lo, g + lo, m + lo, v + lo, hi - lo, lr, steps, p.decay, options.adamw);
    });
    if (u.sharding == 1 || u.sharding == 2) {
      float* flat = u.flat.f32();
      gathers.push_back(comm::all_gather_async(*u.dp, flat + shard_base, flat, size_t(u.shard), DType::f32));
    }
  }
  const auto start = Clock::now();
  for (auto& work : gathers) work->wait();
  exposed_ms += ms_since(start);
}

void ParallelTrainer::State::begin_batch(const Tensor& batch_ids, const Tensor& batch_targets) {
  LOOM_CHECK(batch_ids.ndim() == 2 && batch_ids.dim(0) == plan.global_batch && batch_ids.dim(1) <= model.seq_len &&
                 batch_targets.shape() == batch_ids.shape(),
             "parallel runtime: ids {} and targets {} for a global batch of {} x (at most) {}", batch_ids.describe(),
             batch_targets.describe(), plan.global_batch, model.seq_len);
  seq = batch_ids.dim(1);
  micro_rows = plan.global_batch / plan.micro_batches;
  ids = batch_ids;
  targets = batch_targets;
}

// The mean loss over the global batch from the last stage's per-micro-batch sum, on every rank.
float ParallelTrainer::State::global_loss(double stage_loss_sum) {
  double loss = 0.0;
  if (last && units[size_t(head_unit)].tp_rank == 0)
    loss = stage_loss_sum / double(plan.micro_batches * units[size_t(head_unit)].dp_size);
  comm::all_reduce(*world, &loss, 1, DType::f64);
  return float(loss);
}

ParallelStepResult ParallelTrainer::State::run_step(const Tensor& step_ids, const Tensor& step_targets, float lr) {
  const auto start = Clock::now();
  begin_batch(step_ids, step_targets);
  const int m = plan.micro_batches;
  runs.clear();
  runs.resize(size_t(m));
  for (auto& row : runs) row = std::vector<UnitRun>(units.size());
  received_input.assign(size_t(m), Tensor());
  received_grad.assign(size_t(m), Tensor());
  output_to_send.assign(size_t(m), Tensor());
  grad_to_send.assign(size_t(m), Tensor());
  loss_sum = 0.0;
  exposed_ms = 0.0;
  pipeline_ms = 0.0;
  for (Bucket& bucket : buckets) bucket.buffer.fill(0.0f);
  for (Unit& u : units) {
    if (u.sharding >= 2) u.grad_shard.fill(0.0f);
    u.touches = 0;
    u.touches_this_micro_batch = 0;
  }

  const int stage_size = mesh->stage_size();
  auto input_buffer = [&](int mb) -> Tensor& {
    Tensor& t = received_input[size_t(mb)];
    t = Tensor::empty_in(activation_shape(boundary_layout(stage - 1), stage_size), MemoryCategory::activations);
    return t;
  };
  auto grad_buffer = [&](int mb) -> Tensor& {
    Tensor& t = received_grad[size_t(mb)];
    t = Tensor::empty_in(activation_shape(boundary_layout(stage), stage_size), MemoryCategory::activations);
    return t;
  };
  Tensor none;
  for (const Action& action : program.actions.at(size_t(stage))) {
    const int mb = action.micro_batch;
    const auto transfer_start = Clock::now();
    switch (action.kind) {
      case ActionKind::forward:
        forward(mb);
        continue;
      case ActionKind::backward:
        backward(mb);
        continue;
      case ActionKind::recv_forward:
        transfer(nullptr, none, forward_prev.get(), input_buffer(mb));
        break;
      case ActionKind::send_forward:
        transfer(forward_next.get(), output_to_send[size_t(mb)], nullptr, none);
        output_to_send[size_t(mb)] = Tensor();
        break;
      case ActionKind::recv_backward:
        transfer(nullptr, none, backward_next.get(), grad_buffer(mb));
        break;
      case ActionKind::send_backward:
        transfer(backward_prev.get(), grad_to_send[size_t(mb)], nullptr, none);
        grad_to_send[size_t(mb)] = Tensor();
        break;
      case ActionKind::send_forward_recv_backward:
        transfer(forward_next.get(), output_to_send[size_t(mb)], backward_next.get(),
                 grad_buffer(action.recv_micro_batch));
        output_to_send[size_t(mb)] = Tensor();
        break;
      case ActionKind::send_backward_recv_forward:
        transfer(backward_prev.get(), grad_to_send[size_t(mb)], forward_prev.get(),
                 input_buffer(action.recv_micro_batch));
        grad_to_send[size_t(mb)] = Tensor();
        break;
    }
    pipeline_ms += ms_since(transfer_start);
  }
  finish_gradients();

  ParallelStepResult result;
  result.loss = global_loss(loss_sum);
  result.grad_norm = clip_gradients();
  update(lr);
  runs.clear();
  result.step_ms = ms_since(start);
  result.exposed_comm_ms = exposed_ms;
  result.pipeline_wait_ms = pipeline_ms;
  result.compute_ms = result.step_ms - exposed_ms - pipeline_ms;
  return result;
}

ParallelStepResult ParallelTrainer::step(const Tensor& ids, const Tensor& targets, float lr) {
  return state_->run_step(ids, targets, lr);
}

float ParallelTrainer::evaluate(const Tensor& ids, const Tensor& targets) {
  State& s = *state_;
  s.begin_batch(ids, targets);
  autograd::NoGradScope no_grad;
  const int stage_size = s.mesh->stage_size();
  Tensor none;
  double loss_sum = 0.0;
  // Micro-batch by micro-batch down the pipeline: each stage receives, computes and passes on
  // (a chain of blocking transfers, so no stage waits on one that waits on it).
  for (int mb = 0; mb < s.plan.micro_batches; ++mb) {
    Var x;
    if (!s.first) {
      Tensor input =
          Tensor::empty_in(s.activation_shape(s.boundary_layout(s.stage - 1), stage_size), MemoryCategory::activations);
      transfer(nullptr, none, s.forward_prev.get(), input);
      x = Var(input);
    }
    for (const int index : s.compute_units) {
      for (int t : s.units[size_t(index)].touched) s.acquire(t);
      x = s.unit_forward(index, x, mb);
      for (int t : s.units[size_t(index)].touched) s.release(t);
    }
    if (s.last) {
      loss_sum += double(x.value().item());
    } else {
      Tensor output = x.value().contiguous();
      transfer(s.forward_next.get(), output, nullptr, none);
    }
  }
  return s.global_loss(loss_sum);
}

}  // namespace loom::parallel
