// Communicator: deadlines, tags, sub-groups and node layout over a transport.
#include "comm/communicator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <set>
#include <thread>

namespace loom::comm {

std::chrono::milliseconds default_timeout() {
  if (const char* text = std::getenv("LOOM_COMM_TIMEOUT_S")) {
    char* end = nullptr;
    const double seconds = std::strtod(text, &end);
    if (end == text || *end != '\0' || !(seconds > 0)) {
      throw_user_error("LOOM_COMM_TIMEOUT_S='{}' must be a positive number of seconds", text);
    }
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
  }
  return std::chrono::seconds(300);
}

Communicator::Communicator(std::shared_ptr<Transport> transport, std::string name)
    : transport_(std::move(transport)), name_(std::move(name)), timeout_(default_timeout()) {
  LOOM_CHECK(transport_ != nullptr, "communicator '{}' without a transport", name_);
  rank_ = transport_->rank();
  size_ = transport_->size();
  std::set<int> nodes;
  for (int r = 0; r < size_; ++r) nodes.insert(transport_->node_of(r));
  node_count_ = static_cast<int>(nodes.size());
}

std::shared_ptr<Communicator> Communicator::split(int color, int key, const std::string& name) {
  begin_operation(fmt::format("split(color={}, key={})", color, key));
  std::unique_ptr<Transport> sub = transport_->split(color, key);
  if (sub == nullptr) return nullptr;
  auto result = std::make_shared<Communicator>(std::shared_ptr<Transport>(std::move(sub)), name);
  result->set_timeout(timeout_);
  return result;
}

int Communicator::begin_operation(const std::string& description) {
  operation_ = description;
  // Tags cycle through a window; MPI guarantees at least 32767 tags.
  tag_base_ = static_cast<int>((operation_sequence_ % 31) * kTagsPerOperation);
  ++operation_sequence_;
  return tag_base_;
}

Pending Communicator::isend(int peer, const void* data, size_t bytes, int tag) {
  LOOM_CHECK(peer >= 0 && peer < size_, "send to rank {} of a group of {}", peer, size_);
  LOOM_CHECK(tag >= 0 && tag < kTagsPerOperation, "tag {} out of range", tag);
  return Pending{transport_->isend(peer, tag_base_ + tag, data, bytes), peer, true};
}

Pending Communicator::irecv(int peer, void* data, size_t bytes, int tag) {
  LOOM_CHECK(peer >= 0 && peer < size_, "receive from rank {} of a group of {}", peer, size_);
  LOOM_CHECK(tag >= 0 && tag < kTagsPerOperation, "tag {} out of range", tag);
  return Pending{transport_->irecv(peer, tag_base_ + tag, data, bytes), peer, false};
}

void Communicator::wait_all(std::vector<Pending>& pending) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto deadline = start + timeout_;
  size_t remaining = 0;
  for (auto& p : pending) remaining += p.request != nullptr ? 1 : 0;
  int idle_rounds = 0;
  while (remaining > 0) {
    bool progressed = false;
    for (auto& p : pending) {
      if (p.request != nullptr && p.request->test()) {
        p.request.reset();
        --remaining;
        progressed = true;
      }
    }
    if (remaining == 0) break;
    if (progressed) {
      idle_rounds = 0;
      continue;
    }
    ++idle_rounds;
    // Spin briefly (messages on one node arrive within microseconds), then back off.
    if (idle_rounds > 64) {
      if ((idle_rounds & 255) == 0 && clock::now() > deadline) {
        std::vector<int> missing;
        for (auto& p : pending)
          if (p.request != nullptr) missing.push_back(p.peer);
        std::sort(missing.begin(), missing.end());
        missing.erase(std::unique(missing.begin(), missing.end()), missing.end());
        const double waited_s = std::chrono::duration<double>(clock::now() - start).count();
        fail(fmt::format("{} on group '{}' (rank {} of {}): timed out after {:.1f} s waiting for rank{} {}", operation_,
                         name_, rank_, size_, waited_s, missing.size() == 1 ? "" : "s", fmt::join(missing, ", ")),
             missing);
      }
      if (idle_rounds > (background_thread() ? 128 : 4096)) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      } else {
        std::this_thread::yield();
      }
    }
  }
}

namespace {
thread_local bool background_waits = false;
}  // namespace

void set_background_thread(bool background) {
  background_waits = background;
}
bool background_thread() {
  return background_waits;
}

void Communicator::wait(Pending& pending) {
  std::vector<Pending> one;
  one.push_back(std::move(pending));
  wait_all(one);
}

void Communicator::send(int peer, const void* data, size_t bytes, int tag) {
  Pending p = isend(peer, data, bytes, tag);
  wait(p);
}

void Communicator::recv(int peer, void* data, size_t bytes, int tag) {
  Pending p = irecv(peer, data, bytes, tag);
  wait(p);
}

void Communicator::send_recv(int send_peer, const void* send_data, size_t send_bytes, int recv_peer, void* recv_data,
                             size_t recv_bytes, int tag) {
  std::vector<Pending> pending;
  pending.push_back(irecv(recv_peer, recv_data, recv_bytes, tag));
  pending.push_back(isend(send_peer, send_data, send_bytes, tag));
  wait_all(pending);
}

void Communicator::barrier() {
  begin_operation("barrier");
  // Dissemination barrier: ceil(lg p) rounds of zero-byte messages.
  char token = 0;
  char sink = 0;
  for (int distance = 1, round = 0; distance < size_; distance *= 2, ++round) {
    send_recv((rank_ + distance) % size_, &token, 1, (rank_ - distance + size_) % size_, &sink, 1, round);
  }
}

Communicator& Communicator::intra_node() {
  if (intra_node_ == nullptr) {
    const std::string saved = operation_;
    intra_node_ = split(transport_->node_of(rank_), rank_, name_ + "/node");
    operation_ = saved;
  }
  return *intra_node_;
}

int Communicator::local_rank() {
  return intra_node().rank();
}
int Communicator::local_size() {
  return intra_node().size();
}

Communicator& Communicator::inter_node() {
  if (inter_node_ == nullptr) {
    const int local = local_rank();
    const std::string saved = operation_;
    inter_node_ = split(local, transport_->node_of(rank_), name_ + "/nodes");
    operation_ = saved;
  }
  return *inter_node_;
}

SharedSegment* Communicator::staging_segment(size_t bytes_per_rank) {
  if (!staging_allocated_) {
    staging_segment_ = transport_->allocate_shared(bytes_per_rank);
    staging_allocated_ = true;
  }
  LOOM_CHECK(staging_segment_ == nullptr || staging_segment_->bytes_per_rank() == bytes_per_rank,
             "staging segment of group '{}' has {} bytes per rank, asked for {}", name_,
             staging_segment_->bytes_per_rank(), bytes_per_rank);
  return staging_segment_.get();
}

void Communicator::fail(const std::string& message, std::vector<int> missing_ranks) {
  transport_->abort_job(CommError(message, std::move(missing_ranks)));
  std::terminate();  // abort_job never returns
}

}  // namespace loom::comm
