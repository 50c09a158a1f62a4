// Plan validator: structure, matching, then an execution of the plan in its own semantics
// (collective_plan.h) that tracks which ranks' contributions every chunk holds.
//
// The execution is event-driven: a rank's step is issued when its previous step completed; an
// operation completes once its partner's step has been issued; a step completes when all its
// operations have, and only then are its receives and copies applied. Sends snapshot their
// chunks when their step is issued. The contributions of a chunk are a sorted list of disjoint
// rank intervals, so a ring over a thousand ranks stays a few intervals per chunk. Zero-byte
// chunks are checked like any other: every chunk must end with every contribution once.
#include "topo/plan_validator.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace loom::topo {
namespace {

struct Interval {
  int32_t begin = 0;  // ranks [begin, end)
  int32_t end = 0;
};
using Contributors = std::vector<Interval>;  // sorted, disjoint and not touching

// Adds `add` into `target`; returns the first rank both hold (then `target` is unchanged), or -1.
int merge_contributors(Contributors& target, const Contributors& add) {
  if (add.empty()) return -1;
  if (target.empty()) {
    target = add;
    return -1;
  }
  Contributors merged;
  merged.reserve(target.size() + add.size());
  size_t i = 0, j = 0;
  while (i < target.size() || j < add.size()) {
    const bool take_target = j == add.size() || (i < target.size() && target[i].begin < add[j].begin);
    const Interval next = take_target ? target[i++] : add[j++];
    if (!merged.empty() && next.begin < merged.back().end) return next.begin;
    if (!merged.empty() && next.begin == merged.back().end) {
      merged.back().end = next.end;
    } else {
      merged.push_back(next);
    }
  }
  target = std::move(merged);
  return -1;
}

std::string describe_contributors(const Contributors& set) {
  std::string text = "{";
  for (size_t i = 0; i < set.size(); ++i) {
    if (i > 0) text += ", ";
    text += set[i].end - set[i].begin == 1 ? fmt::format("{}", set[i].begin)
                                           : fmt::format("{}..{}", set[i].begin, set[i].end - 1);
  }
  return text + "}";
}

const char* buffer_name(PlanBuffer buffer) {
  return buffer == PlanBuffer::data ? "data" : "scratch";
}
bool is_receive(PlanOpKind kind) {
  return kind == PlanOpKind::recv || kind == PlanOpKind::recv_reduce;
}
bool is_write(PlanOpKind kind) {
  return kind != PlanOpKind::send;
}

// Where every op sits: its global id is rank_first_op[rank] + index.
struct PlanIndex {
  std::vector<int64_t> rank_first_op;  // ranks + 1 entries
  std::vector<int32_t> rank_of_op;
  std::vector<int32_t> group_of_op;                  // index of the op's step among its rank's steps
  std::vector<int64_t> partner;                      // the matching op (send <-> receive); -1 for copies
  std::vector<std::vector<int64_t>> group_first_op;  // per rank: steps + 1 global op ids

