// The loom executable: parses the command line and runs one command; every error becomes one
// line on stderr and a non-zero exit.
#include "cli/commands.h"

int main(int argc, char** argv) {
  return loom::cli::run_main(argc, argv);
}
