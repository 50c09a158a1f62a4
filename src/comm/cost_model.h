// The alpha-beta-gamma cost model of the collectives (REFERENCE.md section 5): the one place
// that says how long a collective takes, used by `algorithm = auto` (algorithm_selection.h) and
// by the planner. Pure functions of the group shape, the message size and measured parameters;
// no MPI, no communicator.
//
// Conventions: `bytes` (n) is the size of the whole vector a collective works on (the all-reduce
// buffer; the full input of a reduce-scatter; the full output of an all-gather; the whole send
// buffer of one rank in an all-to-all). Times are in seconds.
#pragma once

#include <cstddef>
#include <string>

#include "comm/comm_profile.h"
#include "comm/types.h"

namespace loom::comm {

// How a group of p ranks lies on nodes: p_n nodes of at most p_l ranks each.
struct GroupShape {
  int ranks = 1;
  int ranks_per_node = 1;  // p_l: the largest number of ranks of the group on one node
  int nodes = 1;           // p_n
  bool single_node() const { return nodes == 1; }
};

// What the transport can run besides point-to-point messages.
struct TransportAbilities {
  bool native_all_reduce = false;  // MPI_Allreduce (the `mpi` algorithm)
  bool shared_segments = false;    // MPI-3 shared-memory windows (the `shared_memory` algorithm)
};

// --- All-reduce, one formula per algorithm, p ranks over one link class -----------------------

// 2(p-1) alpha + 2 n (p-1)/p beta + n (p-1)/p gamma
double ring_all_reduce_s(int p, double n, const LinkParameters& link);
// lg p alpha + n lg p (beta + gamma), p a power of two; otherwise the r = p - 2^floor(lg p) extra
// ranks first send their vector to a partner (alpha + n beta + n gamma) and get the result back
// at the end (alpha + n beta).
double recursive_doubling_all_reduce_s(int p, double n, const LinkParameters& link);
// 2 lg p alpha + 2 n (p-1)/p beta + n (p-1)/p gamma, p a power of two; the same fold as above
// for the extra ranks otherwise.
double rabenseifner_all_reduce_s(int p, double n, const LinkParameters& link);
// Binomial reduce + broadcast: 2 ceil(lg p) alpha + 2 n ceil(lg p) beta + n ceil(lg p) gamma
double tree_all_reduce_s(int p, double n, const LinkParameters& link);
// Two levels: intra-node ring reduce-scatter of n, the cheapest flat all-reduce of n / p_l among
// the p_n nodes (inter-node link), intra-node ring all-gather of n.
double hierarchical_all_reduce_s(int ranks_per_node, int nodes, double n, const LinkParameters& intra,
                                 const LinkParameters& inter);
// One node, through a shared segment (allreduce_shared_memory.cpp), copies at copy_s_per_byte
// with every rank copying at once. Staged: each rank copies in the (p-1)/p of the vector that
// the others reduce, reduces its own 1/p from all p inputs, copies the others' results back:
//   2 alpha + 2 n (p-1)/p copy + n (p-1)/p gamma.
// Small messages take one step (every rank copies in all and reduces all): alpha + n copy + n (p-1) gamma.
// Buffers already in the segment need no copy in: 2 alpha + n (p-1)/p copy + n (p-1)/p gamma.
double shared_memory_all_reduce_s(int p, double n, const LinkParameters& link, double copy_s_per_byte,
                                  bool buffers_in_segment);

// The algorithm Open MPI 4.1's `tuned` component runs for MPI_Allreduce on one node (its fixed
// decision for commutative operations: recursive doubling below 10000 bytes, ring above;
// segmented ring, whose cost the ring formula gives, when n > p * 1 MiB).
AllReduceAlgorithm open_mpi_tuned_all_reduce(int p, double n);

// --- The other collectives (each the cheaper of the variants comm/collectives.cpp runs) --------

// Ring or pairwise exchange (the same cost): (p-1) alpha + n (p-1)/p (beta + gamma)
double ring_reduce_scatter_s(int p, double n, const LinkParameters& link);
// Ring: (p-1) alpha + n (p-1)/p beta
double ring_all_gather_s(int p, double n, const LinkParameters& link);
// Recursive doubling, p a power of two: lg p alpha + n (p-1)/p beta
double recursive_doubling_all_gather_s(int p, double n, const LinkParameters& link);
// Binomial tree: ceil(lg p) (alpha + n beta)
double binomial_broadcast_s(int p, double n, const LinkParameters& link);
// Pipelined chain in segments of s bytes: (p - 2 + ceil(n/s)) (alpha + s beta)
double chain_broadcast_s(int p, double n, double segment_bytes, const LinkParameters& link);
// Binomial tree: ceil(lg p) (alpha + n (beta + gamma))
double binomial_reduce_s(int p, double n, const LinkParameters& link);
// Pairwise exchange: (p-1) alpha + n (p-1)/p beta, n the bytes one rank sends in all
double pairwise_all_to_all_s(int p, double n, const LinkParameters& link);

// Lower bounds for any all-reduce: bandwidth 2 n (p-1)/p beta, latency ceil(lg p) alpha.
double all_reduce_lower_bound_s(int p, double n, const LinkParameters& link);

// --- Whole groups, with the parameters of a profile -------------------------------------------

// The link parameters a flat algorithm sees on this group: the intra-node ones on one node, the
// inter-node ones (the slowest link any step crosses) otherwise.
LinkParameters flat_link(const GroupShape& shape, const CommProfile& profile);

// Predicted time of one all-reduce of `bytes` with `algorithm` (not automatic or reference).
double all_reduce_time_s(AllReduceAlgorithm algorithm, const GroupShape& shape, size_t bytes,
                         const CommProfile& profile, bool buffers_in_segment = false);
double reduce_scatter_time_s(const GroupShape& shape, size_t bytes, const CommProfile& profile);
double all_gather_time_s(const GroupShape& shape, size_t bytes, const CommProfile& profile);
double broadcast_time_s(const GroupShape& shape, size_t bytes, const CommProfile& profile);
double reduce_time_s(const GroupShape& shape, size_t bytes, const CommProfile& profile);
double all_to_all_time_s(const GroupShape& shape, size_t bytes, const CommProfile& profile);

// Whether `algorithm` can run on this group and transport: mpi needs MPI_Allreduce;
// shared_memory one node and shared segments; hierarchical more than one node (on one node it
// is the ring with an extra step).
bool all_reduce_available(AllReduceAlgorithm algorithm, const GroupShape& shape, const TransportAbilities& abilities);

// The cheapest available algorithm by the model. `mpi` is never chosen: the model gives it the
// time of the algorithm Open MPI would run, which Loom runs too, so a tie goes to Loom's own.
// `gentree` is never chosen either: its cost depends on the plan, which GenModel prices.
AllReduceAlgorithm cheapest_all_reduce(const GroupShape& shape, const TransportAbilities& abilities, size_t bytes,
                                       const CommProfile& profile, bool buffers_in_segment = false);

// --- Memory traffic (the bench's bound) -------------------------------------------------------

// Bytes the busiest rank must read and write in memory for one all-reduce of n bytes on one
// node: every byte of a message is read from the sender's buffer and written to the receiver's
// (MPI's single-copy path; 3 bytes when it is reduced into the receiver's buffer), staging
// pieces that stay in cache are free, and the shared-memory algorithm reads and writes the
// buffer once (2n). Divided by the memory traffic rate (twice the memcpy bandwidth measured
// with all ranks copying at once), it bounds the time from below.
double all_reduce_memory_traffic_bytes(AllReduceAlgorithm algorithm, int p, double n, bool buffers_in_segment);

}  // namespace loom::comm