  const PlanOp& op(const CollectivePlan& plan, int64_t id) const {
    const int32_t rank = rank_of_op[size_t(id)];
    return plan.ops[size_t(rank)][size_t(id - rank_first_op[size_t(rank)])];
  }
  int64_t index_in_rank(int64_t id) const { return id - rank_first_op[size_t(rank_of_op[size_t(id)])]; }
};

// ---- structure ---------------------------------------------------------------------------------

void check_structure(const CollectivePlan& plan, const std::string& where) {
  if (plan.ranks < 1) throw_user_error("{} ranks={} must be >= 1", where, plan.ranks);
  if (plan.ops.size() != size_t(plan.ranks))
    throw_user_error("{} ops has {} rank lists for ranks={} (valid: one list per rank)", where, plan.ops.size(),
                     plan.ranks);
  if (plan.element_bytes < 1) throw_user_error("{} element_bytes={} must be >= 1", where, plan.element_bytes);
  for (size_t i = 0; i < plan.chunk_bytes.size(); ++i) {
    if (plan.chunk_bytes[i] < 0 || plan.chunk_bytes[i] % plan.element_bytes != 0)
      throw_user_error(
          "{} chunks[{}]={} is not a whole number of elements (valid: a multiple of element_bytes={}, "
          ">= 0)",
          where, i, plan.chunk_bytes[i], plan.element_bytes);
  }
  const int64_t chunks = int64_t(plan.chunk_bytes.size());
  for (int rank = 0; rank < plan.ranks; ++rank) {
    const auto& ops = plan.ops[size_t(rank)];
    for (size_t i = 0; i < ops.size(); ++i) {
      const PlanOp& op = ops[i];
      if (uint8_t(op.kind) > uint8_t(PlanOpKind::copy))
        throw_user_error("{} ops[{}][{}].op={} is not an operation (valid: send, recv, recv_reduce, copy)", where, rank,
                         i, int(op.kind));
      if (uint8_t(op.buffer) > uint8_t(PlanBuffer::scratch))
        throw_user_error("{} ops[{}][{}].buffer={} is not a buffer (valid: data, scratch)", where, rank, i,
                         int(op.buffer));
      if (op.kind == PlanOpKind::copy) {
        if (op.peer != -1)
          throw_user_error("{} ops[{}][{}].peer={} must be -1 for a copy (a copy stays on its rank)", where, rank, i,
                           op.peer);
      } else if (op.peer < 0 || op.peer >= plan.ranks || op.peer == rank) {
        throw_user_error("{} ops[{}][{}].peer={} is out of range (valid: 0..{}, not {} itself)", where, rank, i,
                         op.peer, plan.ranks - 1, rank);
      }
      if (op.first_chunk < 0 || op.chunk_count < 1 || int64_t(op.first_chunk) + op.chunk_count > chunks)
        throw_user_error(
            "{} ops[{}][{}].chunks=[{},{}] is out of range (valid: first >= 0, count >= 1, first + "
            "count <= {} chunks)",
            where, rank, i, op.first_chunk, op.chunk_count, chunks);
      if (op.step < 0) throw_user_error("{} ops[{}][{}].step={} must be >= 0", where, rank, i, op.step);
      if (i > 0 && op.step < ops[i - 1].step)
        throw_user_error("{} ops[{}][{}].step={} comes after step {} (valid: steps in non-decreasing order per rank)",
                         where, rank, i, op.step, ops[i - 1].step);
    }
  }
}

PlanIndex index_plan(const CollectivePlan& plan) {
  PlanIndex index;
  index.rank_first_op.assign(size_t(plan.ranks) + 1, 0);
  for (int rank = 0; rank < plan.ranks; ++rank)
    index.rank_first_op[size_t(rank) + 1] = index.rank_first_op[size_t(rank)] + int64_t(plan.ops[size_t(rank)].size());
  const size_t total = size_t(index.rank_first_op.back());
  index.rank_of_op.resize(total);
  index.group_of_op.resize(total);
  index.partner.assign(total, -1);
  index.group_first_op.resize(size_t(plan.ranks));
  for (int rank = 0; rank < plan.ranks; ++rank) {
    const auto& ops = plan.ops[size_t(rank)];
    auto& groups = index.group_first_op[size_t(rank)];
    const int64_t base = index.rank_first_op[size_t(rank)];
    for (size_t i = 0; i < ops.size(); ++i) {
      if (i == 0 || ops[i].step != ops[i - 1].step) groups.push_back(base + int64_t(i));
      index.rank_of_op[size_t(base) + i] = rank;
      index.group_of_op[size_t(base) + i] = int32_t(groups.size() - 1);
    }
    groups.push_back(base + int64_t(ops.size()));
  }
  return index;
}

// ---- matching ----------------------------------------------------------------------------------

std::string describe_op(const PlanOp& op) {
  return fmt::format("{} {} {} (step {}, chunks [{},{}])", plan_op_kind_name(op.kind),
                     op.kind == PlanOpKind::send ? "to" : "from", op.peer, op.step, op.first_chunk, op.chunk_count);
}

// Pairs the k-th send a -> b with the k-th receive on b from a, channel by channel.
void match_messages(const CollectivePlan& plan, PlanIndex& index, const std::string& where) {
  struct Endpoint {
    int64_t channel;  // from * ranks + to
    int64_t op;
    bool operator<(const Endpoint& other) const {
      return channel != other.channel ? channel < other.channel : op < other.op;
    }
  };
  std::vector<Endpoint> sends, receives;
  for (int rank = 0; rank < plan.ranks; ++rank) {
    const auto& ops = plan.ops[size_t(rank)];
    const int64_t base = index.rank_first_op[size_t(rank)];
    for (size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].kind == PlanOpKind::send)
        sends.push_back({int64_t(rank) * plan.ranks + ops[i].peer, base + int64_t(i)});
      if (is_receive(ops[i].kind)) receives.push_back({int64_t(ops[i].peer) * plan.ranks + rank, base + int64_t(i)});
    }
  }
  std::sort(sends.begin(), sends.end());
  std::sort(receives.begin(), receives.end());
  const auto count_on = [](const std::vector<Endpoint>& list, int64_t channel) {
    const auto range = std::equal_range(list.begin(), list.end(), Endpoint{channel, -1},
                                        [](const Endpoint& a, const Endpoint& b) { return a.channel < b.channel; });
    return range.second - range.first;
  };
  const auto unmatched = [&](int64_t id) {
    const PlanOp& op = index.op(plan, id);
    const int32_t rank = index.rank_of_op[size_t(id)];
    const bool send = op.kind == PlanOpKind::send;
    const int from = send ? rank : op.peer, to = send ? op.peer : rank;
    const int64_t channel = int64_t(from) * plan.ranks + to;
    throw_user_error(
        "{} ops[{}][{}] {} has no matching {} (rank {} sends {} times to rank {}, which receives {} times "
        "from it; valid: equal counts)",
        where, rank, index.index_in_rank(id), describe_op(op), send ? "receive" : "send", from,
        count_on(sends, channel), to, count_on(receives, channel));
  };
  size_t s = 0, r = 0;
  while (s < sends.size() || r < receives.size()) {
    if (r == receives.size() || (s < sends.size() && sends[s].channel < receives[r].channel)) unmatched(sends[s].op);
    if (s == sends.size() || receives[r].channel < sends[s].channel) unmatched(receives[r].op);
    const PlanOp& send = index.op(plan, sends[s].op);
    const PlanOp& receive = index.op(plan, receives[r].op);
    if (send.first_chunk != receive.first_chunk || send.chunk_count != receive.chunk_count) {
      const int32_t from = index.rank_of_op[size_t(sends[s].op)], to = index.rank_of_op[size_t(receives[r].op)];
      throw_user_error(
          "{} ops[{}][{}] {} meets ops[{}][{}] {}: chunks differ (valid: the same chunks on both sides "
          "of the k-th message from {} to {})",
          where, from, index.index_in_rank(sends[s].op), describe_op(send), to, index.index_in_rank(receives[r].op),
          describe_op(receive), from, to);
    }
    index.partner[size_t(sends[s].op)] = receives[r].op;
    index.partner[size_t(receives[r].op)] = sends[s].op;
    ++s;
    ++r;
  }
}

