// PipelineProgram: building GPipe and 1F1B programs, checking them (including a zero-buffer
// simulation of the blocking runtime, so a program that passes cannot deadlock), printing them
// and timing them on an idealised pipeline.
#include "parallel/schedule.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>

#include "core/error.h"

namespace loom::parallel {
namespace {

size_t at(int index) {
  return static_cast<size_t>(index);
}

const char* local_schedule_name(PipelineSchedule schedule) {
  switch (schedule) {
    case PipelineSchedule::gpipe:
      return "gpipe";
    case PipelineSchedule::one_f_one_b:
      return "1f1b";
  }
  return "?";
}

bool is_compute(ActionKind kind) {
  return kind == ActionKind::forward || kind == ActionKind::backward;
}

// One direction of one transfer: a merged action is two of these, posted together.
struct Transfer {
  bool send = false;
  bool gradient = false;  // false: forward activations (flow to s+1); true: gradients (flow to s-1)
  int micro_batch = 0;
  int peer = -1;
};

std::vector<Transfer> transfers_of(const Action& action) {
  switch (action.kind) {
    case ActionKind::forward:
    case ActionKind::backward:
      return {};
    case ActionKind::send_forward:
      return {{true, false, action.micro_batch, action.peer_stage}};
    case ActionKind::recv_forward:
      return {{false, false, action.micro_batch, action.peer_stage}};
    case ActionKind::send_backward:
      return {{true, true, action.micro_batch, action.peer_stage}};
    case ActionKind::recv_backward:
      return {{false, true, action.micro_batch, action.peer_stage}};
    case ActionKind::send_forward_recv_backward:
      return {{true, false, action.micro_batch, action.peer_stage},
              {false, true, action.recv_micro_batch, action.peer_stage}};
    case ActionKind::send_backward_recv_forward:
      return {{true, true, action.micro_batch, action.peer_stage},
              {false, false, action.recv_micro_batch, action.peer_stage}};
  }
  return {};
}

// The stage a transfer must involve: activations go down the pipeline, gradients up it.
int expected_peer(const Transfer& transfer, int stage) {
  const bool towards_next = transfer.send != transfer.gradient;  // send activation or receive gradient
  return towards_next ? stage + 1 : stage - 1;
}

void append_forward(std::vector<Action>& list, int stage, int stages, int micro_batch) {
  if (stage > 0) list.push_back({ActionKind::recv_forward, micro_batch, stage - 1});
  list.push_back({ActionKind::forward, micro_batch});
  if (stage < stages - 1) list.push_back({ActionKind::send_forward, micro_batch, stage + 1});
}

void append_backward(std::vector<Action>& list, int stage, int stages, int micro_batch) {
  if (stage < stages - 1) list.push_back({ActionKind::recv_backward, micro_batch, stage + 1});
  list.push_back({ActionKind::backward, micro_batch});
  if (stage > 0) list.push_back({ActionKind::send_backward, micro_batch, stage - 1});
}

// A send to stage p directly followed by a receive from p: if both stages sent first and
// received second, each would wait for the other with zero buffering. Posting both at once
// breaks that cycle.
std::vector<Action> merge_opposite_transfers(const std::vector<Action>& list) {
  std::vector<Action> merged;
  for (size_t i = 0; i < list.size(); ++i) {
    const Action& action = list[i];
    if (i + 1 < list.size() && list[i + 1].peer_stage == action.peer_stage) {
      const Action& next = list[i + 1];
      ActionKind kind = action.kind;
      if (action.kind == ActionKind::send_forward && next.kind == ActionKind::recv_backward) {
        kind = ActionKind::send_forward_recv_backward;
      } else if (action.kind == ActionKind::send_backward && next.kind == ActionKind::recv_forward) {
        kind = ActionKind::send_backward_recv_forward;
      }
      if (kind != action.kind) {
        merged.push_back({kind, action.micro_batch, action.peer_stage, next.micro_batch});
        ++i;
        continue;
      }
    }
    merged.push_back(action);
  }
  return merged;
}

// Per stage: every action in range and to the right neighbour; forward and backward of each
// micro-batch once, backward after forward; inputs received before the compute that needs them,
// outputs sent once after the compute that makes them.
void check_stage_order(const PipelineProgram& program, int stage) {
  const int stages = program.stages;
  const int micro_batches = program.micro_batches;
  const auto& list = program.actions[at(stage)];
  std::vector<char> forward_done(at(micro_batches), 0), backward_done(at(micro_batches), 0);
  // [gradient][micro_batch]
  std::vector<char> received[2] = {std::vector<char>(at(micro_batches), 0), std::vector<char>(at(micro_batches), 0)};
  std::vector<char> sent[2] = {std::vector<char>(at(micro_batches), 0), std::vector<char>(at(micro_batches), 0)};

  for (size_t index = 0; index < list.size(); ++index) {
    const Action& action = list[index];
    const std::string what = format_action(action);
    if (is_compute(action.kind)) {
      const int mb = action.micro_batch;
      LOOM_CHECK(mb >= 0 && mb < micro_batches, "stage {} action {} ({}): micro-batch {} outside [0, {})", stage, index,
                 what, mb, micro_batches);
      if (action.kind == ActionKind::forward) {
        LOOM_CHECK(!forward_done[at(mb)], "stage {} action {} ({}): forward of micro-batch {} runs twice", stage, index,
                   what, mb);
        LOOM_CHECK(stage == 0 || received[0][at(mb)],
                   "stage {} action {} ({}): forward before its input was received from stage {}", stage, index, what,
                   stage - 1);
        forward_done[at(mb)] = 1;
      } else {
        LOOM_CHECK(forward_done[at(mb)], "stage {} action {} ({}): backward of micro-batch {} before its forward",
                   stage, index, what, mb);
        LOOM_CHECK(!backward_done[at(mb)], "stage {} action {} ({}): backward of micro-batch {} runs twice", stage,
                   index, what, mb);
        LOOM_CHECK(stage == stages - 1 || received[1][at(mb)],
                   "stage {} action {} ({}): backward before its output gradient was received from stage {}", stage,
                   index, what, stage + 1);
        backward_done[at(mb)] = 1;
      }
      continue;
    }
    for (const Transfer& transfer : transfers_of(action)) {
      const int mb = transfer.micro_batch;
      const int g = transfer.gradient ? 1 : 0;
      const int peer = expected_peer(transfer, stage);
      LOOM_CHECK(mb >= 0 && mb < micro_batches, "stage {} action {} ({}): micro-batch {} outside [0, {})", stage, index,
                 what, mb, micro_batches);
      LOOM_CHECK(peer >= 0 && peer < stages, "stage {} action {} ({}): no stage {} to transfer with ({} stages)", stage,
                 index, what, peer, stages);
      LOOM_CHECK(transfer.peer == peer, "stage {} action {} ({}): peer is stage {}, must be stage {}", stage, index,
                 what, transfer.peer, peer);
      if (transfer.send) {
        const auto& produced = transfer.gradient ? backward_done : forward_done;
        LOOM_CHECK(produced[at(mb)], "stage {} action {} ({}): sends micro-batch {} before computing it", stage, index,
                   what, mb);
        LOOM_CHECK(!sent[g][at(mb)], "stage {} action {} ({}): micro-batch {} sent twice", stage, index, what, mb);
        sent[g][at(mb)] = 1;
      } else {
        LOOM_CHECK(!received[g][at(mb)], "stage {} action {} ({}): micro-batch {} received twice", stage, index, what,
                   mb);
        received[g][at(mb)] = 1;
      }
    }
  }
  for (int mb = 0; mb < micro_batches; ++mb) {
    LOOM_CHECK(forward_done[at(mb)], "stage {}: forward of micro-batch {} never runs", stage, mb);
    LOOM_CHECK(backward_done[at(mb)], "stage {}: backward of micro-batch {} never runs", stage, mb);
    LOOM_CHECK(stage == stages - 1 || sent[0][at(mb)], "stage {}: forward output of micro-batch {} never sent", stage,
               mb);
    LOOM_CHECK(stage == 0 || sent[1][at(mb)], "stage {}: input gradient of micro-batch {} never sent", stage, mb);
  }
}

// The k-th message `from` sends `to` in one direction is the k-th that `to` receives from `from`.
void check_channel(const PipelineProgram& program, int from, int to, bool gradient) {
  struct Entry {
    int micro_batch;
    size_t index;
  };
  auto collect = [&](int stage, int peer, bool send) {
    std::vector<Entry> entries;
    const auto& list = program.actions[at(stage)];
    for (size_t index = 0; index < list.size(); ++index) {
      for (const Transfer& transfer : transfers_of(list[index])) {
        if (transfer.send == send && transfer.gradient == gradient && transfer.peer == peer) {
          entries.push_back({transfer.micro_batch, index});
        }
      }
    }
    return entries;
  };
  const std::vector<Entry> sends = collect(from, to, true);
  const std::vector<Entry> receives = collect(to, from, false);
  const char* what = gradient ? "gradient" : "activation";
  for (size_t k = 0; k < std::max(sends.size(), receives.size()); ++k) {
    LOOM_CHECK(k < receives.size(), "stage {} action {}: sends {} of micro-batch {} that stage {} never receives", from,
               sends[k].index, what, sends[k].micro_batch, to);
    LOOM_CHECK(k < sends.size(), "stage {} action {}: receives {} of micro-batch {} that stage {} never sends", to,
               receives[k].index, what, receives[k].micro_batch, from);
    LOOM_CHECK(sends[k].micro_batch == receives[k].micro_batch,
               "stage {} action {}: receives {} of micro-batch {} where stage {} (action {}) sends micro-batch {}", to,
               receives[k].index, what, receives[k].micro_batch, from, sends[k].index, sends[k].micro_batch);
  }
}

// Runs every stage in program order where a send completes only while its peer is executing the
// matching receive (zero buffering, the strictest MPI_Send) and a merged action's two halves
// are posted together. Compute is instantaneous; only the order matters.
void check_rendezvous_completes(const PipelineProgram& program) {
  const int stages = program.stages;
  std::vector<size_t> position(at(stages), 0);
  std::vector<std::vector<Transfer>> pending(at(stages));  // halves of the current action not yet done
  auto enter = [&](int stage) {
    const auto& list = program.actions[at(stage)];
    while (position[at(stage)] < list.size() && is_compute(list[position[at(stage)]].kind)) ++position[at(stage)];
    pending[at(stage)] =
        position[at(stage)] < list.size() ? transfers_of(list[position[at(stage)]]) : std::vector<Transfer>{};
  };
  for (int stage = 0; stage < stages; ++stage) enter(stage);

  for (bool progress = true; progress;) {
    progress = false;
    for (int stage = 0; stage < stages; ++stage) {
      auto& mine = pending[at(stage)];
      for (size_t k = 0; k < mine.size();) {
        const Transfer& send = mine[k];
        auto& theirs = pending[at(send.peer)];
        auto match = std::find_if(theirs.begin(), theirs.end(), [&](const Transfer& receive) {
          return !receive.send && receive.peer == stage && receive.gradient == send.gradient;
        });
        if (!send.send || match == theirs.end()) {
          ++k;
          continue;
        }
        // check_channel already matched the sequences; a mismatch here would be a bug in it.
        LOOM_CHECK_EQ(match->micro_batch, send.micro_batch);
        theirs.erase(match);
        mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(k));
        progress = true;
      }
    }
    for (int stage = 0; stage < stages; ++stage) {
      if (pending[at(stage)].empty() && position[at(stage)] < program.actions[at(stage)].size()) {
        ++position[at(stage)];
        enter(stage);
        progress = true;
      }
    }
  }

