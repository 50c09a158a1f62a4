// loom collective bench: every all-reduce algorithm and `auto` beside Open MPI's MPI_Allreduce
// (`mpi`) over message sizes, under mpirun, and any generated plans (--plan-algorithm, run by the
// plan interpreter as "plan:NAME"). Prints a table of time and ratio to mpi, the
// memory-traffic bound at the largest size against the copy bandwidth measured with all ranks
// copying at once, then one JSON object per line (DESIGN.md). The other `collective` verbs
// (topo, gen, sim, compare, run, fit) live in their own files and register here.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/collective_bench_report.h"
#include "cli/commands.h"
#include "comm/algorithm_selection.h"
#include "comm/collectives.h"
#include "comm/group_topology.h"
#include "comm/link_measurement.h"
#include "comm/shared_buffer.h"
#include "comm/world.h"
#include "core/error.h"

namespace loom::cli {

namespace {

struct CollectiveBenchFlags {
  int64_t min_bytes = int64_t{4} << 10;
  int64_t max_bytes = int64_t{64} << 20;
  int factor = 4;
  int iterations = 20;
  int warmup = 3;
  bool shared_buffers = false;
  bool json = false;
  std::vector<std::string> algorithms;
  std::vector<std::string> plan_algorithms;  // topo::generate_plan names
};

using Clock = std::chrono::steady_clock;
constexpr double kMinimumTimedSeconds = 0.05;
constexpr int kMaximumRuns = 1000;

// The buffer an algorithm runs on: private memory, or my part of a shared buffer of the group
// (what the runtime's gradient buckets will live in).
class BenchBuffer {
 public:
  BenchBuffer(comm::Communicator& comm, size_t max_bytes, bool shared) {
    if (shared) {
      shared_ = comm::allocate_shared_buffer(comm, max_bytes);
      data_ = static_cast<float*>(shared_->data());
    } else {
      owned_.resize(max_bytes / sizeof(float) + 1);
      data_ = owned_.data();
    }
  }
  float* data() { return data_; }

 private:
  std::shared_ptr<comm::SharedBuffer> shared_;
  std::vector<float> owned_;
  float* data_ = nullptr;
};

// What one column runs: a built-in algorithm, or the plan a generator writes for the group's
// topology (comm/group_topology.h), generated once per size and run by the plan interpreter.
struct BenchEntry {
  comm::AllReduceAlgorithm algorithm = comm::AllReduceAlgorithm::ring;
  std::string plan;  // generator name; empty: `algorithm`

