// The in-process transport: ranks are threads of one process sharing memory, messages are
// copied through mailboxes. It exists to test every algorithm quickly over many rank counts
// (Gloo tests its algorithms the same way); ThreadWorld::run starts the ranks.
#pragma once

#include <functional>
#include <memory>

#include "comm/communicator.h"

namespace loom::comm {

struct ThreadWorldState;

class ThreadWorld {
 public:
  // `ranks_per_node` > 0 lays the ranks out on nodes of that many consecutive ranks (the last
  // node may be smaller), so hierarchical algorithms can be tested; 0 puts all on one node.
  explicit ThreadWorld(int size, int ranks_per_node = 0);
  ~ThreadWorld();

  int size() const { return size_; }
  std::shared_ptr<Transport> transport(int rank);

  // Runs fn on `size` threads, one communicator each (named "world"); rethrows the first
  // exception a rank raised after all threads have finished.
  static void run(int size, const std::function<void(Communicator&)>& fn, int ranks_per_node = 0);

 private:
  int size_;
  std::shared_ptr<ThreadWorldState> state_;
};

}  // namespace loom::comm
