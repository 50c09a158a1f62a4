// Placements: splitting a tensor into shards and joining them back; activation layouts on a
// stage's grid, the classification of a move between two of them, and the differentiable reshard.
// One mechanism moves every activation: each rank derives from the two layouts which blocks
// [batch range x sequence range] of its target part it lacks and which rank sends each, and the
// stage exchanges exactly those blocks point to point. The classification only names the result.
#include "parallel/placement.h"

#include <fmt/format.h>
#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <utility>

#include "autograd/tape.h"
#include "core/error.h"
#include "ops/primitive.h"

namespace loom::parallel {

std::string Placement::describe() const {
  switch (kind) {
    case Kind::replicate:
      return "Replicate";
    case Kind::partial:
      return "Partial";
    case Kind::shard:
      if (segments.empty()) return fmt::format("Shard({})", dim);
      return fmt::format("Shard({}, segments {})", dim, fmt::join(segments, "+"));
  }
  return "Unknown";
}

namespace {

// A shard placement resolved against a shape: the dimension and its segments (one segment of the
// whole dimension when none are given), each checked divisible by the shard count.
struct ShardSplit {
  int dim = 0;
  std::vector<int64_t> segments;
};

ShardSplit resolve_shard(const Shape& full, const Placement& placement, int count) {
  LOOM_CHECK(placement.kind == Placement::Kind::shard, "{} is not a shard placement", placement.describe());
  LOOM_CHECK(count > 0, "{} over {} ranks", placement.describe(), count);
  const int ndim = static_cast<int>(full.size());
  const int dim = placement.dim < 0 ? placement.dim + ndim : placement.dim;
  LOOM_CHECK(dim >= 0 && dim < ndim, "{} of a tensor of shape {}", placement.describe(), shape_str(full));
  const int64_t extent = full[static_cast<size_t>(dim)];
  ShardSplit split{dim, placement.segments.empty() ? std::vector<int64_t>{extent} : placement.segments};
  int64_t total = 0;
  for (int64_t segment : split.segments) {
    LOOM_CHECK(segment >= 0 && segment % count == 0, "{} of shape {}: segment {} is not divisible by {} shards",
               placement.describe(), shape_str(full), segment, count);
    total += segment;
  }
  LOOM_CHECK(total == extent, "{} of shape {}: segments sum to {}, dimension {} has {}", placement.describe(),
             shape_str(full), total, dim, extent);
  return split;
}

// Copies `length` indices of dimension `dim` from src (starting at src_start) into dst (at
// dst_start); both contiguous, equal in every other dimension.
void copy_along(const Tensor& src, int64_t src_start, const Tensor& dst, int64_t dst_start, int64_t length, int dim) {
  const auto d = static_cast<size_t>(dim);
  int64_t outer = 1;
  for (size_t a = 0; a < d; ++a) outer *= src.shape()[a];
  int64_t inner = 1;
  for (size_t a = d + 1; a < src.shape().size(); ++a) inner *= src.shape()[a];
  const auto element = static_cast<int64_t>(dtype_size_bytes(src.dtype()));
  const int64_t src_extent = src.shape()[d];
  const int64_t dst_extent = dst.shape()[d];
  const auto* from = static_cast<const char*>(src.raw_data());
  auto* to = static_cast<char*>(dst.raw_data());
  const auto bytes = static_cast<size_t>(length * inner * element);
  for (int64_t o = 0; o < outer; ++o) {
    std::memcpy(to + ((o * dst_extent + dst_start) * inner) * element,
                from + ((o * src_extent + src_start) * inner) * element, bytes);
  }
}

}  // namespace

Shape shard_shape(const Shape& full, const Placement& placement, int count) {
  LOOM_CHECK(placement.kind != Placement::Kind::partial, "a Partial placement does not split a tensor");
  if (placement.kind == Placement::Kind::replicate) return full;
  const ShardSplit split = resolve_shard(full, placement, count);
  Shape shape = full;
  shape[static_cast<size_t>(split.dim)] /= count;
  return shape;
}

Tensor shard_tensor(const Tensor& full, const Placement& placement, int index, int count, MemoryCategory category) {
  LOOM_CHECK(index >= 0 && index < count, "shard {} of {}", index, count);
  const Shape shape = shard_shape(full.shape(), placement, count);
  Tensor shard = Tensor::empty_in(shape, category, full.dtype());
  if (placement.kind == Placement::Kind::replicate) {
    shard.copy_from(full);
    return shard;
  }
  const ShardSplit split = resolve_shard(full.shape(), placement, count);
  const Tensor source = full.contiguous();
  int64_t segment_start = 0;
  int64_t shard_start = 0;
  for (int64_t segment : split.segments) {
    const int64_t part = segment / count;
    copy_along(source, segment_start + index * part, shard, shard_start, part, split.dim);
    segment_start += segment;
    shard_start += part;
  }
  return shard;
}

Tensor unshard_tensor(const std::vector<Tensor>& shards, const Placement& placement) {
  LOOM_CHECK(!shards.empty(), "unshard of no shards ({})", placement.describe());
  LOOM_CHECK(placement.kind != Placement::Kind::partial, "a Partial placement does not split a tensor");
  for (const Tensor& shard : shards) {
    LOOM_CHECK(shard.defined() && shard.shape() == shards[0].shape() && shard.dtype() == shards[0].dtype(),
               "unshard ({}): shard {} next to shard {}", placement.describe(),
               shard.defined() ? shard.describe() : "undefined", shards[0].describe());
  }
  const int count = static_cast<int>(shards.size());
  Shape full_shape = shards[0].shape();
  if (placement.kind == Placement::Kind::shard) {
    const int ndim = static_cast<int>(full_shape.size());
    const int dim = placement.dim < 0 ? placement.dim + ndim : placement.dim;
    LOOM_CHECK(dim >= 0 && dim < ndim, "{} of shards {}", placement.describe(), shards[0].describe());
    full_shape[static_cast<size_t>(dim)] *= count;
  }
  Tensor full = Tensor::empty_in(full_shape, shards[0].category(), shards[0].dtype());
  if (placement.kind == Placement::Kind::replicate) {
    full.copy_from(shards[0]);
    return full;
  }
  const ShardSplit split = resolve_shard(full_shape, placement, count);
  for (int index = 0; index < count; ++index) {
    const Tensor shard = shards[static_cast<size_t>(index)].contiguous();
    int64_t segment_start = 0;
    int64_t shard_start = 0;
    for (int64_t segment : split.segments) {
      const int64_t part = segment / count;
      copy_along(shard, shard_start, full, segment_start + index * part, part, split.dim);
      segment_start += segment;
      shard_start += part;
    }
  }
  return full;
}

std::string ActivationLayout::describe() const {
  if (grid.tp == 1) return "[dp x tp1] batch over dp";
  return fmt::format("[dp x tp{} {}] batch over dp, {} over tp", grid.tp, grid.consecutive ? "consecutive" : "strided",
                     sequence_sharded ? "sequence" : "replicated");
}

namespace {

// A block of the activation: batch rows [batch_begin, batch_end) x positions [seq_begin, seq_end).
struct Block {
  int64_t batch_begin = 0, batch_end = 0, seq_begin = 0, seq_end = 0;

