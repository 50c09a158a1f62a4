// Command dispatch (placeholder until the commands land).
#include "cli/commands.h"

#include <cstdio>

namespace loom::cli {

int run_main(int argc, char** argv) {
  std::fprintf(stderr, "loom: no commands yet\n");
  return 1;
}

}  // namespace loom::cli
