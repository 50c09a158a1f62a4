// Command dispatch and the error boundary of the executable.
#include "cli/commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>

#include "comm/types.h"
#include "comm/world.h"
#include "core/error.h"

namespace loom::cli {

int apply_thread_count(int threads) {
  if (threads < 0) throw_user_error("--threads {} must be >= 0 (0: use all cores)", threads);
  if (threads > 0) omp_set_num_threads(threads);
  return omp_get_max_threads();
}

int run_main(int argc, char** argv) {
  CLI::App app{"Loom: distributed deep-learning training", "loom"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "loom 0.1.0");
  add_train_command(app);
  add_sample_command(app);
  add_bench_command(app);
  add_profile_command(app);
  add_collective_command(app);
  add_plan_command(app);
  add_simulate_command(app);
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
  if (argc > 1 && argv[1][0] != '-' && std::find(names.begin(), names.end(), argv[1]) == names.end()) {
    fmt::print(stderr, "loom: error: unknown command '{}' (valid: {})\n", argv[1], fmt::join(names, ", "));
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string text = e.what();
    for (char& c : text)
      if (c == '\n') c = ' ';
    fmt::print(stderr, "loom: error: {} (see loom --help)\n", text);
    return 2;
  } catch (const UserError& e) {
    // In an MPI job every rank meets the same bad input: rank 0 says it once.
    if (!comm::launched_by_mpi() || comm::world_rank() == 0) fmt::print(stderr, "loom: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    // In an MPI job a failure may hit one rank only, and the others would wait for it until
    // their deadlines: end the whole job now (the transport prints the message with the rank).
    if (comm::launched_by_mpi()) {
      std::shared_ptr<comm::Communicator> world;
      try {
        world = comm::world_communicator();
      } catch (const std::exception&) {
      }
      if (world && world->size() > 1)
        world->transport().abort_job(comm::CommError(fmt::format("failed: {}", e.what()), {}));
    }
    fmt::print(stderr, "loom: failed: {}\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace loom::cli
