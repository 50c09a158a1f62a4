// loom_mpi_failure: a job in which one rank misbehaves, for tests/mpi/failure_test.sh.
//   loom_mpi_failure skip ALGORITHM   the last rank skips an all-reduce; the others must time out
//                                     (LOOM_COMM_TIMEOUT_S), name the operation, the group and the
//                                     missing rank, and end the job instead of hanging.
//   loom_mpi_failure mismatch         the last rank passes another count; under LOOM_COMM_CHECK=1
//                                     the check names the differing rank.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "comm/collectives.h"
#include "comm/world.h"

int main(int argc, char** argv) {
  using namespace loom::comm;
  using loom::DType;
  if (argc < 2 || (std::strcmp(argv[1], "skip") != 0 && std::strcmp(argv[1], "mismatch") != 0)) {
    std::fprintf(stderr, "usage: loom_mpi_failure skip ALGORITHM | mismatch\n");
    return 2;
  }
  try {
    auto world = world_communicator();
    const bool skip = std::strcmp(argv[1], "skip") == 0;
    CollectiveOptions options;
    options.algorithm = algorithm_from_name(skip && argc > 2 ? argv[2] : "ring");
    const int odd_one = world->size() - 1;
    std::vector<float> data(size_t{1} << 16, 1.0f);
    // Warm up: one good collective, so that failures are not mistaken for start-up.
    all_reduce(*world, data.data(), data.size(), DType::f32, options);
    const size_t count = !skip && world->rank() == odd_one ? data.size() - 1 : data.size();
    if (!skip || world->rank() != odd_one) {
      all_reduce(*world, data.data(), count, DType::f32, options);
      std::fprintf(stderr, "loom_mpi_failure: rank %d: the collective completed, it should have failed\n",
                   world->rank());
      return 0;
    }
    // The skipping rank idles; the job's end (MPI_Abort from a peer) takes it down.
    std::this_thread::sleep_for(std::chrono::seconds(120));
    std::fprintf(stderr, "loom_mpi_failure: rank %d: nobody ended the job\n", world->rank());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom_mpi_failure: %s\n", e.what());
    return 1;
  }
}