  std::string stuck;
  int first_stuck = -1;
  for (int stage = 0; stage < stages; ++stage) {
    const auto& list = program.actions[at(stage)];
    if (position[at(stage)] >= list.size()) continue;
    if (first_stuck < 0) first_stuck = stage;
    stuck += fmt::format("{}stage {} at action {} ({})", stuck.empty() ? "" : ", ", stage, position[at(stage)],
                         format_action(list[position[at(stage)]]));
  }
  LOOM_CHECK(first_stuck < 0,
             "stage {} action {}: deadlock with zero-buffer blocking sends; every stage left waits on another: {}",
             first_stuck, first_stuck < 0 ? 0 : position[at(first_stuck)], stuck);
}

}  // namespace

int PipelineProgram::max_in_flight(int stage) const {
  LOOM_CHECK(stage >= 0 && stage < static_cast<int>(actions.size()), "stage {} outside [0, {})", stage, actions.size());
  int in_flight = 0;
  int most = 0;
  for (const Action& action : actions[at(stage)]) {
    if (action.kind == ActionKind::forward) most = std::max(most, ++in_flight);
    if (action.kind == ActionKind::backward) --in_flight;
  }
  return most;
}

PipelineProgram build_pipeline_program(PipelineSchedule schedule, int stages, int micro_batches) {
  LOOM_CHECK(stages >= 1, "pipeline needs at least one stage, got {}", stages);
  LOOM_CHECK(micro_batches >= 1, "pipeline needs at least one micro-batch, got {}", micro_batches);
  PipelineProgram program;
  program.stages = stages;
  program.micro_batches = micro_batches;
  program.schedule = schedule;
  program.actions.resize(at(stages));
  for (int stage = 0; stage < stages; ++stage) {
    std::vector<Action> list;
    switch (schedule) {
      case PipelineSchedule::gpipe:
        for (int mb = 0; mb < micro_batches; ++mb) append_forward(list, stage, stages, mb);
        for (int mb = 0; mb < micro_batches; ++mb) append_backward(list, stage, stages, mb);
        break;
      case PipelineSchedule::one_f_one_b: {
        const int warmup = std::min(micro_batches, stages - stage - 1);
        int next_forward = 0;
        int next_backward = 0;
        for (int i = 0; i < warmup; ++i) append_forward(list, stage, stages, next_forward++);
        for (int i = 0; i < micro_batches - warmup; ++i) {
          append_forward(list, stage, stages, next_forward++);
          append_backward(list, stage, stages, next_backward++);
        }
        for (int i = 0; i < warmup; ++i) append_backward(list, stage, stages, next_backward++);
        break;
      }
      default:
        LOOM_CHECK(false, "unknown pipeline schedule {}", static_cast<int>(schedule));
    }
    program.actions[at(stage)] = merge_opposite_transfers(list);
  }
  return program;
}

