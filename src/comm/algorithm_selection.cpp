// Algorithm selection (placeholder rule until the cost model lands: recursive doubling for small
// messages, ring for large).
#include "comm/algorithm_selection.h"

namespace loom::comm {

AllReduceAlgorithm choose_all_reduce_algorithm(Communicator& comm, size_t bytes) {
  (void)comm;
  return bytes <= (size_t{64} << 10) ? AllReduceAlgorithm::recursive_doubling : AllReduceAlgorithm::ring;
}

}  // namespace loom::comm