// Within one step of one rank, two writes to one chunk of one buffer race unless both reduce.
void check_step_writes(const CollectivePlan& plan, const PlanIndex& index, const std::string& where) {
  struct Write {
    int buffer, first, end;
    bool reduce;
    int64_t op;
  };
  std::vector<Write> writes;
  for (int rank = 0; rank < plan.ranks; ++rank) {
    const auto& groups = index.group_first_op[size_t(rank)];
    for (size_t g = 0; g + 1 < groups.size(); ++g) {
      writes.clear();
      for (int64_t id = groups[g]; id < groups[g + 1]; ++id) {
        const PlanOp& op = index.op(plan, id);
        if (is_write(op.kind))
          writes.push_back({int(op.buffer), op.first_chunk, op.first_chunk + op.chunk_count,
                            op.kind == PlanOpKind::recv_reduce, id});
      }
      if (writes.size() < 2) continue;
      std::sort(writes.begin(), writes.end(), [](const Write& a, const Write& b) {
        return a.buffer != b.buffer ? a.buffer < b.buffer : a.first < b.first;
      });
      // Sweep: the furthest end of any earlier write, and of any earlier overwrite, per buffer.
      const Write* furthest = nullptr;
      const Write* furthest_overwrite = nullptr;
      for (const Write& write : writes) {
        if (furthest && furthest->buffer != write.buffer) furthest = furthest_overwrite = nullptr;
        const Write* clash = nullptr;
        if (!write.reduce && furthest && write.first < furthest->end) clash = furthest;
        if (write.reduce && furthest_overwrite && write.first < furthest_overwrite->end) clash = furthest_overwrite;
        if (clash) {
          const PlanOp& a = index.op(plan, clash->op);
          const PlanOp& b = index.op(plan, write.op);
          throw_user_error(
              "{} rank {} step {}: ops[{}][{}] {} and ops[{}][{}] {} both write {} chunk {} (valid: one "
              "write per chunk and step, or only recv_reduce)",
              where, rank, b.step, rank, index.index_in_rank(clash->op), describe_op(a), rank,
              index.index_in_rank(write.op), describe_op(b), buffer_name(PlanBuffer(write.buffer)),
              std::max(write.first, clash->first));
        }
        if (!furthest || write.end > furthest->end) furthest = &write;
        if (!write.reduce && (!furthest_overwrite || write.end > furthest_overwrite->end)) furthest_overwrite = &write;
      }
    }
  }
}

