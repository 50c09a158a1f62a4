// The flow simulator against closed forms: on one non-blocking switch with host links of
// latency alpha / 2 (a path of latency alpha) and bandwidth 1 / beta, and hosts that reduce at
// 1 / gamma, the flat algorithms take exactly REFERENCE.md section 5's times. Then the pieces one
// at a time: fair sharing of a link, the incast penalty, the memory term, an oversubscribed leaf.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "topo/generators.h"
#include "topo/genmodel.h"
#include "topo/network.h"
#include "topo/simulator.h"

namespace loom::topo {
namespace {

constexpr double kAlpha = 2e-6;
constexpr double kBeta = 1.0 / 1.25e10;
constexpr double kGamma = 1.0 / 4e9;

struct SwitchParams {
  double alpha_s = kAlpha;
  double beta_s_per_byte = kBeta;
  double gamma_s_per_byte = kGamma;
  double memory_bytes_per_s = 1e30;  // delta ~ 0 unless a test sets it
  int incast_threshold = 1 << 20;    // no incast penalty unless a test sets it
  double epsilon_s_per_byte = 0.0;
};

Topology switch_topology(int hosts, const SwitchParams& params = {}) {
  Topology topology;
  topology.name = "test-switch-" + std::to_string(hosts);
  topology.switches.push_back({"s0", 1});
  for (int h = 0; h < hosts; ++h) {
    HostSpec host;
    host.name = "h" + std::to_string(h);
    host.memory_bandwidth_bytes_per_s = params.memory_bytes_per_s;
    host.reduce_bytes_per_s = 1.0 / params.gamma_s_per_byte;
    topology.hosts.push_back(host);
    topology.links.push_back({host.name, "s0", 1.0 / params.beta_s_per_byte, params.alpha_s / 2});
  }
  topology.incast = {params.incast_threshold, params.epsilon_s_per_byte};
  return topology;
}

void expect_relative(double actual, double expected, double tolerance = 1e-9) {
  EXPECT_NEAR(actual, expected, std::abs(expected) * tolerance) << "relative " << (actual - expected) / expected;
}

// A plan of `ranks` ranks over `chunks` chunks of `chunk_bytes` each, filled in by the test.
CollectivePlan empty_plan(int ranks, int chunks, int64_t chunk_bytes) {
  CollectivePlan plan;
  plan.algorithm = "hand";
  plan.ranks = ranks;
  plan.chunk_bytes.assign(size_t(chunks), chunk_bytes);
  plan.ops.resize(size_t(ranks));
  return plan;
}

void add_op(CollectivePlan& plan, int rank, int step, PlanOpKind kind, int peer, int first, int count = 1) {
  PlanOp op;
  op.kind = kind;
  op.step = step;
  op.peer = peer;
  op.first_chunk = first;
  op.chunk_count = count;
  plan.ops[size_t(rank)].push_back(op);
}

class TopoSimulatorClosedForm : public ::testing::TestWithParam<int> {};

TEST_P(TopoSimulatorClosedForm, FlatAlgorithmsMatchReference) {
  const int p = GetParam();
  const double lg = std::log2(double(p));
  const int64_t bytes = int64_t(p) * 4 * 1000;
  const double n = double(bytes);
  const Network network(switch_topology(p));
  const SimulationResult ring = simulate_plan(network, generate_ring(p, bytes));
  expect_relative(ring.time_s, 2 * (p - 1) * kAlpha + 2 * n * (p - 1) / p * kBeta + n * (p - 1) / p * kGamma);
  EXPECT_EQ(ring.flows, int64_t(2 * (p - 1) * p));
  const SimulationResult doubling = simulate_plan(network, generate_recursive_doubling(p, bytes));
  expect_relative(doubling.time_s, lg * (kAlpha + n * kBeta + n * kGamma));
  const SimulationResult rabenseifner = simulate_plan(network, generate_rabenseifner(p, bytes));
  expect_relative(rabenseifner.time_s, 2 * lg * kAlpha + 2 * n * (p - 1) / p * kBeta + n * (p - 1) / p * kGamma);
  const SimulationResult tree = simulate_plan(network, generate_binomial_tree(p, bytes));
  expect_relative(tree.time_s, 2 * lg * kAlpha + 2 * n * lg * kBeta + n * lg * kGamma);
}

INSTANTIATE_TEST_SUITE_P(TopoRanks, TopoSimulatorClosedForm, ::testing::Values(8, 16));

TEST(TopoSimulator, RingStepsReportTheirTerms) {
  const int p = 4;
  const int64_t bytes = 4 * 4 * 100;
  const SimulationResult result = simulate_plan(Network(switch_topology(p)), generate_ring(p, bytes));
  ASSERT_EQ(result.steps.size(), size_t(2 * (p - 1)));
  const double step_s = kAlpha + bytes / p * kBeta;
  for (size_t s = 0; s < result.steps.size(); ++s) {
    const SimulatedStep& step = result.steps[s];
    EXPECT_EQ(step.wire_bytes, bytes);  // p ranks, n / p each
    EXPECT_EQ(step.max_incast, 1);
    EXPECT_EQ(step.reduced_bytes, s < p - 1 ? bytes : 0);
    if (s > 0) expect_relative(step.start_s, result.steps[s - 1].end_s);
    expect_relative(step.end_s - step.start_s, step_s + (s < p - 1 ? bytes / p * kGamma : 0.0));
  }
  expect_relative(result.time_s, result.steps.back().end_s);
}

TEST(TopoSimulator, TwoFlowsIntoOneHostShareItsLink) {
  const int64_t n = 1 << 20;
  CollectivePlan plan = empty_plan(3, 2, n);
  add_op(plan, 0, 0, PlanOpKind::send, 2, 0);
  add_op(plan, 1, 0, PlanOpKind::send, 2, 1);
  add_op(plan, 2, 0, PlanOpKind::recv, 0, 0);
  add_op(plan, 2, 0, PlanOpKind::recv, 1, 1);
  const SimulationResult result = simulate_plan(Network(switch_topology(3)), plan);
  expect_relative(result.time_s, kAlpha + 2 * n * kBeta);
  EXPECT_EQ(result.steps[0].max_incast, 2);
  EXPECT_EQ(result.flows, 2);
}

TEST(TopoSimulator, TwoFlowsOutOfOneHostShareItsLink) {
  const int64_t n = 1 << 20;
  CollectivePlan plan = empty_plan(3, 2, n);
  add_op(plan, 0, 0, PlanOpKind::send, 1, 0);
  add_op(plan, 0, 0, PlanOpKind::send, 2, 1);
  add_op(plan, 1, 0, PlanOpKind::recv, 0, 0);
  add_op(plan, 2, 0, PlanOpKind::recv, 0, 1);
  expect_relative(simulate_plan(Network(switch_topology(3)), plan).time_s, kAlpha + 2 * n * kBeta);
}

TEST(TopoSimulator, IncastPenalisesFlowsOverTheThreshold) {
  const int w = 6;
  const int threshold = 2;
  const double epsilon = 0.25 * kBeta;
  const int64_t n = 1 << 16;
  CollectivePlan plan = empty_plan(w + 1, w, n);
  for (int sender = 1; sender <= w; ++sender) {
    add_op(plan, sender, 0, PlanOpKind::send, 0, sender - 1);
    add_op(plan, 0, 0, PlanOpKind::recv, sender, sender - 1);
  }
  SwitchParams params;
  params.incast_threshold = threshold;
  params.epsilon_s_per_byte = epsilon;
  const SimulationResult result = simulate_plan(Network(switch_topology(w + 1, params)), plan);
  // The receiving link carries w n bytes at beta + (w - w_t) epsilon each.
  expect_relative(result.time_s, kAlpha + w * n * (kBeta + (w - threshold) * epsilon));
  EXPECT_EQ(result.steps[0].max_incast, w);
  // At the threshold there is no penalty.
  params.incast_threshold = w;
  expect_relative(simulate_plan(Network(switch_topology(w + 1, params)), plan).time_s, kAlpha + w * n * kBeta);
}

TEST(TopoSimulator, ReceiveReducesIntoOneChunkCostOneFusedMemoryPass) {
  const int k = 3;
  const int64_t n = 1 << 16;
  SwitchParams params;
  params.memory_bytes_per_s = 2e9;
  const double delta = 1.0 / params.memory_bytes_per_s;
  CollectivePlan plan = empty_plan(k + 1, 1, n);
  for (int sender = 1; sender <= k; ++sender) {
    add_op(plan, sender, 0, PlanOpKind::send, 0, 0);
    add_op(plan, 0, 0, PlanOpKind::recv_reduce, sender, 0);
  }
  const SimulationResult result = simulate_plan(Network(switch_topology(k + 1, params)), plan);
  const double host_s = k * n * kGamma + (k + 2) * n * delta;
  expect_relative(result.time_s, kAlpha + k * n * kBeta + host_s);
  expect_relative(result.steps[0].host_s, host_s);
  EXPECT_EQ(result.steps[0].memory_bytes, (k + 2) * n);
  EXPECT_EQ(result.steps[0].reduced_bytes, k * n);
  // A copy reads and writes: 2 n.
  CollectivePlan copy = empty_plan(1, 1, n);
  add_op(copy, 0, 0, PlanOpKind::copy, -1, 0);
  copy.ops[0][0].buffer = PlanBuffer::scratch;
  expect_relative(simulate_plan(Network(switch_topology(1, params)), copy).time_s, 2 * n * delta);
}

// Two leaves of two hosts under one spine; each leaf's uplink carries one host link's bandwidth
// (oversubscription 2), so two flows crossing leaves get half a host link each.
TEST(TopoSimulator, OversubscribedLeafSlowsCrossLeafFlows) {
  Topology topology = switch_topology(4);
  topology.name = "test-leaf-spine";
  topology.switches = {{"leaf0", 1}, {"leaf1", 1}, {"spine", 2}};
  const double link_latency_s = kAlpha / 2;
  const double bandwidth = 1.0 / kBeta;
  topology.links = {{"h0", "leaf0", bandwidth, link_latency_s},    {"h1", "leaf0", bandwidth, link_latency_s},
                    {"h2", "leaf1", bandwidth, link_latency_s},    {"h3", "leaf1", bandwidth, link_latency_s},
                    {"leaf0", "spine", bandwidth, link_latency_s}, {"leaf1", "spine", bandwidth, link_latency_s}};
  const Network network(topology);
  const int64_t n = 1 << 20;
  CollectivePlan cross = empty_plan(4, 2, n);
  add_op(cross, 0, 0, PlanOpKind::send, 2, 0);
  add_op(cross, 1, 0, PlanOpKind::send, 3, 1);
  add_op(cross, 2, 0, PlanOpKind::recv, 0, 0);
  add_op(cross, 3, 0, PlanOpKind::recv, 1, 1);
  expect_relative(simulate_plan(network, cross).time_s, 4 * link_latency_s + 2 * n * kBeta);
  // One flow alone crosses at full speed; a flow inside a leaf is not slowed by the other's uplink.
  CollectivePlan mixed = empty_plan(4, 2, n);
  add_op(mixed, 0, 0, PlanOpKind::send, 2, 0);
  add_op(mixed, 1, 0, PlanOpKind::send, 0, 1);
  add_op(mixed, 2, 0, PlanOpKind::recv, 0, 0);
  add_op(mixed, 0, 0, PlanOpKind::recv, 1, 1);
  const SimulationResult result = simulate_plan(network, mixed);
  expect_relative(result.time_s, 4 * link_latency_s + n * kBeta);
  expect_relative(result.steps[0].start_s, 0.0);
}

TEST(TopoSimulator, ZeroBytesTakeTheLatencyAndStepsChainPerRank) {
  CollectivePlan plan = empty_plan(2, 1, 0);
  for (int step = 0; step < 3; ++step) {
    add_op(plan, 0, step, PlanOpKind::send, 1, 0);
    add_op(plan, 1, step, PlanOpKind::recv, 0, 0);
  }
  const SimulationResult result = simulate_plan(Network(switch_topology(2)), plan);
  expect_relative(result.time_s, 3 * kAlpha);
  EXPECT_EQ(result.flows, 3);
}

TEST(TopoSimulator, ARankCountOtherThanTheNetworksIsAUserError) {
  EXPECT_THROW(simulate_plan(Network(switch_topology(4)), generate_ring(8, 1024)), UserError);
}

TEST(TopoSimulator, LargeRingFinishes) {
  const int p = 256;
  const int64_t bytes = int64_t(p) * 4 * 64;
  const double n = double(bytes);
  const SimulationResult ring = simulate_plan(Network(switch_topology(p)), generate_ring(p, bytes));
  expect_relative(ring.time_s, 2 * (p - 1) * kAlpha + 2 * n * (p - 1) / p * kBeta + n * (p - 1) / p * kGamma);
}

}  // namespace
}  // namespace loom::topo
