// Flow-level discrete-event simulation of a collective plan (simulator.h).
//
// Events are kept in one heap and taken in batches: every event within a relative 1e-12 of the
// earliest is handled at that time, so the flows of a lockstep round start and finish in one
// batch. Rates are recomputed after a batch only for the flows that share links, directly or
// through other flows, with a link whose set of flows changed (max-min fairness couples nothing
// else), and a flow is rescheduled only when its rate changed. Routes are computed once per pair
// of ranks.
#include "topo/simulator.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <unordered_map>

#include "core/error.h"
#include "topo/fair_share.h"
#include "topo/plan_steps.h"

namespace loom::topo {

namespace {

constexpr double kSameTime = 1e-12;  // events this close (relative) form one batch

enum class EventKind : uint8_t { flow_finished, flow_started, rank_ready };

struct Event {
  double time_s = 0.0;
  EventKind kind = EventKind::flow_finished;
  int32_t id = 0;
  uint32_t version = 0;
  bool operator>(const Event& other) const { return time_s > other.time_s; }
};

class FlowSimulator {
 public:
  FlowSimulator(const Network& network, const CollectivePlan& plan);
  SimulationResult run();

 private:
  void build_groups();
  void build_flows();
  int32_t route_of(int src, int dst);
  void push(const Event& event) {
    events_.push_back(event);
    std::push_heap(events_.begin(), events_.end(), std::greater<>());
  }
  void issue_group(int32_t group, double now);
  void complete_group(int32_t group, double now);
  void start_flow(int32_t flow, double now);
  void finish_flow(int32_t flow, double now);
  void mark_dirty(int32_t link) {
    if (dirty_epoch_[size_t(link)] != epoch_) {
      dirty_epoch_[size_t(link)] = epoch_;
      dirty_links_.push_back(link);
    }
  }
  void recompute_rates(double now);
  double link_capacity(int32_t link) const;

  const Network& network_;
  const CollectivePlan& plan_;
  const std::vector<DirectedLink>& links_;
  PlanStepIndex index_;
  SimulationResult result_;

  // Per step group (index_.groups): the flows it takes part in, how many are not done, its host time.
  std::vector<int32_t> group_flow_begin_;
  std::vector<int32_t> group_flows_;
  std::vector<int32_t> group_pending_;
  std::vector<int32_t> group_rank_;  // copies of index_.groups' fields the event loop reads
  std::vector<int32_t> group_step_;
  std::vector<double> group_host_s_;
  std::vector<int32_t> next_group_;  // per rank

  // Per flow.
  std::vector<int64_t> flow_bytes_;
  std::vector<int32_t> flow_send_group_;
  std::vector<int32_t> flow_recv_group_;
  std::vector<int32_t> flow_route_;
  std::vector<uint8_t> flow_issued_;  // sides issued: the flow is ready at 2
  std::vector<uint8_t> flow_active_;
  std::vector<uint32_t> flow_version_;
  std::vector<double> flow_rate_;
  std::vector<double> flow_remaining_;  // bytes left at flow_updated_s_
  std::vector<double> flow_updated_s_;
  std::vector<int32_t> flow_slot_begin_;  // per flow, its position in link_flows_ of each path link
  std::vector<int32_t> flow_slots_;

  // Routes, one per ordered pair of ranks that exchange anything.
  std::unordered_map<uint64_t, int32_t> route_ids_;
  std::vector<int32_t> route_begin_{0};
  std::vector<int32_t> route_links_;
  std::vector<double> route_latency_s_;
  std::vector<int> route_scratch_;

  // Per link: its active flows; the component search and the solver.
  std::vector<std::vector<int32_t>> link_flows_;
  std::vector<double> capacity_;
  uint32_t epoch_ = 1;
  std::vector<uint32_t> dirty_epoch_;
  std::vector<int32_t> dirty_links_;
  std::vector<uint32_t> seen_link_epoch_;
  std::vector<uint32_t> seen_flow_epoch_;
  std::vector<int32_t> component_flows_;
  std::vector<int32_t> component_links_;
  std::vector<double> old_rate_;
  FairShareSolver solver_;

