// Plan validator: hand-built plans it must accept, and broken ones it must reject with a message
// that names the problem (the rank, the op, the chunk or the waiting ranks).
#include "topo/plan_validator.h"

#include <gtest/gtest.h>

#include <functional>

#include "core/error.h"
#include "test_support.h"

namespace loom::topo {
namespace {

using loom::testing_support::user_error_of;

PlanOp send(int step, int peer, int first, int count = 1, PlanBuffer buffer = PlanBuffer::data) {
  return {PlanOpKind::send, buffer, step, peer, first, count};
}
PlanOp recv(int step, int peer, int first, int count = 1, PlanBuffer buffer = PlanBuffer::data) {
  return {PlanOpKind::recv, buffer, step, peer, first, count};
}
PlanOp reduce(int step, int peer, int first, int count = 1, PlanBuffer buffer = PlanBuffer::data) {
  return {PlanOpKind::recv_reduce, buffer, step, peer, first, count};
}
PlanOp copy(int step, PlanBuffer to, int first, int count = 1) {
  return {PlanOpKind::copy, to, step, -1, first, count};
}

CollectivePlan empty_plan(int ranks, int chunks) {
  CollectivePlan plan;
  plan.algorithm = "hand";
  plan.ranks = ranks;
  plan.element_bytes = 4;
  plan.chunk_bytes.assign(size_t(chunks), 8);
  plan.ops.resize(size_t(ranks));
  return plan;
}

// Two ranks, one chunk: exchange and add, in one step.
CollectivePlan two_rank_exchange() {
  CollectivePlan plan = empty_plan(2, 1);
  plan.ops[0] = {send(0, 1, 0), reduce(0, 1, 0)};
  plan.ops[1] = {send(0, 0, 0), reduce(0, 0, 0)};
  return plan;
}

// Three ranks, three chunks: a hand-written ring.
CollectivePlan three_rank_ring() {
  CollectivePlan plan = empty_plan(3, 3);
  for (int r = 0; r < 3; ++r) {
    const int next = (r + 1) % 3, previous = (r + 2) % 3;
    plan.ops[size_t(r)] = {send(0, next, r),           reduce(0, previous, (r + 2) % 3),
                           send(1, next, (r + 2) % 3), reduce(1, previous, (r + 1) % 3),
                           send(2, next, (r + 1) % 3), recv(2, previous, r),
                           send(3, next, r),           recv(3, previous, (r + 2) % 3)};
  }
  return plan;
}

TEST(TopoPlanValidator, AcceptsHandBuiltPlans) {
  EXPECT_NO_THROW(validate_plan(two_rank_exchange()));
  EXPECT_NO_THROW(validate_plan(three_rank_ring()));
  EXPECT_NO_THROW(validate_plan(empty_plan(1, 4)));  // one rank: nothing to do
  EXPECT_NO_THROW(validate_plan(empty_plan(3, 0)));  // no chunks: nothing to do
  CollectivePlan zero_bytes = two_rank_exchange();
  zero_bytes.chunk_bytes = {0};
  EXPECT_NO_THROW(validate_plan(zero_bytes));
}

TEST(TopoPlanValidator, AcceptsASendAndReceiveInSeparateStepsWhenOrderedConsistently) {
  // Rank 0 sends first then receives; rank 1 receives first then sends: no cycle.
  CollectivePlan plan = empty_plan(2, 1);
  plan.ops[0] = {send(0, 1, 0), recv(1, 1, 0)};
  plan.ops[1] = {reduce(0, 0, 0), send(1, 0, 0)};
  EXPECT_NO_THROW(validate_plan(plan));
}

TEST(TopoPlanValidator, CopyThroughScratchIsValid) {
  // Both ranks copy their data into scratch, send from scratch, add the peer's part into data.
  CollectivePlan plan = empty_plan(2, 2);
  for (int r = 0; r < 2; ++r) {
    const int peer = 1 - r;
    plan.ops[size_t(r)] = {copy(0, PlanBuffer::scratch, 0, 2),
                           send(1, peer, peer, 1, PlanBuffer::scratch),
                           reduce(1, peer, r, 1),
                           send(2, peer, r, 1),
                           recv(2, peer, peer, 1, PlanBuffer::scratch),
                           copy(3, PlanBuffer::data, peer, 1)};
  }
  EXPECT_NO_THROW(validate_plan(plan));

  // A copy out of a scratch chunk nothing was written to leaves the data chunk empty.
  CollectivePlan empty_scratch = two_rank_exchange();
  empty_scratch.ops[0].push_back(copy(1, PlanBuffer::data, 0));
  EXPECT_NE(user_error_of([&] {
              validate_plan(empty_scratch, "[p.json]");
            }).find("rank 0 ends with data chunk 0 holding the contributions of ranks {}"),
            std::string::npos);
}

TEST(TopoPlanValidator, RejectsAMissingReceive) {
  CollectivePlan plan = two_rank_exchange();
  plan.ops[1].pop_back();  // rank 1 never receives rank 0's send
  const std::string message = user_error_of([&] { validate_plan(plan, "[p.json]"); });
  EXPECT_NE(message.find("[p.json] ops[0][0] send to 1"), std::string::npos) << message;
  EXPECT_NE(message.find("has no matching receive"), std::string::npos) << message;
}

TEST(TopoPlanValidator, RejectsAReceiveWithNoSend) {
  CollectivePlan plan = two_rank_exchange();
  plan.ops[0].erase(plan.ops[0].begin());  // rank 0 never sends
  const std::string message = user_error_of([&] { validate_plan(plan, "[p.json]"); });
  EXPECT_NE(message.find("ops[1][1] recv_reduce from 0"), std::string::npos) << message;
  EXPECT_NE(message.find("has no matching send"), std::string::npos) << message;
}

TEST(TopoPlanValidator, RejectsMismatchedChunkRanges) {
  CollectivePlan plan = empty_plan(2, 2);
  plan.ops[0] = {send(0, 1, 0, 2), reduce(0, 1, 0, 2)};
  plan.ops[1] = {send(0, 0, 0, 2), reduce(0, 0, 0, 1)};
  const std::string message = user_error_of([&] { validate_plan(plan, "[p.json]"); });
  EXPECT_NE(message.find("chunks differ"), std::string::npos) << message;
  EXPECT_NE(message.find("ops[0][0]"), std::string::npos) << message;
}

TEST(TopoPlanValidator, RejectsAChunkReducedTwice) {
  // Rank 0 adds rank 1's chunk in twice, in two steps.
  CollectivePlan plan = empty_plan(2, 1);
  plan.ops[0] = {reduce(0, 1, 0), reduce(1, 1, 0), send(2, 1, 0)};
  plan.ops[1] = {send(0, 0, 0), send(1, 0, 0), recv(2, 0, 0)};
  const std::string message = user_error_of([&] { validate_plan(plan, "[p.json]"); });
  EXPECT_EQ(message, "[p.json] chunk 0 on rank 0 would hold rank 1's contribution twice (step 1, recv_reduce from 1)");
}

TEST(TopoPlanValidator, RejectsTwoOverwritesOfOneChunkInOneStep) {
  CollectivePlan plan = empty_plan(3, 1);
  plan.ops[0] = {recv(0, 1, 0), recv(0, 2, 0)};
  plan.ops[1] = {send(0, 0, 0)};
  plan.ops[2] = {send(0, 0, 0)};
  const std::string message = user_error_of([&] { validate_plan(plan, "[p.json]"); });
  EXPECT_NE(message.find("rank 0 step 0"), std::string::npos) << message;
  EXPECT_NE(message.find("both write data chunk 0"), std::string::npos) << message;
}

TEST(TopoPlanValidator, RejectsADeadlockCycle) {
  // Each rank receives in step 0 and only sends in step 1: both wait forever.
  CollectivePlan plan = empty_plan(2, 1);
  plan.ops[0] = {reduce(0, 1, 0), send(1, 1, 0)};
  plan.ops[1] = {reduce(0, 0, 0), send(1, 0, 0)};
  const std::string message = user_error_of([&] { validate_plan(plan, "[p.json]"); });
  EXPECT_EQ(message,
            "[p.json] deadlock: rank 0 step 0 waits for rank 1 (step 1), rank 1 step 0 waits for rank 0 (step 1) "
            "(2 of 2 ranks cannot progress)");
}

TEST(TopoPlanValidator, RejectsARankThatEndsWithoutAContribution) {
  // Rank 1 gets rank 0's data but keeps only that (recv overwrites its own contribution).
  CollectivePlan plan = empty_plan(2, 1);
  plan.ops[0] = {send(0, 1, 0), reduce(0, 1, 0)};
  plan.ops[1] = {send(0, 0, 0), recv(0, 0, 0)};
  const std::string message = user_error_of([&] { validate_plan(plan, "[p.json]"); });
  EXPECT_EQ(message,
            "[p.json] rank 1 ends with data chunk 0 holding the contributions of ranks {0} (missing rank 1; valid: "
            "every rank 0..1 exactly once)");
}

TEST(TopoPlanValidator, RejectsStructuralMistakes) {
  CollectivePlan self = two_rank_exchange();
  self.ops[1][0].peer = 1;
  EXPECT_EQ(user_error_of([&] { validate_plan(self, "[p.json]"); }),
            "[p.json] ops[1][0].peer=1 is out of range (valid: 0..1, not 1 itself)");

  CollectivePlan out_of_range = two_rank_exchange();
  out_of_range.ops[0][1].peer = 7;
  EXPECT_EQ(user_error_of([&] { validate_plan(out_of_range, "[p.json]"); }),
            "[p.json] ops[0][1].peer=7 is out of range (valid: 0..1, not 0 itself)");

  CollectivePlan chunk = two_rank_exchange();
  chunk.ops[0][0].first_chunk = 1;
  EXPECT_NE(user_error_of([&] { validate_plan(chunk, "[p.json]"); })
                .find("[p.json] ops[0][0].chunks=[1,1] is out of range (valid: first >= 0, count >= 1, first + count "
                      "<= 1 chunks)"),
            std::string::npos);

  CollectivePlan steps = two_rank_exchange();
  steps.ops[0][0].step = 3;
  EXPECT_NE(user_error_of([&] { validate_plan(steps, "[p.json]"); }).find("ops[0][1].step=0 comes after step 3"),
            std::string::npos);

  CollectivePlan unaligned = two_rank_exchange();
  unaligned.chunk_bytes = {6};
  EXPECT_NE(user_error_of([&] { validate_plan(unaligned, "[p.json]"); }).find("chunks[0]=6"), std::string::npos);

  CollectivePlan missing_rank = two_rank_exchange();
  missing_rank.ranks = 3;
  EXPECT_NE(user_error_of([&] { validate_plan(missing_rank, "[p.json]"); }).find("2 rank lists for ranks=3"),
            std::string::npos);
}

}  // namespace
}  // namespace loom::topo
