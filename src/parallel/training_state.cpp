// The whole training state in and out of any plan: parameters and AdamW moments gathered from
// this rank's shards (over DP and TP, from the owning stage) in the single-process checkpoint's
// names, and cut back into shards on load.
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

namespace {
enum class StatePart { parameters, first_moments, second_moments };
const char* part_prefix(StatePart part) {
  return part == StatePart::parameters ? "" : part == StatePart::first_moments ? "adam.m." : "adam.v.";
}
}  // namespace

// A flat buffer laid out like u.flat (this TP rank's shards, whole over DP) holding one part of the
// unit's state, gathered over the DP group where this rank holds only its shard.
Tensor ParallelTrainer::State::whole_flat(int index, int part_index) {
  Unit& u = units[size_t(index)];
  const auto part = StatePart(part_index);
  if (part == StatePart::parameters) {
    acquire(index);
    Tensor copy = u.flat.clone();
    release(index);
    return copy;
  }
  const Tensor& moments = part == StatePart::first_moments ? u.m : u.v;
  if (u.sharding == 0) return moments;
  Tensor whole = Tensor::empty_in({u.padded}, MemoryCategory::workspace);
  comm::all_gather_async(*u.dp, moments.f32(), whole.f32(), size_t(u.shard), DType::f32)->wait();
  return whole;
}

// The whole tensor of one parameter entry from a flat buffer of its unit (gathered over TP).
Tensor ParallelTrainer::State::whole_tensor(Unit& u, const ParamEntry& entry, const Tensor& flat, const Shape& shape) {
  Tensor local = flat.slice(0, entry.offset, entry.offset + entry.numel).reshape(entry.local_shape).contiguous();
  Tensor assembled = local;
  if (entry.placement.kind == Placement::Kind::shard && u.tp_size > 1) {
    Tensor all = Tensor::empty_in({int64_t(u.tp_size) * entry.numel}, MemoryCategory::workspace);
    comm::all_gather(*u.tp, local.f32(), all.f32(), size_t(entry.numel), DType::f32);
    std::vector<Tensor> shards;
    for (int r = 0; r < u.tp_size; ++r)
      shards.push_back(all.slice(0, r * entry.numel, (r + 1) * entry.numel).reshape(entry.local_shape));
    assembled = unshard_tensor(shards, entry.placement);
  }
  Tensor whole = Tensor::empty(shape);
  whole.copy_from(assembled.slice(0, 0, shape[0]));
  return whole;
}

std::vector<std::pair<std::string, Tensor>> ParallelTrainer::State::gather_state(bool with_moments) {
  const std::vector<nn::ParameterSpec> specs = nn::parameter_specs(model);
  std::vector<std::pair<std::string, Tensor>> result;
  const int stage_count = int(plan.stages.size());
  for (int part = 0; part < (with_moments ? 3 : 1); ++part) {
    // Per unit of this rank, its flat buffer of this part, made once (collective over DP).
    std::vector<Tensor> flats(units.size());
    for (const nn::ParameterSpec& spec : specs) {
      int owner = spec.layer < 0                    ? 0
                  : spec.layer >= int(model.layers) ? stage_count - 1
                                                    : plan.stage_of_layer(spec.layer);
      Tensor whole = Tensor::empty(spec.shape);
      if (stage == owner) {
        int index = -1;
        const ParamEntry* entry = nullptr;
        for (int i = 0; i < int(units.size()) && entry == nullptr; ++i) {
          if (i == head_table_unit) continue;
          for (const ParamEntry& p : units[size_t(i)].params)
            if (p.spec.name == spec.name) {
              index = i;
              entry = &p;
            }
        }
        LOOM_CHECK(entry != nullptr, "parameter {} not found on stage {}", spec.name, stage);
        if (!flats[size_t(index)].defined()) flats[size_t(index)] = whole_flat(index, part);
        whole = whole_tensor(units[size_t(index)], *entry, flats[size_t(index)], spec.shape);
      }
      comm::broadcast(*world, whole.f32(), size_t(whole.numel()), DType::f32, plan.stages[size_t(owner)].ranks[0]);
      result.emplace_back(part_prefix(StatePart(part)) + spec.name, whole);
    }
  }
  return result;
}

void ParallelTrainer::State::load_state(const std::vector<std::pair<std::string, Tensor>>& state,
                                        int64_t optimizer_steps) {
  std::map<std::string, Tensor> by_name(state.begin(), state.end());
  for (int part = 0; part < 3; ++part) {
    for (Unit& u : units) {
      Tensor flat = Tensor::zeros({u.padded});
      for (const ParamEntry& p : u.params) {
        const std::string name = part_prefix(StatePart(part)) + p.spec.name;
        const auto found = by_name.find(name);
        if (found == by_name.end()) throw_user_error("checkpoint: no tensor '{}' in the state", name);
        const Tensor& given = found->second;
        const int64_t rows = p.spec.shape[0];
        if (given.ndim() != int(p.spec.shape.size()) || given.dim(0) > rows)
          throw_user_error("checkpoint: tensor '{}' is {}, the model needs {}", name, given.describe(),
                           shape_str(p.spec.shape));
        Tensor whole = given;
        if (given.dim(0) < rows) {  // the vocabulary padded to the vocab-TP degree
          whole = Tensor::zeros(p.spec.shape);
          whole.slice(0, 0, given.dim(0)).copy_from(given);
        }
        Tensor local = p.placement.kind == Placement::Kind::shard
                           ? shard_tensor(whole, p.placement, u.tp_rank, u.tp_size, MemoryCategory::workspace)
                           : whole;
        flat.slice(0, p.offset, p.offset + p.numel).reshape(p.local_shape).copy_from(local);
      }
      const int64_t base = int64_t(u.dp_rank) * u.shard;
      const Tensor mine = flat.slice(0, base, base + u.shard);
      if (part == int(StatePart::parameters)) {
        if (u.sharding == 3) {
          u.master.copy_from(mine);
        } else {
          u.flat.copy_from(flat);
        }
      } else {
        Tensor& moments = part == int(StatePart::first_moments) ? u.m : u.v;
        moments.copy_from(u.sharding == 0 ? flat : mine);
      }
    }
  }
  steps = optimizer_steps;
}

std::vector<std::pair<std::string, Tensor>> ParallelTrainer::full_parameters() {
  return state_->gather_state(false);
}
std::vector<std::pair<std::string, Tensor>> ParallelTrainer::full_state() {
  return state_->gather_state(true);
}
void ParallelTrainer::load_full_state(const std::vector<std::pair<std::string, Tensor>>& state,
                                      int64_t optimizer_steps) {
  state_->load_state(state, optimizer_steps);
}
int64_t ParallelTrainer::optimizer_steps() const {
  return state_->steps;
}

}  // namespace loom::parallel
