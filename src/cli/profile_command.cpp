// loom profile: measures this machine's communication parameters (alpha, beta, gamma and the
// copy cost per group size, comm/link_measurement.h) and writes them as the "comm" section of
// the profile file, which `algorithm = auto` reads through LOOM_COMM_PROFILE. Under mpirun it
// measures the real transport; alone it measures only the local parts and says so.
// Then, unless --skip-compute, one rank's compute for a model and sequence length
// (planner/compute_measurement.h) as the "compute" section the planner reads. Under mpirun every
// rank measures at once, so the times include the contention of that many ranks on the machine;
// rank 0 writes the mean of the ranks' medians.
#include <fmt/format.h>

#include <omp.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "comm/collectives.h"
#include "comm/comm_profile.h"
#include "comm/link_measurement.h"
#include "comm/world.h"
#include "core/error.h"
#include "parallel/tensor_parallel.h"
#include "planner/compute_measurement.h"
#include "planner/compute_profile_io.h"
#include "planner/model_spec.h"

namespace loom::cli {

namespace {

struct ProfileFlags {
  std::string out = "profile.json";
  int repeats = 20;
  bool verbose = false;
  std::string model = "tiny";
  int64_t seq = 0;  // 0: the model's seq_len
  int max_tp = 4;
  int max_micro_batch = 8;
  bool skip_compute = false;
  int threads = 0;
};

constexpr int kLargestFlagValue = 4096;

std::string today() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d", std::localtime(&now));
  return text;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown host";
  return name;
}

// Ranks outside the measured group wait here for a token from rank 0 (a member), polling once a
// millisecond: on a machine with fewer cores than ranks a busy wait would steal the members' time.
void wait_quietly_for_group(comm::Communicator& world, bool member) {
  world.begin_operation("profile: wait for the measured group");
  char token = 1;
  if (world.rank() == 0) {
    std::vector<comm::Pending> sends;
    for (int r = 1; r < world.size(); ++r) sends.push_back(world.isend(r, &token, 1));
    world.wait_all(sends);
    return;
  }
  comm::Pending receive = world.irecv(0, &token, 1);
  if (member) {
    world.wait(receive);
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + world.timeout();
  while (!receive.request->test()) {
    if (std::chrono::steady_clock::now() > deadline)
      world.fail(fmt::format("{} on group '{}' (rank {}): timed out waiting for rank 0", world.operation(),
                             world.name(), world.rank()),
                 {0});
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  receive.request.reset();
}

// Measures groups of 2..members.size() ranks made of the first g entries of `members` (world
// ranks); returns the entries on world rank 0 (which is in every group).
std::vector<comm::GroupParameters> measure_groups(comm::Communicator& world, const std::vector<int>& members,
                                                  const ProfileFlags& flags, const std::string& label) {
  std::vector<comm::GroupParameters> entries;
  for (size_t g = 2; g <= members.size(); ++g) {
    int position = -1;
    for (size_t i = 0; i < g; ++i)
      if (members[i] == world.rank()) position = static_cast<int>(i);
    auto group = world.split(position >= 0 ? 0 : -1, position, fmt::format("profile/{}{}", label, g));
    if (group != nullptr) {
      std::vector<comm::TimedSample> samples;
      const comm::GroupParameters entry =
          comm::measure_group(*group, comm::default_exchange_sizes(), flags.repeats, {}, size_t{32} << 20, &samples);
      if (world.rank() == 0) {
        entries.push_back(entry);
        if (flags.verbose) {
          for (const comm::TimedSample& sample : samples)
            fmt::print("    exchange {:>9.0f} bytes: {:>10.2f} us measured, {:>10.2f} us fitted\n", sample.bytes,
                       sample.seconds * 1e6, (entry.link.alpha_s + sample.bytes * entry.link.beta_s_per_byte) * 1e6);
        }
        fmt::print("  {:<10} {:>5} {:>10.2f} {:>12.2f} {:>12.2f} {:>12.2f}\n", label, entry.ranks,
                   entry.link.alpha_s * 1e6, 1e-9 / entry.link.beta_s_per_byte, 1e-9 / entry.link.gamma_s_per_byte,
                   1e-9 / entry.copy_s_per_byte);
        std::fflush(stdout);
      }
    }
    wait_quietly_for_group(world, group != nullptr);
  }
  return entries;
}

// The model and sequence length whose compute is measured, checked before anything runs.
struct ComputeTarget {
  nn::ModelConfig model;
  int64_t seq = 0;
};

ComputeTarget compute_target(const ProfileFlags& flags, bool seq_given) {
  if (flags.max_tp < 1 || flags.max_tp > kLargestFlagValue)
    throw_user_error("--max-tp {} must be from 1 to {} (the largest TP degree to measure)", flags.max_tp,
                     kLargestFlagValue);
  if (flags.max_micro_batch < 1 || flags.max_micro_batch > kLargestFlagValue)
    throw_user_error("--max-micro-batch {} must be from 1 to {} (sequences per micro-batch)", flags.max_micro_batch,
                     kLargestFlagValue);
  ComputeTarget target;
  if (flags.skip_compute) {
    if (seq_given && flags.seq < 1) throw_user_error("--seq {} must be >= 1 (tokens per sequence)", flags.seq);
    return target;
  }
  target.model = planner::load_model_spec(flags.model).to_model_config();
  target.seq = seq_given ? flags.seq : target.model.seq_len;
  if (target.seq < 1 || target.seq > target.model.seq_len)
    throw_user_error("--seq {} must be from 1 to the model's seq_len={} (tokens per sequence)", target.seq,
                     target.model.seq_len);
  return target;
}

std::string mebibytes(int64_t bytes) {
  return fmt::format("{:.3f}", double(bytes) / double(1 << 20));
}

void print_point(const std::string& piece, const planner::ComputeMeasurement& m) {
  const bool block = piece == "block";
  fmt::print("  {:<10} {:>3} {:>3} {:>7.0f} {:>11.3f} {:>11.3f} {:>10} {:>10} {:>10}\n", piece, m.tp,
             block ? (m.sequence_parallel ? "yes" : "no") : "-", m.samples, m.cost.forward_s * 1e3,
             m.cost.backward_s * 1e3, mebibytes(m.cost.kept_bytes),
             block ? mebibytes(m.cost.recompute_kept_bytes) : "-", mebibytes(m.cost.transient_bytes));
  std::fflush(stdout);
}

// Every rank's medians replaced by their mean over the world (the bytes are the same everywhere).
void average_times_over_ranks(comm::Communicator& world, planner::MeasuredCompute& compute) {
  std::vector<planner::ComputeMeasurement*> points;
  for (auto* list : {&compute.block, &compute.embedding, &compute.head})
    for (planner::ComputeMeasurement& m : *list) points.push_back(&m);
  std::vector<double> times;
  for (const planner::ComputeMeasurement* m : points) {
    times.push_back(m->cost.forward_s);
    times.push_back(m->cost.backward_s);
  }
  times.push_back(compute.optimizer_s_per_parameter);
  comm::all_reduce(world, times.data(), times.size(), DType::f64);
  const double ranks = world.size();
  for (size_t i = 0; i < points.size(); ++i) {
    points[i]->cost.forward_s = times[2 * i] / ranks;
    points[i]->cost.backward_s = times[2 * i + 1] / ranks;
  }
  compute.optimizer_s_per_parameter = times.back() / ranks;
}

// The extra time of an all-reduce of `bytes` issued right after each rank computed for a few
// milliseconds, over the same all-reduce back to back: what the runtime's blocking collectives
// between compute phases pay because the ranks arrive apart. Median of the ranks' means.
double measure_collective_overhead(comm::Communicator& world, size_t bytes, int repeats) {
  std::vector<float> data(bytes / sizeof(float), 1.0f);
  std::vector<float> work(size_t{1} << 20, 1.0f);
  auto busy = [&work] {  // about as long as a block's forward here: a few passes over 4 MiB
    for (int pass = 0; pass < 24; ++pass)
      for (float& x : work) x = x * 0.999f + 0.001f;
  };
  auto timed_all_reduce = [&] {
    const auto start = std::chrono::steady_clock::now();
    comm::all_reduce(world, data.data(), data.size(), DType::f32);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  world.barrier();
  timed_all_reduce();
  std::vector<double> alone, after;
  for (int i = 0; i < repeats; ++i) {
    world.barrier();
    alone.push_back(timed_all_reduce());
  }
  for (int i = 0; i < repeats; ++i) {
    world.barrier();
    busy();
    after.push_back(timed_all_reduce());
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double overhead = std::max(0.0, median(after) - median(alone));
  comm::all_reduce(world, &overhead, 1, DType::f64);
  return overhead / double(world.size());
}

// Measures the compute section on every rank at once; the result is meaningful on rank 0.
planner::MeasuredCompute measure_compute_section(comm::Communicator& world, const ComputeTarget& target,
                                                 const ProfileFlags& flags, const std::string& where) {
  const bool leader = world.rank() == 0;
  const int ranks = world.size();
  const nn::ModelConfig& model = target.model;
  planner::ComputeMeasurementOptions options;
  options.max_tp = flags.max_tp;
  options.max_samples = flags.max_micro_batch;
  if (ranks > 1) options.before_point = [&world] { world.barrier(); };  // ranks measure each point together
  // TP degrees that fit in the job are timed with real TP groups of consecutive ranks: the block
  // times then include the collectives as the runtime runs them between compute phases.
  std::map<int, std::shared_ptr<comm::Communicator>> tp_groups;
  std::map<std::pair<int, bool>, std::unique_ptr<parallel::TensorParallelComm>> tp_comms;
  int tp_measured = 1;
  for (int tp : planner::block_tp_degrees(model, flags.max_tp)) {
    if (tp == 1 || tp > ranks || ranks % tp != 0) continue;
    tp_groups[tp] = world.split(world.rank() / tp, world.rank() % tp, fmt::format("profile/tp{}", tp));
    for (bool sp : {false, true})
      tp_comms[{tp, sp}] = std::make_unique<parallel::TensorParallelComm>(*tp_groups[tp], sp);
    tp_measured = tp;
  }
  if (tp_measured > 1) {
    options.block_comm = [&tp_comms](int tp, bool sp) -> const nn::BlockComm* {
      const auto it = tp_comms.find({tp, sp});
      return it == tp_comms.end() ? nullptr : it->second.get();
    };
  }
  if (leader) options.on_point = print_point;
  const int threads = omp_get_max_threads();
  if (leader) {
    fmt::print(
        "loom profile: compute of model {} ({}, hidden {}, {} heads, {} kv heads, ffn {}, vocab {}) at seq {}, {} "
        "thread{} per rank, {} rank{} at once{}\n",
        model.name, nn::family_name(model.family), model.hidden, model.heads, model.kv_heads, model.ffn_hidden,
        model.vocab_size, target.seq, threads, threads == 1 ? "" : "s", ranks, ranks == 1 ? "" : "s",
        ranks > 1 ? " (rank 0's times below; the file holds the mean over ranks)" : "");
    fmt::print("  {:<10} {:>3} {:>3} {:>7} {:>11} {:>11} {:>10} {:>10} {:>10}\n", "piece", "tp", "sp", "samples",
               "forward_ms", "backward_ms", "kept_MiB", "recomp_MiB", "trans_MiB");
  }
  world.barrier();
  const auto start = std::chrono::steady_clock::now();
  planner::MeasuredCompute compute = planner::measure_compute(model, target.seq, options);
  compute.tp_collectives_measured_up_to = tp_measured;
  if (ranks > 1) average_times_over_ranks(world, compute);
  const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  compute.concurrent_ranks = ranks;
  if (ranks > 1) {
    // An activation of a few micro-batch samples, as TP and resharding move them.
    const size_t bytes = size_t(4 * target.seq * model.hidden) * sizeof(float);
    compute.collective_overhead_s = measure_collective_overhead(world, bytes, 20);
    if (leader)
      fmt::print("  collective after compute: {:.3f} ms above the same all-reduce back to back ({} bytes)\n",
                 compute.collective_overhead_s * 1e3, bytes);
  }
  compute.source = fmt::format("{}, model {} at seq {}, {} rank{} at once, {} thread{} each", where, model.name,
                               target.seq, ranks, ranks == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
  if (leader)
    fmt::print("  optimizer  {:.3f} ns per parameter (clipping and AdamW); compute measured in {:.1f} s\n",
               compute.optimizer_s_per_parameter * 1e9, elapsed_s);
  return compute;
}

void run_profile(const ProfileFlags& flags, bool seq_given) {
  if (flags.repeats < 1) throw_user_error("--repeats {} must be >= 1", flags.repeats);
  if (flags.out.empty()) throw_user_error("--out must name a file");
  apply_thread_count(flags.threads);
  const ComputeTarget target = compute_target(flags, seq_given);
  std::shared_ptr<comm::Communicator> world = comm::world_communicator();
  const int p = world->size();
  // Ranks by node, in rank order.
  std::map<int, std::vector<int>> ranks_of_node;
  for (int r = 0; r < p; ++r) ranks_of_node[world->transport().node_of(r)].push_back(r);
  const bool leader = world->rank() == 0;

  comm::CommProfile profile;
  const std::string where = fmt::format("loom profile on {}, {}", host_name(), today());
  if (leader) {
    fmt::print("loom profile: {} transport, {} rank{} on {} node{}\n", world->transport().kind(), p, p == 1 ? "" : "s",
               ranks_of_node.size(), ranks_of_node.size() == 1 ? "" : "s");
    fmt::print("  {:<10} {:>5} {:>10} {:>12} {:>12} {:>12}\n", "link", "ranks", "alpha_us", "1/beta GB/s",
               "1/gamma GB/s", "copy GB/s");
  }
  if (p == 1) {
    // Alone: no link to measure. The local parts are real; the link parameters stay built in.
    const comm::CommProfile& builtin = comm::builtin_comm_profile();
    comm::GroupParameters local =
        comm::measure_group(*world, comm::default_exchange_sizes(), flags.repeats, builtin.intra(2).link);
    local.ranks = 1;
    fmt::print("  {:<10} {:>5} {:>10} {:>12} {:>12.2f} {:>12.2f}\n", "local", 1, "-", "-",
               1e-9 / local.link.gamma_s_per_byte, 1e-9 / local.copy_s_per_byte);
    profile.intra_node.push_back(local);
    for (const comm::GroupParameters& entry : builtin.intra_node)
      if (entry.ranks > 1) profile.intra_node.push_back(entry);
    profile.source = where + ", single process: the ranks=1 entry's gamma and copy are measured, alpha, beta " +
                     "and the entries for 2+ ranks are the built-in ones (" + builtin.source + ")";
    fmt::print(
        "loom profile: single process: measured the local reduce and copy only; run it as "
        "`mpirun -np N loom profile` to measure the transport\n");
  } else {
    // Intra-node: groups of the first g ranks of rank 0's node. Inter-node: the first rank of g
    // nodes, rank 0 first. Rank 0 is in every group and collects the entries.
    const std::vector<int>& home = ranks_of_node.at(world->transport().node_of(0));
    profile.intra_node = measure_groups(*world, home, flags, "intra_node");
    if (ranks_of_node.size() > 1) {
      std::vector<int> leaders;
      for (const auto& [node, ranks] : ranks_of_node) leaders.push_back(ranks.front());
      std::sort(leaders.begin(), leaders.end());
      profile.inter_node = measure_groups(*world, leaders, flags, "inter_node");
    }
    profile.source = fmt::format("{}, {} transport, {} ranks on {} node(s), {} repeats", where,
                                 world->transport().kind(), p, ranks_of_node.size(), flags.repeats);
    if (leader && profile.intra_node.empty()) {
      // One rank per node: nothing shares a node; the inter-node entries stand in.
      profile.intra_node = profile.inter_node;
    }
  }
  planner::MeasuredCompute compute;
  if (!flags.skip_compute) compute = measure_compute_section(*world, target, flags, where);
  if (leader) {
    planner::write_profile(flags.out, profile, flags.skip_compute ? nullptr : &compute);
    fmt::print("loom profile: wrote {} ({}; use it with LOOM_COMM_PROFILE={})\n", flags.out,
               flags.skip_compute ? "comm section" : "comm and compute sections", flags.out);
  }
  world->barrier();
}

}  // namespace

void add_profile_command(CLI::App& app) {
  auto flags = std::make_shared<ProfileFlags>();
  CLI::App* profile =
      app.add_subcommand("profile", "Measure this machine's communication parameters and a model's compute");
  profile->add_option("--out", flags->out, "Profile file to write (atomically)")->capture_default_str();
  profile->add_option("--repeats", flags->repeats, "Timed repetitions per communication measurement")
      ->capture_default_str();
  profile->add_flag("--verbose", flags->verbose, "Print every exchange timing beside the fitted line");
  profile
      ->add_option("--model", flags->model,
                   "Model whose compute to measure: a preset, a Loom model JSON or a "
                   "Hugging Face config.json")
      ->capture_default_str();
  CLI::Option* seq = profile->add_option("--seq", flags->seq, "Tokens per sequence (default: the model's seq_len)");
  profile->add_option("--max-tp", flags->max_tp, "Largest tensor-parallel degree to measure")->capture_default_str();
  profile->add_option("--max-micro-batch", flags->max_micro_batch, "Largest micro-batch (sequences) to measure")
      ->capture_default_str();
  profile->add_flag("--skip-compute", flags->skip_compute, "Measure communication only");
  profile->add_option("--threads", flags->threads, "OpenMP threads per rank (0: the default)")->capture_default_str();
  profile->callback([flags, seq] { run_profile(*flags, seq->count() > 0); });
}

}  // namespace loom::cli