// ---- execution ---------------------------------------------------------------------------------

class Execution {
 public:
  Execution(const CollectivePlan& plan, const PlanIndex& index, const std::string& where)
      : plan_(plan), index_(index), where_(where) {
    const size_t ranks = size_t(plan.ranks), chunks = plan.chunk_bytes.size();
    data_.resize(ranks);
    scratch_.resize(ranks);
    for (size_t rank = 0; rank < ranks; ++rank)
      data_[rank].assign(chunks, Contributors{{int32_t(rank), int32_t(rank) + 1}});
    current_.assign(ranks, -1);
    pending_.assign(ranks, 0);
  }

  void run() {
    for (int rank = 0; rank < plan_.ranks; ++rank) issue(rank, 0);
    while (!ready_.empty()) {
      const int rank = ready_.front();
      ready_.pop_front();
      complete(rank);
      issue(rank, current_[size_t(rank)] + 1);
    }
    report_deadlock();
    check_result();
  }

 private:
  int groups(int rank) const { return int(index_.group_first_op[size_t(rank)].size()) - 1; }

  std::vector<Contributors>& buffer(int rank, PlanBuffer which) {
    if (which == PlanBuffer::data) return data_[size_t(rank)];
    auto& scratch = scratch_[size_t(rank)];
    if (scratch.empty()) scratch.resize(plan_.chunk_bytes.size());  // scratch starts empty
    return scratch;
  }

  void issue(int rank, int group) {
    current_[size_t(rank)] = group;
    if (group >= groups(rank)) return;
    int pending = 0;
    const auto& first_op = index_.group_first_op[size_t(rank)];
    for (int64_t id = first_op[size_t(group)]; id < first_op[size_t(group) + 1]; ++id) {
      const PlanOp& op = index_.op(plan_, id);
      if (op.kind == PlanOpKind::copy) continue;
      if (op.kind == PlanOpKind::send) {
        const auto& source = buffer(rank, op.buffer);
        in_flight_.emplace(id, std::vector<Contributors>(source.begin() + op.first_chunk,
                                                         source.begin() + op.first_chunk + op.chunk_count));
      }
      const int64_t partner = index_.partner[size_t(id)];
      const int peer = index_.rank_of_op[size_t(partner)];
      const int peer_group = index_.group_of_op[size_t(partner)];
      const int peer_current = current_[size_t(peer)];
      if (peer_current >= peer_group) {
        LOOM_CHECK(peer_current == peer_group, "rank {} finished step group {} before rank {} issued group {}", peer,
                   peer_group, rank, group);
        if (--pending_[size_t(peer)] == 0) ready_.push_back(peer);
      } else {
        ++pending;
      }
    }
    pending_[size_t(rank)] = pending;
    if (pending == 0) ready_.push_back(rank);
  }

