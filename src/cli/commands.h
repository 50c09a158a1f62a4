// The loom commands. run_main parses argv, dispatches to one command and turns every error into
// one line on stderr with a non-zero exit (2 for bad input, 1 for anything else).
#pragma once

namespace CLI {
class App;
}

namespace loom::cli {

int run_main(int argc, char** argv);

// Each command registers its subcommand and flags; the callback runs it.
void add_train_command(CLI::App& app);
void add_sample_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_profile_command(CLI::App& app);
void add_collective_command(CLI::App& app);
// The verbs of `loom collective`, each in its own file, registered by add_collective_command.
void add_collective_topo_command(CLI::App& collective);   // collective_topo_command.cpp
void add_collective_plan_commands(CLI::App& collective);  // gen, sim, compare: collective_plan_commands.cpp
void add_collective_run_command(CLI::App& collective);    // collective_run_command.cpp
void add_collective_fit_command(CLI::App& collective);    // collective_fit_command.cpp
void add_plan_command(CLI::App& app);
void add_simulate_command(CLI::App& app);

// Applies --threads (0 keeps the OpenMP default) and returns the thread count in effect.
int apply_thread_count(int threads);

}  // namespace loom::cli
