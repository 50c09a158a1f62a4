// Asynchronous collectives: each call queues the collective and returns a Work handle at once; one
// progress thread per communicator runs the queue in FIFO order, so compute (the rest of the
// backward pass) runs meanwhile. Messages match because every rank queues the same collectives
// in the same order, as with the blocking calls.
//
// Rules: buffers must stay alive and untouched until the Work completes; while work is queued on
// a communicator, run no blocking collective on it from another thread (queue it instead, with
// enqueue_collective). After a collective fails, nothing queued behind it can be trusted (NCCL's
// rule): every later Work on that communicator fails too, naming the first error.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "comm/collectives.h"

namespace loom::comm {

// The handle of one queued collective.
class Work {
 public:
  explicit Work(std::string description) : description_(std::move(description)) {}

  // Blocks until the collective has run; rethrows its error (CommError for a timeout or a lost
  // peer). The collective's own deadline bounds the wait.
  void wait();
  // True once the collective has finished, successfully or not; never blocks.
  bool is_completed() const;
  const std::string& description() const { return description_; }

  // Called by the progress thread when the collective ends (error null on success).
  void finish(std::exception_ptr error);

 private:
  std::string description_;
  mutable std::mutex mutex_;
  std::condition_variable finished_;
  bool completed_ = false;
  std::exception_ptr error_;
};

// Queues `collective` (which runs collectives on `comm`) on the communicator's progress thread,
// starting the thread on first use. Every rank must queue the same collectives in the same order.
std::shared_ptr<Work> enqueue_collective(Communicator& comm, std::string description, std::function<void()> collective);

std::shared_ptr<Work> all_reduce_async(Communicator& comm, void* data, size_t count, DType dtype,
                                       const CollectiveOptions& options = {});
std::shared_ptr<Work> reduce_scatter_async(Communicator& comm, const void* send, void* recv, size_t recv_count,
                                           DType dtype, const CollectiveOptions& options = {});
std::shared_ptr<Work> all_gather_async(Communicator& comm, const void* send, void* recv, size_t send_count, DType dtype,
                                       const CollectiveOptions& options = {});
std::shared_ptr<Work> broadcast_async(Communicator& comm, void* data, size_t count, DType dtype, int root,
                                      const CollectiveOptions& options = {});

// Waits until the communicator's queue is empty, then stops and joins its progress thread. Call
// it before the communicator is destroyed when asynchronous collectives were used on it.
void shutdown_async(Communicator& comm);

}  // namespace loom::comm