void check_pipeline_program(const PipelineProgram& program) {
  LOOM_CHECK(program.stages >= 1, "pipeline program has {} stages", program.stages);
  LOOM_CHECK(program.micro_batches >= 1, "pipeline program has {} micro-batches", program.micro_batches);
  LOOM_CHECK(static_cast<int>(program.actions.size()) == program.stages,
             "pipeline program ({}) has action lists for {} stages, expected {}", local_schedule_name(program.schedule),
             program.actions.size(), program.stages);
  for (int stage = 0; stage < program.stages; ++stage) check_stage_order(program, stage);
  for (int stage = 0; stage + 1 < program.stages; ++stage) {
    check_channel(program, stage, stage + 1, false);
    check_channel(program, stage + 1, stage, true);
  }
  check_rendezvous_completes(program);
}

const char* action_name(ActionKind kind) {
  switch (kind) {
    case ActionKind::forward:
      return "F";
    case ActionKind::backward:
      return "B";
    case ActionKind::send_forward:
      return "send_F";
    case ActionKind::recv_forward:
      return "recv_F";
    case ActionKind::send_backward:
      return "send_B";
    case ActionKind::recv_backward:
      return "recv_B";
    case ActionKind::send_forward_recv_backward:
      return "send_F+recv_B";
    case ActionKind::send_backward_recv_forward:
      return "send_B+recv_F";
  }
  return "?";
}

