// PipelineProgram: a pipeline schedule as data. For each stage, the ordered list of actions it
// runs in one training step (forward or backward of one micro-batch, with the point-to-point
// transfers they imply); the runtime interprets it, tests check it, `--print-schedule` prints it
// and a timeline tool can draw it. Built for GPipe (all forwards, then all backwards) and 1F1B
// (PipeDream-flush: stage s of S runs min(m, S-s-1) warm-up forwards, then alternates one forward
// and one backward, then drains the remaining backwards).
//
// The one idea: the runtime runs each stage's actions one at a time, in order, with blocking
// sends that may not return before the peer receives (zero buffering). A send to a stage that is
// itself busy sending to us deadlocks, so a send to stage p immediately followed by a receive
// from the same stage p is merged into one simultaneous send+receive (Megatron's
// send_forward_recv_backward / send_backward_recv_forward; Communicator::send_recv).
#pragma once

#include <string>
#include <vector>

#include "parallel/plan.h"

namespace loom::parallel {

enum class ActionKind {
  forward,        // run the stage's forward on a micro-batch
  backward,       // run the stage's backward on a micro-batch
  send_forward,   // send the forward output (activations) to the next stage
  recv_forward,   // receive the forward input from the previous stage
  send_backward,  // send the input gradient to the previous stage
  recv_backward,  // receive the output gradient from the next stage
  // Both at once with the next stage (posted together, done when both are): send the forward
  // output of `micro_batch`, receive the output gradient of `recv_micro_batch`.
  send_forward_recv_backward,
  // Both at once with the previous stage: send the input gradient of `micro_batch`, receive the
  // forward input of `recv_micro_batch`.
  send_backward_recv_forward,
};

struct Action {
  ActionKind kind = ActionKind::forward;
  int micro_batch = 0;        // the micro-batch computed, sent or received (sent, for the merged kinds)
  int peer_stage = -1;        // for transfers: the stage at the other end
  int recv_micro_batch = -1;  // for the merged kinds only: the micro-batch received
};

struct PipelineProgram {
  int stages = 1;
  int micro_batches = 1;
  PipelineSchedule schedule = PipelineSchedule::one_f_one_b;
  std::vector<std::vector<Action>> actions;  // [stage] -> ordered actions

  // Largest number of micro-batches whose activations a stage holds at once (forward done,
  // backward not yet): m for GPipe, min(m, S - s) for 1F1B.
  int max_in_flight(int stage) const;
};

// Transfers are placed so that blocking point-to-point in program order cannot deadlock: a stage
// receives its forward input just before the forward, sends its output just after; receives the
// output gradient just before the backward and sends the input gradient just after; the first
// stage has no recv_forward/send_backward, the last no send_forward/recv_backward. Then every
// send to stage p directly followed by a receive from p becomes one merged action (1F1B's steady
// state: send_F(i)+recv_B(j) and send_B(j)+recv_F(i+1); GPipe's turn from forwards to backwards).
// Throws InternalError unless stages >= 1 and micro_batches >= 1.
PipelineProgram build_pipeline_program(PipelineSchedule schedule, int stages, int micro_batches);

// Checks the program: every stage runs each micro-batch's forward once and its backward once,
// after the forward; transfers go to the right neighbour, receive before the compute that needs
// them and send after the compute that produces them; every send has its matching receive on
// the peer, in the same relative order; and running all stages with rendezvous sends (zero
// buffering: a send completes only while the peer executes the matching receive) and blocking
// receives completes (simulated), so the runtime cannot deadlock. Throws InternalError naming
// the stage, the action index and the first violation.
void check_pipeline_program(const PipelineProgram& program);

const char* action_name(ActionKind kind);         // "F", "B", "send_F", ..., "send_F+recv_B"
std::string format_action(const Action& action);  // "F3", "recv_B2", "send_F3+recv_B1"
// One line per stage: "stage 0: F0 F1 B0 F2 B1 ..." (transfers omitted unless `transfers`).
std::string format_pipeline_program(const PipelineProgram& program, bool transfers = false);

// Simulated timeline with unit forward time `f` and backward time `b` per micro-batch per stage
// and free transfers: the step's makespan and each stage's idle (bubble) fraction. A compute
// action starts when its stage is free and its inputs exist (F i on s after F i on s-1; B i on
// s after B i on s+1 and F i on s); each stage keeps its program order. For equal stages both
// schedules give every stage the bubble (S-1)/(m+S-1) and the makespan (m+S-1)(f+b).
struct PipelineTimeline {
  double makespan = 0.0;
  std::vector<double> bubble_fraction;                       // per stage
  std::vector<std::vector<std::pair<double, double>>> busy;  // per stage, [start, end) per compute action
};
PipelineTimeline simulate_pipeline_program(const PipelineProgram& program, double f, double b);
// The same with each stage's own forward and backward time per micro-batch, and `transfer_s`
// between a send and the neighbour's matching receive (the planner's pipeline model).
PipelineTimeline simulate_pipeline_program(const PipelineProgram& program, const std::vector<double>& forward_s,
                                           const std::vector<double>& backward_s, double transfer_s);

}  // namespace loom::parallel
