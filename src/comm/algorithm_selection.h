// Which all-reduce algorithm `automatic` runs: the cheapest by the cost model for this group
// (size, node layout, transport) and message size.
#pragma once

#include <cstddef>

#include "comm/communicator.h"

namespace loom::comm {

AllReduceAlgorithm choose_all_reduce_algorithm(Communicator& comm, size_t bytes);

}  // namespace loom::comm
