// Transport: the small interface every communicator stands on. Two implementations: MPI (the
// one users run) and in-process threads (ranks as threads sharing memory, for fast tests of
// every algorithm). A transport moves bytes between ranks of one group; the communicator adds
// deadlines, tags, sub-groups and the node layout.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "comm/shared_segment.h"
#include "comm/types.h"

namespace loom::comm {

// An outstanding send or receive. test() makes progress and reports completion; a request is
// complete at most once and must be tested (or cancelled by destruction) before its buffer dies.
class Request {
 public:
  virtual ~Request() = default;
  virtual bool test() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual std::string kind() const = 0;  // "mpi", "threads", "self"
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Messages between one pair of ranks with the same tag arrive in the order they were sent.
  virtual std::unique_ptr<Request> isend(int peer, int tag, const void* data, size_t bytes) = 0;
  virtual std::unique_ptr<Request> irecv(int peer, int tag, void* data, size_t bytes) = 0;

  // Collective over this transport: ranks with the same color form a new transport, ordered by
  // (key, rank). A negative color returns nullptr (the rank joins no group).
  virtual std::unique_ptr<Transport> split(int color, int key) = 0;

  // Which node (host) each rank of this transport lives on: ranks with equal ids share memory.
  virtual int node_of(int rank) const = 0;

  // The library's own all-reduce (MPI_Allreduce), in place; false where there is none.
  virtual bool native_all_reduce(void* data, size_t count, DType dtype, ReduceOp op) {
    (void)data, (void)count, (void)dtype, (void)op;
    return false;
  }

  // Collective over this transport: a shared-memory segment with `bytes_per_rank` bytes of data
  // in every rank's slice. nullptr where the transport has none or the ranks do not share memory.
  // Every rank must release the segment (on MPI, freeing the window is collective).
  virtual std::shared_ptr<SharedSegment> allocate_shared(size_t bytes_per_rank) {
    (void)bytes_per_rank;
    return nullptr;
  }

  // Ends the whole job after a fatal communication error: MPI prints the message and calls
  // MPI_Abort; the thread transport throws the error, so that tests can observe it.
  [[noreturn]] virtual void abort_job(const CommError& error) = 0;
};

}  // namespace loom::comm
