// Mailboxes between threads: a send copies the bytes into the receiver's mailbox and completes
// at once; a receive completes when a matching message is there. Shared segments are plain heap
// memory that every thread of the group sees.
#include "comm/thread_transport.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

namespace loom::comm {

// The slices of one shared segment, freed when the last rank's segment lets go of them.
struct ThreadSharedMemory {
  std::vector<char*> bases;
  size_t bytes_per_rank = 0;
  ~ThreadSharedMemory() {
    for (char* base : bases) std::free(base);
  }
};

struct ThreadWorldState {
  int size = 0;
  int ranks_per_node = 0;
  std::mutex mutex;
  std::condition_variable changed;
  // (context, source world rank, destination world rank, tag) -> messages in send order.
  std::map<std::tuple<int, int, int, int>, std::deque<std::vector<char>>> mailboxes;
  // Split rendezvous: (context, split sequence) -> (world rank -> (color, key)).
  std::map<std::pair<int, int64_t>, std::map<int, std::pair<int, int>>> splits;
  int next_context = 1;
  std::map<std::tuple<int, int64_t, int>, int> split_contexts;  // (parent, sequence, color) -> context
  // Shared-segment rendezvous: (context, allocation sequence) -> the memory and the ranks that took it.
  std::map<std::pair<int, int64_t>, std::pair<std::shared_ptr<ThreadSharedMemory>, int>> shared_allocations;

  int node_of_world_rank(int world_rank) const { return ranks_per_node > 0 ? world_rank / ranks_per_node : 0; }
};

namespace {

class ThreadRequest : public Request {
 public:
  ThreadRequest(std::shared_ptr<ThreadWorldState> state, std::tuple<int, int, int, int> key, void* data, size_t bytes)
      : state_(std::move(state)), key_(key), data_(data), bytes_(bytes) {}
  bool test() override {
    if (done_) return true;
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto it = state_->mailboxes.find(key_);
    if (it == state_->mailboxes.end() || it->second.empty()) return false;
    std::vector<char>& message = it->second.front();
    LOOM_CHECK(message.size() == bytes_, "message of {} bytes for a receive of {} bytes (tag {})", message.size(),
               bytes_, std::get<3>(key_));
    if (bytes_ > 0) std::memcpy(data_, message.data(), bytes_);
    it->second.pop_front();
    if (it->second.empty()) state_->mailboxes.erase(it);
    done_ = true;
    return true;
  }

 private:
  std::shared_ptr<ThreadWorldState> state_;
  std::tuple<int, int, int, int> key_;
  void* data_;
  size_t bytes_;
  bool done_ = false;
};

class CompletedRequest : public Request {
 public:
  bool test() override { return true; }
};

class ThreadSharedSegment : public SharedSegment {
 public:
  ThreadSharedSegment(const Transport* group, int rank, std::shared_ptr<ThreadSharedMemory> memory)
      : SharedSegment(group, rank, memory->bases, memory->bytes_per_rank), memory_(std::move(memory)) {}

 private:
  std::shared_ptr<ThreadSharedMemory> memory_;
};

class ThreadTransport : public Transport {
 public:
  ThreadTransport(std::shared_ptr<ThreadWorldState> state, int context, std::vector<int> members, int rank)
      : state_(std::move(state)), context_(context), members_(std::move(members)), rank_(rank) {}

  std::string kind() const override { return "threads"; }
  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(members_.size()); }
  int node_of(int rank) const override { return state_->node_of_world_rank(members_.at(static_cast<size_t>(rank))); }

  std::unique_ptr<Request> isend(int peer, int tag, const void* data, size_t bytes) override {
    std::vector<char> message(bytes);
    if (bytes > 0) std::memcpy(message.data(), data, bytes);
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->mailboxes[{context_, members_[static_cast<size_t>(rank_)], members_[static_cast<size_t>(peer)], tag}]
          .push_back(std::move(message));
    }
    return std::make_unique<CompletedRequest>();
  }

  std::unique_ptr<Request> irecv(int peer, int tag, void* data, size_t bytes) override {
    return std::make_unique<ThreadRequest>(
        state_,
        std::make_tuple(context_, members_[static_cast<size_t>(peer)], members_[static_cast<size_t>(rank_)], tag), data,
        bytes);
  }

