// The loom commands (train, sample, bench, ...). run_main parses argv and dispatches.
#pragma once

namespace loom::cli {

int run_main(int argc, char** argv);

}  // namespace loom::cli
