// Entry of loom_mpi_tests, run by ctest under mpirun -np 2, 3 and 4. Every rank runs every test
// (the tests are collective); rank 0 prints GoogleTest's report, the other ranks print only
// their failures, prefixed with their rank, and a failure on any rank fails every rank's exit.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <exception>

#include "comm/world.h"

namespace {

class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_, result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!loom::comm::launched_by_mpi()) {
    std::fprintf(stderr, "loom_mpi_tests: run me under mpirun (e.g. mpirun -np 2 %s)\n", argv[0]);
    return 2;
  }
  int rank = 0;
  try {
    rank = loom::comm::world_communicator()->rank();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loom_mpi_tests: %s\n", e.what());
    return 1;
  }
  ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (rank != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(rank));
  }
  const int failed_here = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int failed_anywhere = failed_here;
  MPI_Allreduce(MPI_IN_PLACE, &failed_anywhere, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && failed_anywhere && !failed_here) {
    std::fprintf(stderr, "loom_mpi_tests: tests failed on other ranks (the [rank N] lines above)\n");
  }
  return failed_anywhere;
}
