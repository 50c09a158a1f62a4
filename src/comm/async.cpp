// The progress threads of asynchronous collectives: one FIFO queue and one thread per
// communicator, kept in a registry keyed by the communicator, joined by shutdown_async or at exit.
#include "comm/async.h"

#include <fmt/format.h>

#include <deque>
#include <map>
#include <thread>

#include "core/error.h"

namespace loom::comm {

void Work::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  finished_.wait(lock, [this] { return completed_; });
  if (error_ != nullptr) std::rethrow_exception(error_);
}

bool Work::is_completed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return completed_;
}

void Work::finish(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    LOOM_CHECK(!completed_, "work '{}' finished twice", description_);
    completed_ = true;
    error_ = std::move(error);
  }
  finished_.notify_all();
}

namespace {

// One communicator's queue and the thread that drains it.
class ProgressQueue {
 public:
  explicit ProgressQueue(std::string group) : group_(std::move(group)) {}
  ~ProgressQueue() { stop(); }

  void push(std::shared_ptr<Work> work, std::function<void()> collective) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      LOOM_CHECK(!stopping_, "collective '{}' queued on group '{}' after shutdown_async", work->description(), group_);
      queue_.push_back({std::move(work), std::move(collective)});
      if (!thread_.joinable()) thread_ = std::thread([this] { drain(); });
    }
    changed_.notify_all();
  }

  // Finishes the queued work, then joins the thread.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Item {
    std::shared_ptr<Work> work;
    std::function<void()> collective;
  };

  void drain() {
    set_background_thread(true);
    for (;;) {
      Item item;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and nothing left
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      if (first_error_.empty()) {
        try {
          item.collective();
          item.work->finish(nullptr);
        } catch (const std::exception& e) {
          first_error_ = fmt::format("{}: {}", item.work->description(), e.what());
          item.work->finish(std::current_exception());
        } catch (...) {
          first_error_ = item.work->description() + ": unknown error";
          item.work->finish(std::current_exception());
        }
      } else {
        // The ranks may now disagree on which messages belong to which collective.
        item.work->finish(
            std::make_exception_ptr(CommError(fmt::format("{} on group '{}' not run: an earlier collective failed ({})",
                                                          item.work->description(), group_, first_error_),
                                              {})));
      }
    }
  }

  std::string group_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::string first_error_;  // touched by the progress thread only
  std::thread thread_;
};

// The queues by communicator. Destroyed at exit, which joins any thread still running.
struct Registry {
  std::mutex mutex;
  std::map<const Communicator*, std::unique_ptr<ProgressQueue>> queues;
};

Registry& registry() {
  static Registry instance;
  return instance;
}

ProgressQueue& queue_of(Communicator& comm) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::unique_ptr<ProgressQueue>& queue = r.queues[&comm];
  if (queue == nullptr) queue = std::make_unique<ProgressQueue>(comm.name());
  return *queue;
}

}  // namespace

std::shared_ptr<Work> enqueue_collective(Communicator& comm, std::string description,
                                         std::function<void()> collective) {
  auto work = std::make_shared<Work>(std::move(description));
  queue_of(comm).push(work, std::move(collective));
  return work;
}

std::shared_ptr<Work> all_reduce_async(Communicator& comm, void* data, size_t count, DType dtype,
                                       const CollectiveOptions& options) {
  return enqueue_collective(comm, fmt::format("all_reduce_async(count={})", count),
                            [&comm, data, count, dtype, options] { all_reduce(comm, data, count, dtype, options); });
}

std::shared_ptr<Work> reduce_scatter_async(Communicator& comm, const void* send, void* recv, size_t recv_count,
                                           DType dtype, const CollectiveOptions& options) {
  return enqueue_collective(comm, fmt::format("reduce_scatter_async(recv_count={})", recv_count),
                            [&comm, send, recv, recv_count, dtype, options] {
                              reduce_scatter(comm, send, recv, recv_count, dtype, options);
                            });
}

std::shared_ptr<Work> all_gather_async(Communicator& comm, const void* send, void* recv, size_t send_count, DType dtype,
                                       const CollectiveOptions& options) {
  return enqueue_collective(
      comm, fmt::format("all_gather_async(send_count={})", send_count),
      [&comm, send, recv, send_count, dtype, options] { all_gather(comm, send, recv, send_count, dtype, options); });
}

std::shared_ptr<Work> broadcast_async(Communicator& comm, void* data, size_t count, DType dtype, int root,
                                      const CollectiveOptions& options) {
  return enqueue_collective(
      comm, fmt::format("broadcast_async(count={}, root={})", count, root),
      [&comm, data, count, dtype, root, options] { broadcast(comm, data, count, dtype, root, options); });
}

void shutdown_async(Communicator& comm) {
  std::unique_ptr<ProgressQueue> queue;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.queues.find(&comm);
    if (it == r.queues.end()) return;
    queue = std::move(it->second);
    r.queues.erase(it);
  }
  queue->stop();
}

}  // namespace loom::comm
