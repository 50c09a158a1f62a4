// The process world: the communicator of every rank of this job. Started by mpirun (or srun),
// Loom initialises MPI once with MPI_THREAD_MULTIPLE (a progress thread calls MPI while the main
// thread may too) and finalizes it at exit; started alone, the world is one rank over the thread
// transport and needs no MPI daemon.
#pragma once

#include <memory>

#include "comm/communicator.h"

namespace loom::comm {

// True when an MPI launcher started this process (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE).
bool launched_by_mpi();

// This process's rank in the job: from the launcher's environment before MPI is initialised.
int world_rank();

// The world communicator (named "world"), built on the first call; every rank must make that
// first call (it is collective under MPI). LOOM_COMM_RANKS_PER_NODE=k pretends that consecutive
// groups of k ranks are separate nodes (tests of the hierarchical algorithms on one machine).
std::shared_ptr<Communicator> world_communicator();

}  // namespace loom::comm
