// The MPI transport: what users run. Point-to-point is MPI_Isend/MPI_Irecv/MPI_Test on a
// communicator of its own (duplicated, with MPI_ERRORS_RETURN, so errors come back as values and
// every call is checked by LOOM_MPI_CALL); split is MPI_Comm_split; shared segments are MPI-3
// shared windows (MPI_Win_allocate_shared). The node layout comes from
// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), gathered once per communicator.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>
#include <vector>

#include "comm/transport.h"

namespace loom::comm {

// Throws CommError "MPI_Xxx failed: <MPI's error string>" when `code` is not MPI_SUCCESS.
void check_mpi(int code, const char* call);
#define LOOM_MPI_CALL(call) ::loom::comm::check_mpi((call), #call)

class MpiTransport : public Transport {
 public:
  // Takes ownership of `comm`. Collective over it: gathers every rank's node and host ids.
  // `my_node` is the node this rank reports (the real host unless LOOM_COMM_RANKS_PER_NODE
  // overrides the layout for tests); `my_host` identifies the memory this rank really shares.
  MpiTransport(MPI_Comm comm, int my_node, int my_host);
  ~MpiTransport() override;

  // A transport over a duplicate of MPI_COMM_WORLD (collective; MPI must be initialised).
  static std::unique_ptr<MpiTransport> world();

  MPI_Comm comm() const { return comm_; }

  std::string kind() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::unique_ptr<Request> isend(int peer, int tag, const void* data, size_t bytes) override;
  std::unique_ptr<Request> irecv(int peer, int tag, void* data, size_t bytes) override;
  std::unique_ptr<Transport> split(int color, int key) override;
  int node_of(int rank) const override { return node_ids_.at(static_cast<size_t>(rank)); }
  // MPI_Allreduce in place. bf16 travels as fp32 (converted here and back); avg is a sum followed
  // by a division by the group size (integers truncate toward zero).
  bool native_all_reduce(void* data, size_t count, DType dtype, ReduceOp op) override;
  std::shared_ptr<SharedSegment> allocate_shared(size_t bytes_per_rank) override;
  // Prints "loom: rank R: <message>" (R the world rank) to stderr and calls MPI_Abort.
  [[noreturn]] void abort_job(const CommError& error) override;

 private:
  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 0;
  int my_node_;
  int my_host_;
  std::vector<int> node_ids_;
  std::vector<int> host_ids_;
};

}  // namespace loom::comm