  std::string name() const { return plan.empty() ? comm::algorithm_name(algorithm) : "plan:" + plan; }
};

// One all-reduce of `count` floats, in place.
void run_once(comm::Communicator& comm, float* data, size_t count, const BenchEntry& entry) {
  if (!entry.plan.empty()) {
    comm::all_reduce_with_generated_plan(comm, data, count, DType::f32, comm::ReduceOp::sum, entry.plan);
    return;
  }
  comm::CollectiveOptions options;
  options.algorithm = entry.algorithm;
  comm::all_reduce(comm, data, count, DType::f32, options);
}

// Checks one all-reduce (every rank contributes rank + 1) on every rank; all ranks fail together.
void check_result(comm::Communicator& comm, float* data, size_t count, const BenchEntry& algorithm) {
  std::fill(data, data + count, float(comm.rank() + 1));
  run_once(comm, data, count, algorithm);
  const float expected = float(comm.size()) * float(comm.size() + 1) / 2.0f;
  size_t wrong = count;
  for (size_t i = 0; i < count && wrong == count; ++i)
    if (data[i] != expected) wrong = i;
  if (comm::max_over_ranks(comm, wrong == count ? 0.0 : 1.0) > 0.0) {
    throw Error(fmt::format(
        "all-reduce '{}' of {} bytes gave a wrong result{}", algorithm.name(), count * sizeof(float),
        wrong == count
            ? std::string()
            : fmt::format(" on rank {} (element {}: {} instead of {})", comm.rank(), wrong, data[wrong], expected)));
  }
}

// The slowest rank's time of one run, in microseconds, every rank starting together.
double timed_run_us(comm::Communicator& comm, float* data, size_t count, const BenchEntry& algorithm) {
  comm.barrier();
  const auto start = Clock::now();
  run_once(comm, data, count, algorithm);
  return comm::max_over_ranks(comm, std::chrono::duration<double, std::micro>(Clock::now() - start).count());
}

// Median time of one algorithm at one size, in the steady state (as nccl-tests and the OSU
// benchmarks time): the result checked, --warmup untimed runs, then at least --iterations timed
// runs, more for short ones (as many as fit in kMinimumTimedSeconds, up to kMaximumRuns).
// Interleaving the algorithms run by run was tried and rejected: each run then pays for the
// caches the previous algorithm left, which favours whichever algorithm follows itself.
double time_algorithm_us(comm::Communicator& comm, float* data, size_t count, const BenchEntry& algorithm,
                         const CollectiveBenchFlags& flags) {
  check_result(comm, data, count, algorithm);
  std::fill(data, data + count, 0.0f);  // sums of zeros stay finite however often they repeat
  for (int i = 0; i < flags.warmup; ++i) run_once(comm, data, count, algorithm);
  const double probe_us = timed_run_us(comm, data, count, algorithm);
  const int runs =
      std::max(flags.iterations, int(std::min(double(kMaximumRuns), kMinimumTimedSeconds * 1e6 / probe_us)));
  std::vector<double> times_us;
  for (int i = 0; i < runs; ++i) times_us.push_back(timed_run_us(comm, data, count, algorithm));
  std::sort(times_us.begin(), times_us.end());
  return times_us[times_us.size() / 2];
}

std::vector<BenchEntry> algorithms_to_run(comm::Communicator& comm, const CollectiveBenchFlags& flags) {
  std::vector<comm::AllReduceAlgorithm> chosen;
  if (flags.algorithms.empty()) {
    chosen = comm::all_reduce_algorithms();
    chosen.push_back(comm::AllReduceAlgorithm::automatic);
  } else {
    for (const std::string& name : flags.algorithms) chosen.push_back(comm::algorithm_from_name(name));
  }
  // mpi first: every other row is reported against it.
  std::stable_partition(chosen.begin(), chosen.end(),
                        [](comm::AllReduceAlgorithm a) { return a == comm::AllReduceAlgorithm::mpi; });
  const comm::TransportAbilities abilities = comm::transport_abilities(comm);
  std::vector<BenchEntry> runnable;
  for (comm::AllReduceAlgorithm algorithm : chosen) {
    if (algorithm == comm::AllReduceAlgorithm::mpi && !abilities.native_all_reduce) continue;
    if (algorithm == comm::AllReduceAlgorithm::shared_memory && !abilities.shared_segments) continue;
    runnable.push_back({algorithm, ""});
  }
  for (const std::string& plan : flags.plan_algorithms) runnable.push_back({comm::AllReduceAlgorithm::ring, plan});
  return runnable;
}

void run_collective_bench(const CollectiveBenchFlags& flags) {
  if (flags.min_bytes < 4 || flags.max_bytes < flags.min_bytes)
    throw_user_error("--min-bytes {} / --max-bytes {} must satisfy 4 <= min <= max", flags.min_bytes, flags.max_bytes);
  if (flags.factor != 2 && flags.factor != 4) throw_user_error("--factor {} must be 2 or 4", flags.factor);
  if (flags.iterations < 1) throw_user_error("--iterations {} must be >= 1", flags.iterations);
  if (flags.warmup < 0) throw_user_error("--warmup {} must be >= 0", flags.warmup);
  std::shared_ptr<comm::Communicator> world = comm::world_communicator();
  comm::Communicator& comm = *world;
  const std::vector<BenchEntry> algorithms = algorithms_to_run(comm, flags);

  BenchReport report;
  report.ranks = comm.size();
  report.nodes = comm.node_count();
  report.transport = comm.transport().kind();
  report.iterations = flags.iterations;
  report.warmup = flags.warmup;
  report.shared_buffers = flags.shared_buffers;
  report.shape = comm::group_shape(comm);
  report.profile = &comm::active_comm_profile();

  BenchBuffer buffer(comm, size_t(flags.max_bytes), flags.shared_buffers);
  for (int64_t bytes = flags.min_bytes; bytes <= flags.max_bytes; bytes *= flags.factor) {
    const size_t count = size_t(bytes) / sizeof(float);
    for (const BenchEntry& algorithm : algorithms) {
      BenchRow row;
      row.algorithm = algorithm.algorithm;
      row.plan = algorithm.plan;
      row.bytes = count * sizeof(float);
      if (algorithm.plan.empty() && algorithm.algorithm == comm::AllReduceAlgorithm::automatic)
        row.chosen = comm::choose_all_reduce_algorithm(comm, row.bytes);
      row.time_us = time_algorithm_us(comm, buffer.data(), count, algorithm, flags);
      report.rows.push_back(row);
    }
  }
  // Copy bandwidth with every rank copying at once (bytes copied per second per rank), for the
  // memory-traffic bound: the best of three trials on fresh buffers, since one trial here can
  // land at half the usual rate (the bound should be what memory allows).
  double copy_s_per_byte = comm::measure_copy_s_per_byte(comm, size_t(flags.max_bytes), 5);
  for (int trial = 1; trial < 3; ++trial)
    copy_s_per_byte = std::min(copy_s_per_byte, comm::measure_copy_s_per_byte(comm, size_t(flags.max_bytes), 5));
  report.copy_bytes_per_s = 1.0 / copy_s_per_byte;
  if (comm.rank() == 0) print_bench_report(report);
  comm.barrier();
}

}  // namespace

void add_collective_command(CLI::App& app) {
  auto flags = std::make_shared<CollectiveBenchFlags>();
  CLI::App* collective =
      app.add_subcommand("collective", "Collective algorithms: topologies, AllReduce plans, simulation, benchmarks");
  collective->require_subcommand(1);
  add_collective_topo_command(*collective);
  add_collective_plan_commands(*collective);
  add_collective_run_command(*collective);
  add_collective_fit_command(*collective);
  CLI::App* bench = collective->add_subcommand(
      "bench", "Time every all-reduce algorithm beside MPI_Allreduce (run under mpirun -np N)");
  bench->add_option("--min-bytes", flags->min_bytes, "Smallest message")->capture_default_str();
  bench->add_option("--max-bytes", flags->max_bytes, "Largest message")->capture_default_str();
  bench->add_option("--factor", flags->factor, "Size step: 2 or 4")->capture_default_str();
  bench
      ->add_option("--iterations", flags->iterations,
                   "Timed runs per algorithm and size, at least (median; short sizes run as many as fit in 50 ms)")
      ->capture_default_str();
  bench->add_option("--warmup", flags->warmup, "Untimed runs per size")->capture_default_str();
  bench->add_option("--algorithm", flags->algorithms, "Algorithms to run (repeatable; default: all and auto)");
  bench->add_option("--plan-algorithm", flags->plan_algorithms,
                    "Also run the plan this generator writes for the group's topology, through the plan interpreter "
                    "(repeatable; rows 'plan:NAME'; names as in `loom collective gen`)");
  bench->add_flag("--shared-buffers", flags->shared_buffers,
                  "Allocate the buffer in the shared-memory segment (skips the copy in)");
  bench->add_flag("--json", flags->json, "JSON lines after the table (they are always printed)");
  bench->callback([flags] { run_collective_bench(*flags); });
}

}  // namespace loom::cli
