// loom profile: measures this machine's communication parameters (alpha, beta, gamma and the
// copy cost per group size, comm/link_measurement.h) and writes them as the "comm" section of
// the profile file, which `algorithm = auto` reads through LOOM_COMM_PROFILE. Under mpirun it
// measures the real transport; alone it measures only the local parts and says so.
#include <fmt/format.h>

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "comm/comm_profile.h"
#include "comm/link_measurement.h"
#include "comm/world.h"
#include "core/error.h"

namespace loom::cli {

namespace {

struct ProfileFlags {
  std::string out = "profile.json";
  int repeats = 20;
  bool verbose = false;
};

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

void run_profile(const ProfileFlags& flags) {
  if (flags.repeats < 1) throw_user_error("--repeats {} must be >= 1", flags.repeats);
  if (flags.out.empty()) throw_user_error("--out must name a file");
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
  if (leader) {
    comm::write_comm_profile(profile, flags.out);
    fmt::print("loom profile: wrote {} (use it with LOOM_COMM_PROFILE={})\n", flags.out, flags.out);
  }
  world->barrier();
}

}  // namespace

void add_profile_command(CLI::App& app) {
  auto flags = std::make_shared<ProfileFlags>();
  CLI::App* profile = app.add_subcommand("profile", "Measure this machine's communication parameters");
  profile->add_option("--out", flags->out, "Profile file to write (atomically)")->capture_default_str();
  profile->add_option("--repeats", flags->repeats, "Timed repetitions per measurement")->capture_default_str();
  profile->add_flag("--verbose", flags->verbose, "Print every exchange timing beside the fitted line");
  profile->callback([flags] { run_profile(*flags); });
}

}  // namespace loom::cli