  void complete(int rank) {
    const int group = current_[size_t(rank)];
    const auto& first_op = index_.group_first_op[size_t(rank)];
    const int64_t begin = first_op[size_t(group)], end = first_op[size_t(group) + 1];
    // Copies read their source as the step began: take them before any write of this step.
    std::vector<std::vector<Contributors>> copied;
    for (int64_t id = begin; id < end; ++id) {
      const PlanOp& op = index_.op(plan_, id);
      if (op.kind != PlanOpKind::copy) continue;
      const auto& source = buffer(rank, op.buffer == PlanBuffer::data ? PlanBuffer::scratch : PlanBuffer::data);
      copied.emplace_back(source.begin() + op.first_chunk, source.begin() + op.first_chunk + op.chunk_count);
    }
    size_t next_copy = 0;
    for (int64_t id = begin; id < end; ++id) {
      const PlanOp& op = index_.op(plan_, id);
      if (op.kind == PlanOpKind::send) continue;
      auto& target = buffer(rank, op.buffer);
      if (op.kind == PlanOpKind::copy) {
        std::move(copied[next_copy].begin(), copied[next_copy].end(), target.begin() + op.first_chunk);
        ++next_copy;
        continue;
      }
      const auto message = in_flight_.find(index_.partner[size_t(id)]);
      LOOM_CHECK(message != in_flight_.end(), "rank {} step {}: the matching send was not issued", rank, op.step);
      for (int i = 0; i < op.chunk_count; ++i) {
        Contributors& chunk = target[size_t(op.first_chunk + i)];
        if (op.kind == PlanOpKind::recv) {
          chunk = std::move(message->second[size_t(i)]);
          continue;
        }
        const int twice = merge_contributors(chunk, message->second[size_t(i)]);
        if (twice >= 0)
          throw_user_error(
              "{} {}chunk {} on rank {} would hold rank {}'s contribution twice (step {}, recv_reduce "
              "from {})",
              where_, op.buffer == PlanBuffer::scratch ? "scratch " : "", op.first_chunk + i, rank, twice, op.step,
              op.peer);
      }
      in_flight_.erase(message);
    }
  }

  void report_deadlock() const {
    std::vector<int> stuck;
    for (int rank = 0; rank < plan_.ranks; ++rank)
      if (current_[size_t(rank)] < groups(rank)) stuck.push_back(rank);
    if (stuck.empty()) return;
    // Follow who waits for whom from the first stuck rank: that walk ends in a cycle.
    std::string text;
    std::vector<bool> seen(size_t(plan_.ranks), false);
    int rank = stuck.front();
    for (int shown = 0; shown < 4 && !seen[size_t(rank)]; ++shown) {
      seen[size_t(rank)] = true;
      const auto& first_op = index_.group_first_op[size_t(rank)];
      const int group = current_[size_t(rank)];
      for (int64_t id = first_op[size_t(group)]; id < first_op[size_t(group) + 1]; ++id) {
        const int64_t partner = index_.partner[size_t(id)];
        if (partner < 0) continue;
        const int peer = index_.rank_of_op[size_t(partner)];
        if (current_[size_t(peer)] >= index_.group_of_op[size_t(partner)]) continue;
        text += fmt::format("{}rank {} step {} waits for rank {} (step {})", text.empty() ? "" : ", ", rank,
                            index_.op(plan_, id).step, peer, index_.op(plan_, partner).step);
        rank = peer;
        break;
      }
    }
    throw_user_error("{} deadlock: {}{} ({} of {} ranks cannot progress)", where_, text,
                     seen[size_t(rank)] ? "" : ", ...", stuck.size(), plan_.ranks);
  }

  void check_result() const {
    const Contributors everyone{{0, int32_t(plan_.ranks)}};
    for (int rank = 0; rank < plan_.ranks; ++rank) {
      const auto& chunks = data_[size_t(rank)];
      for (size_t chunk = 0; chunk < chunks.size(); ++chunk) {
        const Contributors& held = chunks[chunk];
        if (held.size() == 1 && held[0].begin == 0 && held[0].end == plan_.ranks) continue;
        int missing = 0;
        for (const Interval& interval : held) {
          if (interval.begin != missing) break;
          missing = interval.end;
        }
        throw_user_error(
            "{} rank {} ends with data chunk {} holding the contributions of ranks {} (missing rank {}; "
            "valid: every rank 0..{} exactly once)",
            where_, rank, chunk, describe_contributors(held), missing, plan_.ranks - 1);
      }
    }
  }

  const CollectivePlan& plan_;
  const PlanIndex& index_;
  const std::string& where_;
  std::vector<std::vector<Contributors>> data_, scratch_;             // per rank, per chunk
  std::vector<int> current_;                                          // issued step group per rank (-1: none yet)
  std::vector<int> pending_;                                          // operations of that group not complete
  std::deque<int> ready_;                                             // ranks whose issued group can complete
  std::unordered_map<int64_t, std::vector<Contributors>> in_flight_;  // send id -> chunks as sent
};

}  // namespace

void validate_plan(const CollectivePlan& plan, const std::string& origin) {
  check_structure(plan, origin);
  PlanIndex index = index_plan(plan);
  match_messages(plan, index, origin);
  check_step_writes(plan, index, origin);
  Execution(plan, index, origin).run();
}

}  // namespace loom::topo