  bool operator==(const Block&) const = default;
  int64_t rows() const { return batch_end - batch_begin; }
  int64_t positions() const { return seq_end - seq_begin; }
  int64_t area() const { return rows() * positions(); }
  bool empty() const { return rows() <= 0 || positions() <= 0; }
  bool contains(const Block& other) const {
    return batch_begin <= other.batch_begin && other.batch_end <= batch_end && seq_begin <= other.seq_begin &&
           other.seq_end <= seq_end;
  }
};

Block intersect(const Block& a, const Block& b) {
  return Block{std::max(a.batch_begin, b.batch_begin), std::min(a.batch_end, b.batch_end),
               std::max(a.seq_begin, b.seq_begin), std::min(a.seq_end, b.seq_end)};
}

// The part of a [batch, seq] activation the rank at stage-local index `local` holds.
Block holding(const ActivationLayout& layout, int local, int stage_size, int64_t batch, int64_t seq) {
  const GridPosition position = grid_position(local, stage_size, layout.grid);
  const int64_t replicas = stage_size / layout.grid.tp;
  Block block{position.dp * batch / replicas, (position.dp + 1) * batch / replicas, 0, seq};
  if (layout.sequence_sharded) {
    block.seq_begin = position.tp * seq / layout.grid.tp;
    block.seq_end = (position.tp + 1) * seq / layout.grid.tp;
  }
  return block;
}

std::vector<Block> holdings(const ActivationLayout& layout, int stage_size, int64_t batch, int64_t seq) {
  std::vector<Block> blocks;
  for (int local = 0; local < stage_size; ++local) blocks.push_back(holding(layout, local, stage_size, batch, seq));
  return blocks;
}

// One block of a rank's target part and the stage-local rank that provides it.
struct Transfer {
  int source = 0;
  Block block;
};

// For every receiving rank, its target part cut along the source layout's pieces (the distinct
// holdings, which tile the activation), each taken from the receiver itself when it holds it, else
// from one holder chosen by the receiver's index (spreading the sends when a piece is replicated).
// Every rank computes the same table.
std::vector<std::vector<Transfer>> plan_transfers(const std::vector<Block>& from, const std::vector<Block>& to) {
  const int n = static_cast<int>(from.size());
  std::vector<Block> pieces;
  std::vector<std::vector<int>> holders;
  for (int local = 0; local < n; ++local) {
    const Block& held = from[static_cast<size_t>(local)];
    const auto found = std::find(pieces.begin(), pieces.end(), held);
    if (found == pieces.end()) {
      pieces.push_back(held);
      holders.push_back({local});
    } else {
      holders[static_cast<size_t>(found - pieces.begin())].push_back(local);
    }
  }
  std::vector<std::vector<Transfer>> transfers(static_cast<size_t>(n));
  for (int receiver = 0; receiver < n; ++receiver) {
    for (size_t p = 0; p < pieces.size(); ++p) {
      const Block part = intersect(pieces[p], to[static_cast<size_t>(receiver)]);
      if (part.empty()) continue;
      const std::vector<int>& owners = holders[p];
      const bool own = std::find(owners.begin(), owners.end(), receiver) != owners.end();
      const int source = own ? receiver : owners[static_cast<size_t>(receiver) % owners.size()];
      transfers[static_cast<size_t>(receiver)].push_back(Transfer{source, part});
    }
  }
  return transfers;
}

bool same_holdings(const ActivationLayout& from, const ActivationLayout& to, int stage_size) {
  return from == to ||
         holdings(from, stage_size, stage_size, stage_size) == holdings(to, stage_size, stage_size, stage_size);
}

// A family of groups of one layout: for each stage-local index, the members of its group.
struct GroupFamily {
  std::string name;
  std::function<std::vector<int>(int)> members;
};

std::vector<GroupFamily> group_families(const ActivationLayout& from, const ActivationLayout& to, int n) {
  std::vector<GroupFamily> families;
  for (const auto& entry : {std::pair{from.grid, "source"}, std::pair{to.grid, "target"}}) {
    const GridLayout layout = entry.first;
    const char* role = entry.second;
    const std::string grid = fmt::format("tp{} {}", layout.tp, layout.consecutive ? "consecutive" : "strided");
    const int tp = layout.tp;
    if (tp > 1) {
      families.push_back({fmt::format("TP groups of {} ({} grid, {})", tp, role, grid),
                          [n, layout](int local) { return tp_group_members(local, n, layout); }});
    }
    if (n / tp > 1) {
      families.push_back({fmt::format("DP groups of {} ({} grid, {})", n / tp, role, grid),
                          [n, layout](int local) { return dp_group_members(local, n, layout); }});
    }
  }
  return families;
}

// Area of `target` covered by the distinct blocks among `blocks` of one layout (those tile the
// activation, so distinct ones are disjoint).
int64_t covered_area(const Block& target, const std::vector<Block>& blocks) {
  std::vector<Block> distinct;
  int64_t area = 0;
  for (const Block& block : blocks) {
    if (std::find(distinct.begin(), distinct.end(), block) != distinct.end()) continue;
    distinct.push_back(block);
    const Block part = intersect(block, target);
    if (!part.empty()) area += part.area();
  }
  return area;
}

std::vector<Block> select(const std::vector<Block>& blocks, const std::vector<int>& members) {
  std::vector<Block> chosen;
  for (int member : members) chosen.push_back(blocks[static_cast<size_t>(member)]);
  return chosen;
}

bool pairwise_distinct(const std::vector<Block>& blocks) {
  for (size_t i = 0; i < blocks.size(); ++i) {
    for (size_t j = i + 1; j < blocks.size(); ++j) {
      if (blocks[i] == blocks[j]) return false;
    }
  }
  return true;
}

// Every rank's target is exactly the union of its group's source holdings.
bool gathers_over(const GroupFamily& family, const std::vector<Block>& from, const std::vector<Block>& to) {
  for (size_t local = 0; local < from.size(); ++local) {
    const std::vector<Block> group = select(from, family.members(static_cast<int>(local)));
    for (const Block& held : group) {
      if (!to[local].contains(held)) return false;
    }
    if (covered_area(to[local], group) != to[local].area()) return false;
  }
  return true;
}

// Inside every group the source parts are distinct, the target parts are distinct, and both
// cover the same region: each member sends a piece to every other (an all-to-all).
bool exchanges_within(const GroupFamily& family, const std::vector<Block>& from, const std::vector<Block>& to) {
  for (size_t local = 0; local < from.size(); ++local) {
    const std::vector<int> members = family.members(static_cast<int>(local));
    const std::vector<Block> sources = select(from, members);
    const std::vector<Block> targets = select(to, members);
    if (!pairwise_distinct(sources) || !pairwise_distinct(targets)) return false;
    int64_t source_area = 0;
    int64_t target_area = 0;
    for (size_t i = 0; i < members.size(); ++i) {
      source_area += sources[i].area();
      target_area += targets[i].area();
      if (covered_area(targets[i], sources) != targets[i].area()) return false;
    }
    if (source_area != target_area) return false;
  }
  return true;
}

// "batch", "sequence" or "batch and sequence": the dimensions whose extent differs.
std::string moved_dimensions(const Block& from, const Block& to) {
  const bool batch = from.rows() != to.rows();
  const bool seq = from.positions() != to.positions();
  if (batch && seq) return "batch and sequence";
  return batch ? "batch" : "sequence";
}

}  // namespace

ReshardPlan derive_reshard(const ActivationLayout& from, const ActivationLayout& to, int stage_size) {
  // Units of 1/n of the batch and of the sequence make every holding whole.
  const int n = stage_size;
  const std::vector<Block> source = holdings(from, n, n, n);
  const std::vector<Block> target = holdings(to, n, n, n);
  const std::string move = fmt::format("{} -> {}", from.describe(), to.describe());
  ReshardPlan plan;
  if (source == target) {
    plan.kind = ReshardPlan::Kind::identity;
    plan.description = fmt::format("identity: every rank holds the same part ({})", move);
    return plan;
  }

  const std::vector<std::vector<Transfer>> transfers = plan_transfers(source, target);
  std::vector<int64_t> sent(static_cast<size_t>(n), 0);
  std::vector<int64_t> received(static_cast<size_t>(n), 0);
  for (int receiver = 0; receiver < n; ++receiver) {
    for (const Transfer& transfer : transfers[static_cast<size_t>(receiver)]) {
      if (transfer.source == receiver) continue;
      sent[static_cast<size_t>(transfer.source)] += transfer.block.area();
      received[static_cast<size_t>(receiver)] += transfer.block.area();
    }
  }
  const auto whole = static_cast<double>(n) * n;
  plan.send_fraction = static_cast<double>(*std::max_element(sent.begin(), sent.end())) / whole;
  plan.receive_fraction = static_cast<double>(*std::max_element(received.begin(), received.end())) / whole;

  bool local = true;
  for (int i = 0; i < n; ++i) local = local && source[static_cast<size_t>(i)].contains(target[static_cast<size_t>(i)]);
  if (local) {
    plan.kind = ReshardPlan::Kind::local_slice;
    plan.description = fmt::format("local slice of the {} ({})", moved_dimensions(source[0], target[0]), move);
    return plan;
  }
  const std::vector<GroupFamily> families = group_families(from, to, n);
  for (const GroupFamily& family : families) {
    if (gathers_over(family, source, target)) {
      plan.kind = ReshardPlan::Kind::all_gather;
      plan.description = fmt::format("all-gather of the {} over the {} ({})", moved_dimensions(source[0], target[0]),
                                     family.name, move);
      return plan;
    }
  }
  for (const GroupFamily& family : families) {
    if (exchanges_within(family, source, target)) {
      plan.kind = ReshardPlan::Kind::all_to_all;
      plan.description = fmt::format("all-to-all over the {} ({})", family.name, move);
      return plan;
    }
  }
  plan.kind = ReshardPlan::Kind::exchange;
  plan.description = fmt::format("point-to-point exchange over the stage ({})", move);
  return plan;
}

namespace {

// Copies `block` (global coordinates) from src, which holds `src_part`, into dst, which holds
// `dst_part`; both contiguous [rows, positions, ...].
void copy_block(const Tensor& src, const Block& src_part, const Tensor& dst, const Block& dst_part,
                const Block& block) {
  int64_t inner = 1;
  for (int a = 2; a < src.ndim(); ++a) inner *= src.shape()[static_cast<size_t>(a)];
  const auto element = static_cast<int64_t>(dtype_size_bytes(src.dtype()));
  const auto* from = static_cast<const char*>(src.raw_data());
  auto* to = static_cast<char*>(dst.raw_data());
  const auto bytes = static_cast<size_t>(block.positions() * inner * element);
  for (int64_t row = block.batch_begin; row < block.batch_end; ++row) {
    const int64_t src_offset =
        ((row - src_part.batch_begin) * src_part.positions() + (block.seq_begin - src_part.seq_begin)) * inner;
    const int64_t dst_offset =
        ((row - dst_part.batch_begin) * dst_part.positions() + (block.seq_begin - dst_part.seq_begin)) * inner;
    std::memcpy(to + dst_offset * element, from + src_offset * element, bytes);
  }
}

Shape part_shape(const Shape& like, const Block& part) {
  Shape shape = like;
  shape[0] = part.rows();
  shape[1] = part.positions();
  return shape;
}

// Moves this rank's part of an activation (or of its gradient) from one layout to the other:
// collective over the stage group, whose rank order is the stage-local order.
Tensor move_activation(const Tensor& x, const ActivationLayout& from, const ActivationLayout& to, DeviceMesh& mesh,
                       int64_t full_batch, int64_t full_seq) {
  ops::require_cpu(x, "reshard");
  const int n = mesh.stage_size();
  const int me = mesh.local_index();
  for (const ActivationLayout* layout : {&from, &to}) {
    const int replicas = n / layout->grid.tp;
    LOOM_CHECK(full_batch > 0 && full_batch % replicas == 0, "reshard: batch {} over {} replicas of {}", full_batch,
               replicas, layout->describe());
    LOOM_CHECK(full_seq > 0 && (!layout->sequence_sharded || full_seq % layout->grid.tp == 0),
               "reshard: sequence {} over {}", full_seq, layout->describe());
  }
  const std::vector<Block> source = holdings(from, n, full_batch, full_seq);
  const std::vector<Block> target = holdings(to, n, full_batch, full_seq);
  const Block& mine = source[static_cast<size_t>(me)];
  const Block& wanted = target[static_cast<size_t>(me)];
  LOOM_CHECK(x.ndim() >= 2 && x.dim(0) == mine.rows() && x.dim(1) == mine.positions(),
             "reshard: rank {} holds {} under {}, expected [{}, {}, ...]", me, x.describe(), from.describe(),
             mine.rows(), mine.positions());
  const Tensor input = x.contiguous();
  Tensor output = Tensor::empty(part_shape(x.shape(), wanted), x.dtype());

  comm::Communicator& group = mesh.stage_group();
  LOOM_CHECK(group.size() == n && group.rank() == me, "stage group rank {} of {} for stage-local index {} of {}",
             group.rank(), group.size(), me, n);
  group.begin_operation(fmt::format("reshard {} -> {}", from.describe(), to.describe()));
  const std::vector<std::vector<Transfer>> transfers = plan_transfers(source, target);

  // Blocks between one pair of ranks are tagged by their order in the receiver's list, which
  // both sides enumerate identically.
  std::vector<comm::Pending> pending;
  std::vector<Tensor> buffers;
  for (int receiver = 0; receiver < n; ++receiver) {
    if (receiver == me) continue;
    int tag = 0;
    for (const Transfer& transfer : transfers[static_cast<size_t>(receiver)]) {
      if (transfer.source != me) continue;
      LOOM_CHECK(tag < comm::Communicator::kTagsPerOperation, "reshard: {} blocks for one peer", tag);
      Tensor buffer = Tensor::empty_in(part_shape(x.shape(), transfer.block), MemoryCategory::communication, x.dtype());
      copy_block(input, mine, buffer, transfer.block, transfer.block);
      pending.push_back(group.isend(receiver, buffer.raw_data(), buffer.nbytes(), tag++));
      buffers.push_back(std::move(buffer));
    }
  }
  std::vector<std::pair<Tensor, Block>> arrivals;
  std::map<int, int> tags;
  for (const Transfer& transfer : transfers[static_cast<size_t>(me)]) {
    if (transfer.source == me) {
      copy_block(input, mine, output, wanted, transfer.block);
      continue;
    }
    const int tag = tags[transfer.source]++;
    LOOM_CHECK(tag < comm::Communicator::kTagsPerOperation, "reshard: {} blocks from one peer", tag);
    Tensor buffer = Tensor::empty_in(part_shape(x.shape(), transfer.block), MemoryCategory::communication, x.dtype());
    pending.push_back(group.irecv(transfer.source, buffer.raw_data(), buffer.nbytes(), tag));
    arrivals.emplace_back(std::move(buffer), transfer.block);
  }
  group.wait_all(pending);
  for (const auto& [buffer, block] : arrivals) copy_block(buffer, block, output, wanted, block);
  return output;
}

// The recorded reshard: the forward moves the activation, the backward moves its gradient back.
// Gradients are laid out like their activations (a replicated part's gradient is the same on
// every holder), so the backward is the same move in the other direction: a gather's backward is
// a slice. Both directions are collective over the stage.
class Reshard : public ops::Primitive {
 public:
  Reshard(DeviceMesh& mesh, ActivationLayout from, ActivationLayout to, int64_t full_batch, int64_t full_seq)
      : mesh_(mesh), from_(from), to_(to), full_batch_(full_batch), full_seq_(full_seq) {}