std::string format_action(const Action& action) {
  switch (action.kind) {
    case ActionKind::send_forward_recv_backward:
      return fmt::format("send_F{}+recv_B{}", action.micro_batch, action.recv_micro_batch);
    case ActionKind::send_backward_recv_forward:
      return fmt::format("send_B{}+recv_F{}", action.micro_batch, action.recv_micro_batch);
    default:
      return fmt::format("{}{}", action_name(action.kind), action.micro_batch);
  }
}

std::string format_pipeline_program(const PipelineProgram& program, bool transfers) {
  std::string text;
  for (size_t stage = 0; stage < program.actions.size(); ++stage) {
    text += fmt::format("stage {}:", stage);
    for (const Action& action : program.actions[stage]) {
      if (transfers || is_compute(action.kind)) text += " " + format_action(action);
    }
    text += "\n";
  }
  return text;
}

PipelineTimeline simulate_pipeline_program(const PipelineProgram& program, double f, double b) {
  LOOM_CHECK(f >= 0.0 && b >= 0.0, "compute times must be non-negative, got f={} b={}", f, b);
  return simulate_pipeline_program(program, std::vector<double>(at(program.stages), f),
                                   std::vector<double>(at(program.stages), b), 0.0);
}

PipelineTimeline simulate_pipeline_program(const PipelineProgram& program, const std::vector<double>& forward_s,
                                           const std::vector<double>& backward_s, double transfer_s) {
  LOOM_CHECK(forward_s.size() == at(program.stages) && backward_s.size() == at(program.stages),
             "{} forward and {} backward times for {} stages", forward_s.size(), backward_s.size(), program.stages);
  LOOM_CHECK(transfer_s >= 0.0, "transfer time must be non-negative, got {}", transfer_s);
  check_pipeline_program(program);
  const int stages = program.stages;
  const int micro_batches = program.micro_batches;
  constexpr double kNotYet = std::numeric_limits<double>::infinity();
  // [stage][micro_batch] -> end time
  std::vector<std::vector<double>> forward_end(at(stages), std::vector<double>(at(micro_batches), kNotYet));
  std::vector<std::vector<double>> backward_end = forward_end;
  std::vector<size_t> position(at(stages), 0);
  std::vector<double> free_at(at(stages), 0.0);

  PipelineTimeline timeline;
  timeline.busy.resize(at(stages));
  for (bool progress = true; progress;) {
    progress = false;
    for (int stage = 0; stage < stages; ++stage) {
      const auto& list = program.actions[at(stage)];
      auto& next = position[at(stage)];
      // Each stage runs as far as its inputs allow; a transfer delays the receiver only.
      for (; next < list.size(); ++next) {
        const Action& action = list[next];
        if (!is_compute(action.kind)) continue;
        const size_t mb = at(action.micro_batch);
        double ready = free_at[at(stage)];
        if (action.kind == ActionKind::forward) {
          if (stage > 0) ready = std::max(ready, forward_end[at(stage - 1)][mb] + transfer_s);
        } else {
          ready = std::max(ready, forward_end[at(stage)][mb]);
          if (stage + 1 < stages) ready = std::max(ready, backward_end[at(stage + 1)][mb] + transfer_s);
        }
        if (ready == kNotYet) break;
        const double end =
            ready + (action.kind == ActionKind::forward ? forward_s[at(stage)] : backward_s[at(stage)]);
        (action.kind == ActionKind::forward ? forward_end : backward_end)[at(stage)][mb] = end;
        timeline.busy[at(stage)].emplace_back(ready, end);
        free_at[at(stage)] = end;
        progress = true;
      }
    }
  }
  for (int stage = 0; stage < stages; ++stage) {
    LOOM_CHECK(position[at(stage)] == program.actions[at(stage)].size(),
               "stage {} action {}: compute never becomes ready in the timeline", stage, position[at(stage)]);
    timeline.makespan = std::max(timeline.makespan, free_at[at(stage)]);
  }
  timeline.bubble_fraction.resize(at(stages));
  for (int stage = 0; stage < stages; ++stage) {
    double busy = 0.0;
    for (const auto& [start, end] : timeline.busy[at(stage)]) busy += end - start;
    timeline.bubble_fraction[at(stage)] = timeline.makespan > 0.0 ? 1.0 - busy / timeline.makespan : 0.0;
  }
  return timeline;
}

}  // namespace loom::parallel
