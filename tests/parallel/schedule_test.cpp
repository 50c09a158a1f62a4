// Pipeline programs: GPipe and 1F1B over small stage and micro-batch counts pass the checker
// (including the zero-buffer deadlock simulation), hold the right number of micro-batches in
// flight and reproduce the bubble fraction (S-1)/(m+S-1); one small 1F1B case is written out by
// hand; hand-broken programs are rejected.
#include "parallel/schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"

namespace loom::parallel {
namespace {

const PipelineSchedule kSchedules[] = {PipelineSchedule::gpipe, PipelineSchedule::one_f_one_b};
const int kStageCounts[] = {1, 2, 3, 4};
const int kMicroBatchCounts[] = {1, 2, 4, 8};

std::string describe(PipelineSchedule schedule, int stages, int micro_batches) {
  return std::string(schedule == PipelineSchedule::gpipe ? "gpipe" : "1f1b") + " S=" + std::to_string(stages) +
         " m=" + std::to_string(micro_batches);
}

// Expects check_pipeline_program to throw InternalError whose message contains `needle`.
void expect_rejected(const PipelineProgram& program, const std::string& needle) {
  try {
    check_pipeline_program(program);
    ADD_FAILURE() << "accepted a broken program, expected an error containing '" << needle << "':\n"
                  << format_pipeline_program(program, true);
  } catch (const InternalError& error) {
    EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
  }
}

TEST(PipelineSchedule, EveryProgramPassesTheCheck) {
  for (PipelineSchedule schedule : kSchedules) {
    for (int stages : kStageCounts) {
      for (int micro_batches : kMicroBatchCounts) {
        SCOPED_TRACE(describe(schedule, stages, micro_batches));
        const PipelineProgram program = build_pipeline_program(schedule, stages, micro_batches);
        EXPECT_NO_THROW(check_pipeline_program(program));
      }
    }
  }
  // Larger ones too: the deadlock simulation must hold beyond the table of the task.
  for (PipelineSchedule schedule : kSchedules) {
    for (int stages = 1; stages <= 9; ++stages) {
      for (int micro_batches = 1; micro_batches <= 17; ++micro_batches) {
        SCOPED_TRACE(describe(schedule, stages, micro_batches));
        EXPECT_NO_THROW(check_pipeline_program(build_pipeline_program(schedule, stages, micro_batches)));
      }
    }
  }
}

TEST(PipelineSchedule, EveryForwardAndBackwardRunsOnce) {
  for (PipelineSchedule schedule : kSchedules) {
    for (int stages : kStageCounts) {
      for (int micro_batches : kMicroBatchCounts) {
        SCOPED_TRACE(describe(schedule, stages, micro_batches));
        const PipelineProgram program = build_pipeline_program(schedule, stages, micro_batches);
        ASSERT_EQ(static_cast<int>(program.actions.size()), stages);
        for (int stage = 0; stage < stages; ++stage) {
          std::vector<int> forwards(static_cast<size_t>(micro_batches), 0);
          std::vector<int> backwards(static_cast<size_t>(micro_batches), 0);
          std::vector<int> backward_order;
          for (const Action& action : program.actions[static_cast<size_t>(stage)]) {
            if (action.kind == ActionKind::forward) ++forwards[static_cast<size_t>(action.micro_batch)];
            if (action.kind == ActionKind::backward) {
              ++backwards[static_cast<size_t>(action.micro_batch)];
              backward_order.push_back(action.micro_batch);
            }
          }
          EXPECT_EQ(forwards, std::vector<int>(static_cast<size_t>(micro_batches), 1));
          EXPECT_EQ(backwards, std::vector<int>(static_cast<size_t>(micro_batches), 1));
          EXPECT_TRUE(std::is_sorted(backward_order.begin(), backward_order.end()));
        }
      }
    }
  }
}

TEST(PipelineSchedule, MaxInFlight) {
  for (int stages : kStageCounts) {
    for (int micro_batches : kMicroBatchCounts) {
      SCOPED_TRACE(describe(PipelineSchedule::one_f_one_b, stages, micro_batches));
      const PipelineProgram gpipe = build_pipeline_program(PipelineSchedule::gpipe, stages, micro_batches);
      const PipelineProgram one_f_one_b = build_pipeline_program(PipelineSchedule::one_f_one_b, stages, micro_batches);
      for (int stage = 0; stage < stages; ++stage) {
        EXPECT_EQ(gpipe.max_in_flight(stage), micro_batches) << "stage " << stage;
        EXPECT_EQ(one_f_one_b.max_in_flight(stage), std::min(micro_batches, stages - stage)) << "stage " << stage;
      }
    }
  }
}

TEST(PipelineSchedule, BubbleFractionMatchesTheFormula) {
  for (PipelineSchedule schedule : kSchedules) {
    for (int stages : kStageCounts) {
      for (int micro_batches : kMicroBatchCounts) {
        SCOPED_TRACE(describe(schedule, stages, micro_batches));
        const PipelineProgram program = build_pipeline_program(schedule, stages, micro_batches);
        const double f = 1.0;
        const double b = 2.0;
        const PipelineTimeline timeline = simulate_pipeline_program(program, f, b);
        EXPECT_NEAR(timeline.makespan, (micro_batches + stages - 1) * (f + b), 1e-9);
        const double expected = static_cast<double>(stages - 1) / (micro_batches + stages - 1);
        ASSERT_EQ(static_cast<int>(timeline.bubble_fraction.size()), stages);
        for (int stage = 0; stage < stages; ++stage) {
          EXPECT_NEAR(timeline.bubble_fraction[static_cast<size_t>(stage)], expected, 1e-9) << "stage " << stage;
          const auto& busy = timeline.busy[static_cast<size_t>(stage)];
          ASSERT_EQ(static_cast<int>(busy.size()), 2 * micro_batches);
          for (size_t k = 1; k < busy.size(); ++k) EXPECT_LE(busy[k - 1].second, busy[k].first + 1e-12);
        }
      }
    }
  }
}

// The formula does not depend on b = 2f: the same holds for other ratios.
TEST(PipelineSchedule, BubbleFractionHoldsForOtherBackwardCosts) {
  for (PipelineSchedule schedule : kSchedules) {
    for (double b : {0.5, 1.0, 3.0}) {
      for (int stages = 1; stages <= 5; ++stages) {
        for (int micro_batches = 1; micro_batches <= 9; ++micro_batches) {
          SCOPED_TRACE(describe(schedule, stages, micro_batches) + " b=" + std::to_string(b));
          const PipelineTimeline timeline =
              simulate_pipeline_program(build_pipeline_program(schedule, stages, micro_batches), 1.0, b);
          EXPECT_NEAR(timeline.makespan, (micro_batches + stages - 1) * (1.0 + b), 1e-9);
          for (double bubble : timeline.bubble_fraction) {
            EXPECT_NEAR(bubble, static_cast<double>(stages - 1) / (micro_batches + stages - 1), 1e-9);
          }
        }
      }
    }
  }
}

TEST(PipelineSchedule, OneFOneBTwoStagesFourMicroBatchesByHand) {
  const PipelineProgram program = build_pipeline_program(PipelineSchedule::one_f_one_b, 2, 4);
  EXPECT_EQ(format_pipeline_program(program),
            "stage 0: F0 F1 B0 F2 B1 F3 B2 B3\n"
            "stage 1: F0 B0 F1 B1 F2 B2 F3 B3\n");
  // The steady state pairs each send with the opposite receive between the same two stages.
  EXPECT_EQ(format_pipeline_program(program, true),
            "stage 0: F0 send_F0 F1 send_F1+recv_B0 B0 F2 send_F2+recv_B1 B1 F3 send_F3+recv_B2 B2 recv_B3 B3\n"
            "stage 1: recv_F0 F0 B0 send_B0+recv_F1 F1 B1 send_B1+recv_F2 F2 B2 send_B2+recv_F3 F3 B3 send_B3\n");
}

TEST(PipelineSchedule, GPipeOrderAndNames) {
  const PipelineProgram program = build_pipeline_program(PipelineSchedule::gpipe, 2, 2);
  EXPECT_EQ(format_pipeline_program(program, true),
            "stage 0: F0 send_F0 F1 send_F1+recv_B0 B0 recv_B1 B1\n"
            "stage 1: recv_F0 F0 recv_F1 F1 B0 send_B0 B1 send_B1\n");
  EXPECT_STREQ(action_name(ActionKind::forward), "F");
  EXPECT_STREQ(action_name(ActionKind::recv_backward), "recv_B");
  EXPECT_STREQ(action_name(ActionKind::send_backward_recv_forward), "send_B+recv_F");
}

TEST(PipelineSchedule, SingleStageHasNoTransfers) {
  const PipelineProgram program = build_pipeline_program(PipelineSchedule::one_f_one_b, 1, 3);
  EXPECT_EQ(format_pipeline_program(program, true), "stage 0: F0 B0 F1 B1 F2 B2\n");
}

TEST(PipelineSchedule, RejectsBadSizes) {
  EXPECT_THROW(build_pipeline_program(PipelineSchedule::gpipe, 0, 4), InternalError);
  EXPECT_THROW(build_pipeline_program(PipelineSchedule::one_f_one_b, 2, 0), InternalError);
}

TEST(PipelineSchedule, CheckRejectsMissingReceive) {
  PipelineProgram program = build_pipeline_program(PipelineSchedule::gpipe, 2, 2);
  auto& stage1 = program.actions[1];
  // Drop stage 1's receive of micro-batch 0: its forward then runs on nothing.
  stage1.erase(std::find_if(stage1.begin(), stage1.end(), [](const Action& action) {
    return action.kind == ActionKind::recv_forward && action.micro_batch == 0;
  }));
  expect_rejected(program, "stage 1 action 0 (F0): forward before its input was received");
}

TEST(PipelineSchedule, CheckRejectsBackwardBeforeForward) {
  PipelineProgram program = build_pipeline_program(PipelineSchedule::one_f_one_b, 1, 2);
  // stage 0: F0 B0 F1 B1 -> F0 B1 F1 B0
  std::swap(program.actions[0][1], program.actions[0][3]);
  expect_rejected(program, "stage 0 action 1 (B1): backward of micro-batch 1 before its forward");
}

TEST(PipelineSchedule, CheckRejectsSendsReceivedOutOfOrder) {
  PipelineProgram program = build_pipeline_program(PipelineSchedule::gpipe, 2, 2);
  // stage 1 receives F1 then F0 while stage 0 sends F0 then F1.
  program.actions[1] = {{ActionKind::recv_forward, 1, 0}, {ActionKind::recv_forward, 0, 0},
                        {ActionKind::forward, 0},         {ActionKind::forward, 1},
                        {ActionKind::backward, 0},        {ActionKind::send_backward, 0, 0},
                        {ActionKind::backward, 1},        {ActionKind::send_backward, 1, 0}};
  expect_rejected(program, "stage 1 action 0: receives activation of micro-batch 1 where stage 0 (action 1) sends");
}

TEST(PipelineSchedule, CheckRejectsWrongPeer) {
  PipelineProgram program = build_pipeline_program(PipelineSchedule::gpipe, 3, 1);
  program.actions[1][2].peer_stage = 0;  // stage 1: recv_F0 F0 send_F0+recv_B0 ... with stage 0
  expect_rejected(program, "stage 1 action 2 (send_F0+recv_B0): peer is stage 0, must be stage 2");
}

// The plain 1F1B order without merged transfers: both stages send first (stage 0 its next
// activation, stage 1 its gradient) and neither receives, so zero-buffer sends never return.
TEST(PipelineSchedule, CheckRejectsDeadlockingOrder) {
  PipelineProgram program;
  program.stages = 2;
  program.micro_batches = 2;
  program.schedule = PipelineSchedule::one_f_one_b;
  program.actions = {
      {{ActionKind::forward, 0},
       {ActionKind::send_forward, 0, 1},
       {ActionKind::forward, 1},
       {ActionKind::send_forward, 1, 1},
       {ActionKind::recv_backward, 0, 1},
       {ActionKind::backward, 0},
       {ActionKind::recv_backward, 1, 1},
       {ActionKind::backward, 1}},
      {{ActionKind::recv_forward, 0, 0},
       {ActionKind::forward, 0},
       {ActionKind::backward, 0},
       {ActionKind::send_backward, 0, 0},
       {ActionKind::recv_forward, 1, 0},
       {ActionKind::forward, 1},
       {ActionKind::backward, 1},
       {ActionKind::send_backward, 1, 0}},
  };
  expect_rejected(program, "stage 0 action 3: deadlock");
  // The same program with each send+receive pair merged, as build_pipeline_program does, passes.
  EXPECT_EQ(format_pipeline_program(program),
            format_pipeline_program(build_pipeline_program(PipelineSchedule::one_f_one_b, 2, 2)));
  EXPECT_NO_THROW(check_pipeline_program(build_pipeline_program(PipelineSchedule::one_f_one_b, 2, 2)));
}

TEST(PipelineSchedule, CheckRejectsMissingStageList) {
  PipelineProgram program = build_pipeline_program(PipelineSchedule::gpipe, 3, 2);
  program.actions.pop_back();
  expect_rejected(program, "action lists for 2 stages, expected 3");
}

}  // namespace
}  // namespace loom::parallel