  std::unique_ptr<Transport> split(int color, int key) override {
    const int64_t sequence = split_sequence_++;
    const int me = members_[static_cast<size_t>(rank_)];
    std::unique_lock<std::mutex> lock(state_->mutex);
    auto& table = state_->splits[{context_, sequence}];
    table[me] = {color, key};
    state_->changed.notify_all();
    const bool complete = state_->changed.wait_for(lock, std::chrono::seconds(60), [&] {
      return static_cast<int>(state_->splits[{context_, sequence}].size()) == size();
    });
    if (!complete) {
      throw CommError(fmt::format("split on a thread group of {}: only {} ranks arrived within 60 s", size(),
                                  state_->splits[{context_, sequence}].size()),
                      {});
    }
    if (color < 0) return nullptr;
    // Members of my color ordered by (key, parent rank).
    std::vector<std::tuple<int, int, int>> chosen;  // key, parent rank, world rank
    for (int r = 0; r < size(); ++r) {
      const int world = members_[static_cast<size_t>(r)];
      const auto [c, k] = state_->splits[{context_, sequence}].at(world);
      if (c == color) chosen.emplace_back(k, r, world);
    }
    std::sort(chosen.begin(), chosen.end());
    std::vector<int> members;
    int my_rank = -1;
    for (const auto& [k, r, world] : chosen) {
      if (world == me) my_rank = static_cast<int>(members.size());
      members.push_back(world);
    }
    auto [it, inserted] = state_->split_contexts.try_emplace({context_, sequence, color}, 0);
    if (inserted) it->second = state_->next_context++;
    return std::make_unique<ThreadTransport>(state_, it->second, std::move(members), my_rank);
  }

  // The first rank to arrive allocates every slice (zeroed); the others take the same memory.
  std::shared_ptr<SharedSegment> allocate_shared(size_t bytes_per_rank) override {
    const int64_t sequence = shared_sequence_++;
    std::shared_ptr<ThreadSharedMemory> memory;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      auto& [shared, taken] = state_->shared_allocations[{context_, sequence}];
      if (shared == nullptr) {
        shared = std::make_shared<ThreadSharedMemory>();
        shared->bytes_per_rank = bytes_per_rank;
        const size_t slice = SharedSegment::slice_bytes(bytes_per_rank);
        for (int r = 0; r < size(); ++r) {
          char* base = static_cast<char*>(std::aligned_alloc(SharedSegment::kAlignment, slice));
          LOOM_CHECK(base != nullptr, "out of memory allocating a {}-byte shared slice", slice);
          std::memset(base, 0, slice);
          shared->bases.push_back(base);
        }
      }
      LOOM_CHECK(shared->bytes_per_rank == bytes_per_rank,
                 "shared segment #{}: rank {} asked for {} bytes per rank, another rank for {}", sequence, rank_,
                 bytes_per_rank, shared->bytes_per_rank);
      memory = shared;
      if (++taken == size()) state_->shared_allocations.erase({context_, sequence});
    }
    return std::make_shared<ThreadSharedSegment>(this, rank_, std::move(memory));
  }

  [[noreturn]] void abort_job(const CommError& error) override { throw error; }

 private:
  std::shared_ptr<ThreadWorldState> state_;
  int context_;
  std::vector<int> members_;  // world ranks of this group, by group rank
  int rank_;
  int64_t split_sequence_ = 0;
  int64_t shared_sequence_ = 0;
};

}  // namespace

ThreadWorld::ThreadWorld(int size, int ranks_per_node) : size_(size), state_(std::make_shared<ThreadWorldState>()) {
  LOOM_CHECK(size >= 1, "thread world of {} ranks", size);
  state_->size = size;
  state_->ranks_per_node = ranks_per_node;
}

ThreadWorld::~ThreadWorld() = default;

std::shared_ptr<Transport> ThreadWorld::transport(int rank) {
  std::vector<int> members(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) members[static_cast<size_t>(r)] = r;
  return std::make_shared<ThreadTransport>(state_, 0, std::move(members), rank);
}

void ThreadWorld::run(int size, const std::function<void(Communicator&)>& fn, int ranks_per_node) {
  ThreadWorld world(size, ranks_per_node);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(size));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(size));
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      try {
        Communicator communicator(world.transport(r), "world");
        fn(communicator);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (auto& error : errors)
    if (error) std::rethrow_exception(error);
}

}  // namespace loom::comm
