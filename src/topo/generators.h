// All-reduce plan generators: each writes a CollectivePlan (collective_plan.h) that the
// validator accepts for any rank count >= 1 and any size (including 0 bytes). Flat algorithms
// take the rank count only; the topology-aware ones read the Network's hierarchy. Each generator
// is its own function in its own file (docs/gentree.md describes every one).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "topo/collective_plan.h"
#include "topo/network.h"

namespace loom::topo {

// Ring: reduce-scatter then all-gather around the ranks in order, p chunks, 2(p - 1) steps.
CollectivePlan generate_ring(int ranks, int64_t bytes, int element_bytes = 4);
// Recursive doubling: lg p exchanges of the whole vector; the extra ranks of a non-power of
// two fold into a partner first and get the result back at the end.
CollectivePlan generate_recursive_doubling(int ranks, int64_t bytes, int element_bytes = 4);
// Rabenseifner: recursive-halving reduce-scatter, recursive-doubling all-gather; the same fold.
CollectivePlan generate_rabenseifner(int ranks, int64_t bytes, int element_bytes = 4);
// Binomial tree: reduce to rank 0, then broadcast, whole vector per message.
CollectivePlan generate_binomial_tree(int ranks, int64_t bytes, int element_bytes = 4);
// Direct: every rank sends each other rank its part in one step (fan-in p - 1), reduces its own
// part in one pass, then sends it to everyone in one step.
CollectivePlan generate_direct(int ranks, int64_t bytes, int element_bytes = 4);
// NCCL-style double binary tree: two complementary binary trees (each rank interior in at most
// one), half the vector each, pipelined in `pipeline_chunks` pieces per half (0: chosen by size);
// reduce up each tree, broadcast down.
CollectivePlan generate_double_binary_tree(int ranks, int64_t bytes, int element_bytes = 4, int pipeline_chunks = 0);
// Two-level hierarchical over the network's lowest level that groups ranks (a host of several
// devices, else a leaf switch): ring reduce-scatter inside each group, ring all-reduce of each
// part across the groups among ranks with the same index, ring all-gather inside.
CollectivePlan generate_hierarchical(const Network& network, int64_t bytes, int element_bytes = 4);

// The generators by name, for the CLI and the runtime: ring, recursive_doubling, rabenseifner,
// tree, direct, double_binary_tree, hierarchical, gentree. UserError naming the valid ones.
CollectivePlan generate_plan(const std::string& algorithm, const Network& network, int64_t bytes,
                             int element_bytes = 4);
std::vector<std::string> plan_algorithm_names();

}  // namespace loom::topo
