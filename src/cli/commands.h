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
void add_plan_command(CLI::App& app);
void add_simulate_command(CLI::App& app);

// Applies --threads (0 keeps the OpenMP default) and returns the thread count in effect.
int apply_thread_count(int threads);

}  // namespace loom::cli
