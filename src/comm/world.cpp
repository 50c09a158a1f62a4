// The process world: MPI's lifetime (initialised once, finalized at exit) and the communicator.
#include "comm/world.h"

#include <mpi.h>

#include <cstdlib>
#include <mutex>

#include "comm/mpi_transport.h"
#include "comm/thread_transport.h"

namespace loom::comm {
namespace {

const char* thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE:
      return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
      return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
      return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE:
      return "MPI_THREAD_MULTIPLE";
    default:
      return "an unknown thread level";
  }
}

// Owns MPI's lifetime and the world communicator. Destroyed at exit: the communicator (and the
// windows and communicators it holds) goes first, then MPI is finalized if Loom initialised it.
struct WorldState {
  std::mutex mutex;
  bool initialised_mpi = false;
  std::shared_ptr<Communicator> world;

  ~WorldState() {
    world.reset();
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (initialised_mpi && !finalized) MPI_Finalize();
  }
};

WorldState& world_state() {
  static WorldState state;
  return state;
}

int environment_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  return text != nullptr ? std::atoi(text) : fallback;
}

}  // namespace

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_SIZE") != nullptr;
}

int world_rank() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (initialised && !finalized) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
  }
  return environment_int("OMPI_COMM_WORLD_RANK", environment_int("PMIX_RANK", environment_int("PMI_RANK", 0)));
}

std::shared_ptr<Communicator> world_communicator() {
  WorldState& state = world_state();
  std::lock_guard<std::mutex> lock(state.mutex);
  if (state.world != nullptr) return state.world;
  if (!launched_by_mpi()) {
    ThreadWorld single(1);
    state.world = std::make_shared<Communicator>(single.transport(0), "world");
    return state.world;
  }
  int initialised = 0;
  LOOM_MPI_CALL(MPI_Initialized(&initialised));
  if (!initialised) {
    int provided = MPI_THREAD_SINGLE;
    LOOM_MPI_CALL(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided));
    state.initialised_mpi = true;
    if (provided < MPI_THREAD_MULTIPLE) {
      throw CommError(fmt::format("MPI provides only {}; Loom's progress thread needs MPI_THREAD_MULTIPLE (use an "
                                  "MPI library built with thread support)",
                                  thread_level_name(provided)),
                      {});
    }
  } else {
    int provided = MPI_THREAD_SINGLE;
    LOOM_MPI_CALL(MPI_Query_thread(&provided));
    if (provided < MPI_THREAD_MULTIPLE) {
      throw CommError(fmt::format("MPI was initialised with {}; Loom needs MPI_THREAD_MULTIPLE (initialise it with "
                                  "MPI_Init_thread, or let Loom do it)",
                                  thread_level_name(provided)),
                      {});
    }
  }
  state.world = std::make_shared<Communicator>(std::shared_ptr<Transport>(MpiTransport::world()), "world");
  return state.world;
}

}  // namespace loom::comm