  std::string name() const override { return "reshard"; }

  Tensor forward(const Tensor& x) {
    Tensor y = move_activation(x, from_, to_, mesh_, full_batch_, full_seq_);
    output_shape_ = y.shape();
    output_dtype_ = y.dtype();
    return y;
  }

  std::vector<Tensor> backward(const std::vector<Tensor>& output_grads, const std::vector<bool>&) override {
    // Moved even when the input's gradient is not wanted: the other ranks of the stage expect
    // this rank's blocks.
    Tensor dy = output_grads.at(0);
    if (!dy.defined()) dy = Tensor::zeros(output_shape_, output_dtype_);
    LOOM_CHECK(dy.shape() == output_shape_, "reshard: gradient {} for an output of shape {}", dy.describe(),
               shape_str(output_shape_));
    return {move_activation(dy, to_, from_, mesh_, full_batch_, full_seq_)};
  }

 private:
  DeviceMesh& mesh_;
  ActivationLayout from_, to_;
  int64_t full_batch_, full_seq_;
  Shape output_shape_;
  DType output_dtype_ = DType::f32;
};

}  // namespace

autograd::Var reshard(const autograd::Var& x, const ActivationLayout& from, const ActivationLayout& to,
                      DeviceMesh& mesh, int64_t full_batch, int64_t full_seq) {
  if (same_holdings(from, to, mesh.stage_size())) return x;
  auto op = std::make_shared<Reshard>(mesh, from, to, full_batch, full_seq);
  Tensor y = op->forward(x.value());
  return autograd::apply_one(std::move(op), {x}, std::move(y));
}

}  // namespace loom::parallel
