// Communicator: a group of ranks over a transport, with everything collectives need on top of
// moving bytes: deadlines on every wait (LOOM_COMM_TIMEOUT_S, default 300 s) with errors that
// name the operation, the group and the missing ranks; per-collective tags; sub-groups by
// split(color, key); and the node layout (intra- and inter-node sub-groups) for hierarchical
// and shared-memory algorithms.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "comm/transport.h"

namespace loom::comm {

// One outstanding send or receive and the peer it involves (for error messages).
struct Pending {
  std::unique_ptr<Request> request;
  int peer = -1;
  bool is_send = false;
};

class Communicator {
 public:
  Communicator(std::shared_ptr<Transport> transport, std::string name);

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& name() const { return name_; }
  Transport& transport() { return *transport_; }

  // Collective: ranks with the same color form a sub-group ordered by (key, rank). A negative
  // color returns nullptr.
  std::shared_ptr<Communicator> split(int color, int key, const std::string& name);

  // The current operation, for error messages and tags. Every rank must begin the same
  // collectives in the same order; each gets a fresh tag range so messages never mix.
  // Returns the base tag of the operation.
  int begin_operation(const std::string& description);
  const std::string& operation() const { return operation_; }

  // Point-to-point; `tag` is an offset within the current operation's tag range (< kTagsPerOperation).
  Pending isend(int peer, const void* data, size_t bytes, int tag = 0);
  Pending irecv(int peer, void* data, size_t bytes, int tag = 0);
  // Waits for all, until the deadline; on timeout throws CommError naming the peers whose
  // operations did not complete.
  void wait_all(std::vector<Pending>& pending);
  void wait(Pending& pending);
  void send(int peer, const void* data, size_t bytes, int tag = 0);
  void recv(int peer, void* data, size_t bytes, int tag = 0);
  // Sends to one peer and receives from another concurrently.
  void send_recv(int send_peer, const void* send_data, size_t send_bytes, int recv_peer, void* recv_data,
                 size_t recv_bytes, int tag = 0);
  void barrier();

  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  // Node layout: ranks on the same node share memory.
  int node_count() const { return node_count_; }
  bool single_node() const { return node_count_ == 1; }
  // Sub-groups built on first use (collectively: every rank must ask in the same order).
  Communicator& intra_node();  // the ranks of my node
  Communicator& inter_node();  // one rank per node with my local rank (a valid group for every local rank)
  int local_rank();
  int local_size();

  // Collective on the first call: this group's staging segment for shared-memory algorithms, with
  // `bytes_per_rank` in every rank's slice (later calls must ask the same size). nullptr where the
  // transport cannot share memory across the whole group.
  SharedSegment* staging_segment(size_t bytes_per_rank);

  // Raises a fatal error: on MPI every rank reports and the job aborts; on threads it throws.
  [[noreturn]] void fail(const std::string& message, std::vector<int> missing_ranks);

  static constexpr int kTagsPerOperation = 1024;

 private:
  std::shared_ptr<Transport> transport_;
  std::string name_;
  int rank_;
  int size_;
  int node_count_;
  std::string operation_ = "idle";
  int64_t operation_sequence_ = 0;
  int tag_base_ = 0;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<Communicator> intra_node_, inter_node_;
  bool staging_allocated_ = false;
  std::shared_ptr<SharedSegment> staging_segment_;
};

// Progress threads wait politely: a collective queued during the backward pass often waits for a
// peer that is still computing, and spinning would take the core from this rank's own compute.
// Waits on a thread marked background sleep after a few spins instead of after milliseconds.
void set_background_thread(bool background);
bool background_thread();

// LOOM_COMM_TIMEOUT_S (seconds, may be fractional), default 300.
std::chrono::milliseconds default_timeout();

}  // namespace loom::comm
