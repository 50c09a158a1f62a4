// loom collective run: executes one all-reduce plan on real ranks (under mpirun) and checks it.
// The plan comes from a file (--plan) or from a generator on a topology (--topology, --algorithm);
// every rank fills its buffer from a formula of (rank, index), so every rank can also compute
// the exact sum locally and compare: i32 must match bit for bit, f32 within the rounding bound of
// a p-term sum in any order. Rank 0 prints a short report; a wrong result fails the job.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "cli/topology_argument.h"
#include "comm/link_measurement.h"
#include "comm/plan_interpreter.h"
#include "comm/reduce_kernels.h"
#include "comm/world.h"
#include "core/error.h"
#include "topo/generators.h"
#include "topo/network.h"
#include "topo/plan_validator.h"
#include "topo/topology.h"

namespace loom::cli {
namespace {

struct CollectiveRunFlags {
  std::string plan_path;
  std::string topology_path;
  std::string algorithm;
  std::string bytes;  // empty: the plan's size, or 1 MiB for a generated plan
  std::string dtype = "f32";
  int iterations = 10;
};

constexpr int64_t kDefaultBytes = int64_t{1} << 20;

// Rank r's element i. i32: small integers, so that any sum over thousands of ranks is exact.
// f32: values in (-1, 1) that are not short binary fractions, so sums do round.
int32_t i32_value(int rank, size_t i) {
  return static_cast<int32_t>((int64_t{rank} * 131 + static_cast<int64_t>(i % 1009) * 7) % 2001) - 1000;
}
float f32_value(int rank, size_t i) {
  return static_cast<float>(std::sin(0.731 * double(rank) + 0.0137 * double(i % 100003) + 0.25));
}

// The plan, from its file or generated for the topology; either way validated.
topo::CollectivePlan load_or_generate_plan(const CollectiveRunFlags& flags, const comm::Communicator& comm) {
  if (flags.plan_path.empty() == flags.topology_path.empty())
    throw_user_error("collective run: give either --plan FILE or --topology FILE with --algorithm NAME");
  if (!flags.plan_path.empty()) {
    if (!flags.algorithm.empty())
      throw_user_error("collective run: --algorithm '{}' applies to --topology; a --plan file is already one plan",
                       flags.algorithm);
    topo::CollectivePlan plan = topo::load_plan(flags.plan_path);  // parses and validates
    if (plan.ranks != comm.size())
      throw_user_error("collective run: plan '{}' has {} ranks but the job has {} (run with mpirun -np {})",
                       flags.plan_path, plan.ranks, comm.size(), plan.ranks);
    if (!flags.bytes.empty() && parse_byte_count(flags.bytes, "--bytes") != plan.bytes())
      throw_user_error("collective run: --bytes {} differs from the {} bytes plan '{}' was written for", flags.bytes,
                       plan.bytes(), flags.plan_path);
    return plan;
  }
  if (flags.algorithm.empty())
    throw_user_error("collective run: --topology needs --algorithm NAME (valid: {})",
                     fmt::join(topo::plan_algorithm_names(), ", "));
  const topo::Topology topology = topology_from_argument(flags.topology_path);
  if (topology.ranks() != comm.size())
    throw_user_error("collective run: topology '{}' ({}) has {} ranks but the job has {} (run with mpirun -np {})",
                     topology.name, flags.topology_path, topology.ranks(), comm.size(), topology.ranks());
  const int64_t bytes = flags.bytes.empty() ? kDefaultBytes : parse_byte_count(flags.bytes, "--bytes");
  if (bytes % 4 != 0) throw_user_error("collective run: --bytes {} is not a whole number of 4-byte elements", bytes);
  const topo::Network network(topology);
  topo::CollectivePlan plan = topo::generate_plan(flags.algorithm, network, bytes, 4);
  topo::validate_plan(plan, fmt::format("[{} plan for {}]", flags.algorithm, flags.topology_path));
  return plan;
}

struct Check {
  double max_error = 0.0;  // largest |result - exact sum|
  double max_ratio = 0.0;  // largest error / bound (f32); any error counts as wrong for i32
  size_t first_wrong = SIZE_MAX;
};

// Fills `data` with this rank's contribution.
void fill(std::vector<char>& data, DType dtype, int rank) {
  const size_t count = data.size() / 4;
  if (dtype == DType::i32) {
    auto* values = reinterpret_cast<int32_t*>(data.data());
    for (size_t i = 0; i < count; ++i) values[i] = i32_value(rank, i);
  } else {
    auto* values = reinterpret_cast<float*>(data.data());
    for (size_t i = 0; i < count; ++i) values[i] = f32_value(rank, i);
  }
}

// Compares the all-reduced `data` with the sum computed here from the same formula. f32: a sum
// of p floats in any order is within (p - 1) u sum |x_r| of the exact sum (u = 2^-24); the bound
// used is p u sum |x_r|, which also covers the last rounding of the result.
Check check(const std::vector<char>& data, DType dtype, int ranks) {
  Check result;
  const size_t count = data.size() / 4;
  for (size_t i = 0; i < count; ++i) {
    double exact = 0.0, magnitude = 0.0, got = 0.0;
    bool wrong = false;
    if (dtype == DType::i32) {
      int64_t sum = 0;
      for (int r = 0; r < ranks; ++r) sum += i32_value(r, i);
      const int32_t value = reinterpret_cast<const int32_t*>(data.data())[i];
      wrong = int64_t{value} != sum;
      exact = double(sum), got = double(value);
    } else {
      for (int r = 0; r < ranks; ++r) {
        const double x = f32_value(r, i);
        exact += x;
        magnitude += std::abs(x);
      }
      got = double(reinterpret_cast<const float*>(data.data())[i]);
      const double bound = double(ranks) * std::ldexp(1.0, -24) * magnitude;
      const double error = std::abs(got - exact);
      if (bound > 0.0) result.max_ratio = std::max(result.max_ratio, error / bound);
      wrong = !(error <= bound);  // NaN is wrong
    }
    result.max_error = std::max(result.max_error, std::abs(got - exact));
    if (wrong && result.first_wrong == SIZE_MAX) result.first_wrong = i;
  }
  return result;
}

void run_collective_run(const CollectiveRunFlags& flags) {
  if (flags.dtype != "f32" && flags.dtype != "i32")
    throw_user_error("collective run: --dtype '{}' is not known (valid: f32, i32)", flags.dtype);
  if (flags.iterations < 1) throw_user_error("collective run: --iterations {} must be >= 1", flags.iterations);
  const DType dtype = flags.dtype == "i32" ? DType::i32 : DType::f32;
  std::shared_ptr<comm::Communicator> world = comm::world_communicator();
  comm::Communicator& comm = *world;
  const topo::CollectivePlan plan = load_or_generate_plan(flags, comm);
  if (plan.element_bytes != 4)
    throw_user_error("collective run: plan '{}' has {}-byte elements; f32 and i32 have 4", plan.algorithm,
                     plan.element_bytes);
  const size_t count = static_cast<size_t>(plan.bytes()) / 4;

  std::vector<char> input(count * 4), data;
  fill(input, dtype, comm.rank());
  data = input;
  comm::run_plan(comm, plan, data.data(), count, dtype, comm::ReduceOp::sum);
  const Check result = check(data, dtype, comm.size());
  const bool all_correct = comm::max_over_ranks(comm, result.first_wrong == SIZE_MAX ? 0.0 : 1.0) == 0.0;
  const double max_error = comm::max_over_ranks(comm, result.max_error);
  const double max_ratio = comm::max_over_ranks(comm, result.max_ratio);

  // The slowest rank's time of each run, every rank starting together; the input restored first.
  std::vector<double> times_us;
  for (int i = 0; i < flags.iterations; ++i) {
    std::memcpy(data.data(), input.data(), input.size());
    comm.barrier();
    const auto start = std::chrono::steady_clock::now();
    comm::run_plan(comm, plan, data.data(), count, dtype, comm::ReduceOp::sum);
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    times_us.push_back(comm::max_over_ranks(comm, us));
  }
  std::sort(times_us.begin(), times_us.end());
  const double median_us = times_us[times_us.size() / 2];

  if (comm.rank() == 0) {
    fmt::print("loom collective run: plan '{}'{}, {} ranks, {} bytes ({} x {}, sum)\n", plan.algorithm,
               plan.topology.empty() ? std::string() : fmt::format(" on topology '{}'", plan.topology), comm.size(),
               plan.bytes(), count, flags.dtype);
    fmt::print("  steps {}, ops {} (all ranks)\n", plan.steps(), plan.op_count());
    if (dtype == DType::i32) {
      fmt::print("  correct: {} (bit-exact against the sum computed on every rank; max error {:g})\n",
                 all_correct ? "yes" : "NO", max_error);
    } else {
      fmt::print("  correct: {} (max error {:.3g}, {:.2f} of the bound p * 2^-24 * sum |x|)\n",
                 all_correct ? "yes" : "NO", max_error, max_ratio);
    }
    fmt::print("  median time {:.1f} us over {} run{}\n", median_us, flags.iterations,
               flags.iterations == 1 ? "" : "s");
  }
  if (!all_correct) {
    throw Error(fmt::format("plan '{}' gave a wrong all-reduce{}", plan.algorithm,
                            result.first_wrong == SIZE_MAX
                                ? std::string(" on another rank")
                                : fmt::format(" on rank {} (first at element {})", comm.rank(), result.first_wrong)));
  }
  comm.barrier();
}

}  // namespace

void add_collective_run_command(CLI::App& collective) {
  auto flags = std::make_shared<CollectiveRunFlags>();
  CLI::App* run = collective.add_subcommand(
      "run", "Run one all-reduce plan on the ranks of this job (under mpirun) and check it against the exact sum");
  run->add_option("--plan", flags->plan_path, "Plan file (loom collective gen writes them)");
  run->add_option("--topology", flags->topology_path, "Topology file with exactly as many ranks as the job");
  run->add_option("--algorithm", flags->algorithm, "Generator for --topology (ring, gentree, ...)");
  run->add_option("--bytes", flags->bytes, "Buffer size for a generated plan: 1048576, 64K, 16M (default 1 MiB; a plan file has its own)");
  run->add_option("--dtype", flags->dtype, "f32 or i32")->capture_default_str();
  run->add_option("--iterations", flags->iterations, "Timed runs (median)")->capture_default_str();
  run->callback([flags] { run_collective_run(*flags); });
}

}  // namespace loom::cli