  std::vector<Event> events_;  // a binary min-heap on time
};

FlowSimulator::FlowSimulator(const Network& network, const CollectivePlan& plan)
    : network_(network),
      plan_(plan),
      links_(network.links()),
      index_(index_plan_steps(plan)),
      solver_(network.links().size(), 0) {
  build_groups();
  build_flows();
  const size_t links = links_.size();
  link_flows_.resize(links);
  capacity_.assign(links, 0.0);
  dirty_epoch_.assign(links, 0);
  seen_link_epoch_.assign(links, 0);
  seen_flow_epoch_.assign(flow_bytes_.size(), 0);
  solver_ = FairShareSolver(links, flow_bytes_.size());
}

void FlowSimulator::build_groups() {
  const std::vector<HostSpec>& hosts = network_.topology().hosts;
  group_host_s_.resize(index_.groups.size());
  group_rank_.resize(index_.groups.size());
  group_step_.resize(index_.groups.size());
  result_.steps.resize(size_t(std::max(plan_.steps(), 0)));
  for (size_t s = 0; s < result_.steps.size(); ++s) {
    result_.steps[s].step = int(s);
    result_.steps[s].start_s = std::numeric_limits<double>::infinity();
  }
  for (size_t g = 0; g < index_.groups.size(); ++g) {
    const StepGroup& group = index_.groups[g];
    group_rank_[g] = group.rank;
    group_step_[g] = group.step;
    const HostSpec& host = hosts[size_t(network_.host_of_rank(group.rank))];
    const double gamma = host.reduce_bytes_per_s > 0 ? 1.0 / host.reduce_bytes_per_s : 0.0;
    const double delta = host.memory_bandwidth_bytes_per_s > 0 ? 1.0 / host.memory_bandwidth_bytes_per_s : 0.0;
    group_host_s_[g] = double(group.terms.bytes_reduced) * gamma + double(group.terms.memory_bytes) * delta;
    SimulatedStep& step = result_.steps[size_t(group.step)];
    step.wire_bytes += group.terms.bytes_out;
    step.reduced_bytes += group.terms.bytes_reduced;
    step.memory_bytes += group.terms.memory_bytes;
    step.host_s = std::max(step.host_s, group_host_s_[g]);
  }
}

int32_t FlowSimulator::route_of(int src, int dst) {
  const uint64_t key = (uint64_t(uint32_t(src)) << 32) | uint32_t(dst);
  const auto [it, inserted] = route_ids_.try_emplace(key, int32_t(route_latency_s_.size()));
  if (inserted) {
    route_scratch_.clear();
    network_.route(src, dst, route_scratch_);
    double latency_s = 0.0;
    for (int link : route_scratch_) {
      route_links_.push_back(link);
      latency_s += links_[size_t(link)].latency_s;
    }
    route_begin_.push_back(int32_t(route_links_.size()));
    route_latency_s_.push_back(latency_s);
  }
  return it->second;
}

// Flows from the sends, then each receive matched to the k-th send from its peer: sends bucketed
// by destination keep the order of (source, send), and so do a rank's receives sorted by peer.
void FlowSimulator::build_flows() {
  const std::vector<int64_t> offsets = plan_.chunk_offsets();
  const auto bytes_of = [&](const PlanOp& op) {
    return offsets[size_t(op.first_chunk + op.chunk_count)] - offsets[size_t(op.first_chunk)];
  };
  std::vector<int32_t> flow_dst;
  for (size_t g = 0; g < index_.groups.size(); ++g) {
    const StepGroup& group = index_.groups[g];
    const std::vector<PlanOp>& ops = plan_.ops[size_t(group.rank)];
    for (uint32_t i = group.first_op; i < group.end_op; ++i) {
      if (ops[i].kind != PlanOpKind::send) continue;
      flow_bytes_.push_back(bytes_of(ops[i]));
      flow_send_group_.push_back(int32_t(g));
      flow_dst.push_back(ops[i].peer);
      flow_route_.push_back(route_of(group.rank, ops[i].peer));
    }
  }
  const size_t flows = flow_bytes_.size();
  const size_t ranks = size_t(plan_.ranks);
  std::vector<int32_t> bucket_begin(ranks + 1, 0);
  for (int32_t dst : flow_dst) ++bucket_begin[size_t(dst) + 1];
  for (size_t r = 0; r < ranks; ++r) bucket_begin[r + 1] += bucket_begin[r];
  std::vector<int32_t> by_dst(flows);
  {
    std::vector<int32_t> cursor(bucket_begin.begin(), bucket_begin.end() - 1);
    for (size_t f = 0; f < flows; ++f) by_dst[size_t(cursor[size_t(flow_dst[f])]++)] = int32_t(f);
  }
  flow_recv_group_.assign(flows, -1);
  struct Receive {
    int32_t peer;
    int32_t group;
    int64_t bytes;
  };
  std::vector<Receive> receives;
  for (size_t rank = 0; rank < ranks; ++rank) {
    receives.clear();
    for (int32_t g = index_.rank_first_group[rank]; g < index_.rank_first_group[rank + 1]; ++g) {
      const StepGroup& group = index_.groups[size_t(g)];
      const std::vector<PlanOp>& ops = plan_.ops[rank];
      for (uint32_t i = group.first_op; i < group.end_op; ++i)
        if (ops[i].kind == PlanOpKind::recv || ops[i].kind == PlanOpKind::recv_reduce)
          receives.push_back({ops[i].peer, g, bytes_of(ops[i])});
    }
    std::stable_sort(receives.begin(), receives.end(),
                     [](const Receive& a, const Receive& b) { return a.peer < b.peer; });
    const int32_t first = bucket_begin[rank];
    if (int32_t(receives.size()) != bucket_begin[rank + 1] - first)
      throw_user_error("[simulate] rank {} has {} receives but {} sends are addressed to it (validate the plan)", rank,
                       receives.size(), bucket_begin[rank + 1] - first);
    for (size_t k = 0; k < receives.size(); ++k) {
      const int32_t f = by_dst[size_t(first) + k];
      const int32_t src = index_.groups[size_t(flow_send_group_[size_t(f)])].rank;
      if (src != receives[k].peer || flow_bytes_[size_t(f)] != receives[k].bytes)
        throw_user_error("[simulate] rank {}: a receive from rank {} has no matching send (validate the plan)", rank,
                         receives[k].peer);
      flow_recv_group_[size_t(f)] = receives[k].group;
    }
  }
  // Each group's flows, as compressed rows.
  const size_t groups = index_.groups.size();
  group_flow_begin_.assign(groups + 1, 0);
  for (size_t f = 0; f < flows; ++f) {
    ++group_flow_begin_[size_t(flow_send_group_[f]) + 1];
    ++group_flow_begin_[size_t(flow_recv_group_[f]) + 1];
  }
  for (size_t g = 0; g < groups; ++g) group_flow_begin_[g + 1] += group_flow_begin_[g];
  group_flows_.resize(size_t(group_flow_begin_.back()));
  {
    std::vector<int32_t> cursor(group_flow_begin_.begin(), group_flow_begin_.end() - 1);
    for (size_t f = 0; f < flows; ++f) {
      group_flows_[size_t(cursor[size_t(flow_send_group_[f])]++)] = int32_t(f);
      group_flows_[size_t(cursor[size_t(flow_recv_group_[f])]++)] = int32_t(f);
    }
  }
  group_pending_.resize(groups);
  for (size_t g = 0; g < groups; ++g) group_pending_[g] = group_flow_begin_[g + 1] - group_flow_begin_[g];
  flow_issued_.assign(flows, 0);
  flow_active_.assign(flows, 0);
  flow_version_.assign(flows, 0);
  flow_rate_.assign(flows, 0.0);
  flow_remaining_.assign(flows, 0.0);
  flow_updated_s_.assign(flows, 0.0);
  flow_slot_begin_.resize(flows + 1);
  flow_slot_begin_[0] = 0;
  for (size_t f = 0; f < flows; ++f) {
    const int32_t route = flow_route_[f];
    flow_slot_begin_[f + 1] = flow_slot_begin_[f] + route_begin_[size_t(route) + 1] - route_begin_[size_t(route)];
  }
  flow_slots_.assign(size_t(flow_slot_begin_.back()), -1);
  result_.flows = int64_t(flows);
}

void FlowSimulator::issue_group(int32_t group, double now) {
  SimulatedStep& step = result_.steps[size_t(group_step_[size_t(group)])];
  step.start_s = std::min(step.start_s, now);
  if (group_pending_[size_t(group)] == 0) {
    complete_group(group, now);
    return;
  }
  for (int32_t i = group_flow_begin_[size_t(group)]; i < group_flow_begin_[size_t(group) + 1]; ++i) {
    const int32_t f = group_flows_[size_t(i)];
    if (++flow_issued_[size_t(f)] == 2)
      push({now + route_latency_s_[size_t(flow_route_[size_t(f)])], EventKind::flow_started, f, 0});
  }
}

void FlowSimulator::complete_group(int32_t group, double now) {
  const double done_s = now + group_host_s_[size_t(group)];
  SimulatedStep& step = result_.steps[size_t(group_step_[size_t(group)])];
  step.end_s = std::max(step.end_s, done_s);
  push({done_s, EventKind::rank_ready, group_rank_[size_t(group)], 0});
}

void FlowSimulator::start_flow(int32_t flow, double now) {
  const size_t f = size_t(flow);
  if (flow_bytes_[f] == 0) {
    finish_flow(flow, now);
    return;
  }
  flow_active_[f] = 1;
  flow_remaining_[f] = double(flow_bytes_[f]);
  flow_updated_s_[f] = now;
  flow_rate_[f] = 0.0;
  const int32_t route = flow_route_[f];
  SimulatedStep& step = result_.steps[size_t(group_step_[size_t(flow_recv_group_[f])])];
  for (int32_t i = route_begin_[size_t(route)]; i < route_begin_[size_t(route) + 1]; ++i) {
    const int32_t l = route_links_[size_t(i)];
    std::vector<int32_t>& on_link = link_flows_[size_t(l)];
    flow_slots_[size_t(flow_slot_begin_[f] + (i - route_begin_[size_t(route)]))] = int32_t(on_link.size());
    on_link.push_back(flow);
    if (links_[size_t(l)].into_host) step.max_incast = std::max(step.max_incast, int(on_link.size()));
    mark_dirty(l);
  }
  if (route_begin_[size_t(route)] == route_begin_[size_t(route) + 1]) finish_flow(flow, now);  // no links: instant
}

void FlowSimulator::finish_flow(int32_t flow, double now) {
  const size_t f = size_t(flow);
  if (flow_active_[f]) {
    flow_active_[f] = 0;
    ++flow_version_[f];  // any finish event still queued is stale
    const int32_t route = flow_route_[f];
    for (int32_t i = route_begin_[size_t(route)]; i < route_begin_[size_t(route) + 1]; ++i) {
      const int32_t l = route_links_[size_t(i)];
      std::vector<int32_t>& on_link = link_flows_[size_t(l)];
      const int32_t slot = flow_slots_[size_t(flow_slot_begin_[f] + (i - route_begin_[size_t(route)]))];
      const int32_t moved = on_link.back();
      on_link[size_t(slot)] = moved;
      on_link.pop_back();
      if (moved != flow) {
        // The moved flow's slot for this link: find l on its path.
        const int32_t moved_route = flow_route_[size_t(moved)];
        for (int32_t j = route_begin_[size_t(moved_route)]; j < route_begin_[size_t(moved_route) + 1]; ++j)
          if (route_links_[size_t(j)] == l)
            flow_slots_[size_t(flow_slot_begin_[size_t(moved)] + (j - route_begin_[size_t(moved_route)]))] = slot;
      }
      mark_dirty(l);
    }
  }
  for (int32_t group : {flow_send_group_[f], flow_recv_group_[f]})
    if (--group_pending_[size_t(group)] == 0) complete_group(group, now);
}

double FlowSimulator::link_capacity(int32_t link) const {
  const DirectedLink& l = links_[size_t(link)];
  if (!l.into_host) return l.bandwidth_bytes_per_s;
  const IncastSpec& incast = network_.topology().incast;
  const double excess = std::max(double(link_flows_[size_t(link)].size()) - double(incast.threshold_flows), 0.0);
  if (excess == 0.0 || incast.penalty_s_per_byte <= 0.0) return l.bandwidth_bytes_per_s;
  return 1.0 / (1.0 / l.bandwidth_bytes_per_s + excess * incast.penalty_s_per_byte);
}

// The flows connected to a changed link get new rates; a flow whose rate is unchanged keeps its
// scheduled finish.
void FlowSimulator::recompute_rates(double now) {
  component_flows_.clear();
  component_links_.clear();
  const uint32_t epoch = epoch_;
  for (int32_t l : dirty_links_) {
    if (seen_link_epoch_[size_t(l)] == epoch) continue;
    seen_link_epoch_[size_t(l)] = epoch;
    component_links_.push_back(l);
  }
  for (size_t next = 0; next < component_links_.size(); ++next) {
    const int32_t l = component_links_[next];
    for (int32_t f : link_flows_[size_t(l)]) {
      if (seen_flow_epoch_[size_t(f)] == epoch) continue;
      seen_flow_epoch_[size_t(f)] = epoch;
      component_flows_.push_back(f);
      const int32_t route = flow_route_[size_t(f)];
      for (int32_t i = route_begin_[size_t(route)]; i < route_begin_[size_t(route) + 1]; ++i) {
        const int32_t other = route_links_[size_t(i)];
        if (seen_link_epoch_[size_t(other)] == epoch) continue;
        seen_link_epoch_[size_t(other)] = epoch;
        component_links_.push_back(other);
      }
    }
  }
  dirty_links_.clear();
  ++epoch_;
  if (component_flows_.empty()) return;
  for (int32_t l : component_links_) capacity_[size_t(l)] = link_capacity(l);
  old_rate_.resize(component_flows_.size());
  for (size_t i = 0; i < component_flows_.size(); ++i) {
    const size_t f = size_t(component_flows_[i]);
    old_rate_[i] = flow_rate_[f];
    flow_remaining_[f] = std::max(flow_remaining_[f] - flow_rate_[f] * (now - flow_updated_s_[f]), 0.0);
    flow_updated_s_[f] = now;
  }
  const FlowPaths paths{flow_route_.data(), route_begin_.data(), route_links_.data()};
  solver_.solve(component_flows_, paths, capacity_, flow_rate_);
  for (size_t i = 0; i < component_flows_.size(); ++i) {
    const int32_t f = component_flows_[i];
    if (flow_rate_[size_t(f)] == old_rate_[i]) continue;
    const double rate = flow_rate_[size_t(f)];
    const double finish_s =
        rate > 0.0 ? now + flow_remaining_[size_t(f)] / rate : std::numeric_limits<double>::infinity();
    LOOM_CHECK(std::isfinite(finish_s), "flow {} has rate {} with {} bytes left", f, rate, flow_remaining_[size_t(f)]);
    push({finish_s, EventKind::flow_finished, f, ++flow_version_[size_t(f)]});
  }
}

SimulationResult FlowSimulator::run() {
  next_group_.assign(size_t(plan_.ranks), 0);
  for (int rank = 0; rank < plan_.ranks; ++rank) {
    next_group_[size_t(rank)] = index_.rank_first_group[size_t(rank)];
    if (next_group_[size_t(rank)] < index_.rank_first_group[size_t(rank) + 1])
      issue_group(next_group_[size_t(rank)], 0.0);
  }
  int finished_ranks = 0;
  while (!events_.empty()) {
    const double now = events_.front().time_s;
    const double batch_end = now + std::abs(now) * kSameTime;
    while (!events_.empty() && events_.front().time_s <= batch_end) {
      std::pop_heap(events_.begin(), events_.end(), std::greater<>());
      const Event event = events_.back();
      events_.pop_back();
      switch (event.kind) {
        case EventKind::flow_finished:
          if (event.version != flow_version_[size_t(event.id)] || !flow_active_[size_t(event.id)]) continue;
          finish_flow(event.id, now);
          break;
        case EventKind::flow_started:
          start_flow(event.id, now);
          break;
        case EventKind::rank_ready: {
          int32_t& next = next_group_[size_t(event.id)];
          ++next;
          if (next < index_.rank_first_group[size_t(event.id) + 1]) {
            issue_group(next, now);
          } else {
            ++finished_ranks;
            result_.time_s = std::max(result_.time_s, now);
          }
          break;
        }
      }
      ++result_.events;
    }
    if (!dirty_links_.empty()) recompute_rates(now);
  }
  int idle_ranks = 0;
  for (int rank = 0; rank < plan_.ranks; ++rank)
    if (index_.rank_first_group[size_t(rank)] == index_.rank_first_group[size_t(rank) + 1]) ++idle_ranks;
  if (finished_ranks + idle_ranks != plan_.ranks) {
    for (int rank = 0; rank < plan_.ranks; ++rank) {
      const int32_t next = next_group_[size_t(rank)];
      if (next < index_.rank_first_group[size_t(rank) + 1])
        throw_user_error("[simulate] the plan deadlocks: rank {} never finishes step {} (validate the plan)", rank,
                         index_.groups[size_t(next)].step);
    }
  }
  for (SimulatedStep& step : result_.steps)
    if (!std::isfinite(step.start_s)) step.start_s = step.end_s = 0.0;
  return std::move(result_);
}

}  // namespace

SimulationResult simulate_plan(const Network& network, const CollectivePlan& plan) {
  if (plan.ranks != network.ranks())
    throw_user_error("[simulate] the plan has {} ranks but the network '{}' has {} (generate the plan for it)",
                     plan.ranks, network.topology().name, network.ranks());
  FlowSimulator simulator(network, plan);
  return simulator.run();
}

}  // namespace loom::topo
