// Which all-reduce algorithm `automatic` runs: the cheapest by the cost model (cost_model.h) for
// this group (size, node layout, transport) and message size, with the active profile
// (LOOM_COMM_PROFILE, else the built-in parameters).
#pragma once

#include <cstddef>

#include "comm/communicator.h"
#include "comm/cost_model.h"

namespace loom::comm {

// The group's shape, from the transport's node layout (local: no messages).
GroupShape group_shape(Communicator& comm);
// What the communicator's transport can run besides point-to-point messages.
TransportAbilities transport_abilities(Communicator& comm);

// Every rank of the group gets the same answer (it depends only on the shape, the transport
// kind, the size and the profile).
AllReduceAlgorithm choose_all_reduce_algorithm(Communicator& comm, size_t bytes);

}  // namespace loom::comm
