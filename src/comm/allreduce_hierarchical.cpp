// Two-level all-reduce for p_n nodes of p_l ranks each. The buffer is cut into p_l blocks;
// (1) a ring reduce-scatter inside each node leaves local rank l with its node's sum of block
// l; (2) the p_n ranks with local rank l (one per node) all-reduce block l across nodes;
// (3) a ring all-gather inside each node hands the blocks round.
// Steps: 2(p_l-1) intra-node + those of the inter-node algorithm on n/p_l bytes.
// Bytes sent per rank: 2 n (p_l-1)/p_l inside the node + the inter-node all-reduce of n/p_l
// (2 (n/p_l)(p_n-1)/p_n by ring), so the slow links carry 1/p_l of what a flat ring sends.
//
// Nodes of unequal size (e.g. 7 ranks at 3 per node) have no common block layout, so the
// algorithm falls back to: binomial reduce to local rank 0 of each node, all-reduce among the
// local-rank-0 ranks (one per node), binomial broadcast inside each node. It still sends one
// copy of the buffer per node across nodes, but loses the p_l-fold split of that traffic.
#include <map>

#include <fmt/format.h>

#include "comm/algorithm_selection.h"
#include "comm/allreduce_algorithms.h"
#include "comm/binomial_tree.h"
#include "comm/ring_phases.h"

namespace loom::comm {
namespace {

bool nodes_have_equal_size(Communicator& comm) {
  std::map<int, int> ranks_on_node;
  for (int r = 0; r < comm.size(); ++r) ++ranks_on_node[comm.transport().node_of(r)];
  for (const auto& [node, ranks] : ranks_on_node)
    if (ranks != ranks_on_node.begin()->second) return false;
  return true;
}

// The inter-node group has one rank per node, so a flat algorithm (or MPI's own) does the work;
// the cost model picks, and the node-aware algorithms (meaningless here) fall back to the ring.
void all_reduce_across_nodes(Communicator& inter, void* data, size_t count, DType dtype, ReduceOp op,
                             size_t segment_bytes, const std::string& description) {
  const size_t bytes = count * dtype_bytes(dtype);
  AllReduceAlgorithm algorithm = choose_all_reduce_algorithm(inter, bytes);
  inter.begin_operation(fmt::format("{}: inter-node all_reduce({}, {} x {})", description, algorithm_name(algorithm),
                                    count, dtype_name(dtype)));
  if (count == 0 || inter.size() == 1) return;
  if (algorithm == AllReduceAlgorithm::mpi) {
    // avg is summed; the caller divides once. Every member sees the same transport, so either
    // all run it or all fall through to the ring.
    if (inter.transport().native_all_reduce(data, count, dtype, op == ReduceOp::avg ? ReduceOp::sum : op)) return;
    algorithm = AllReduceAlgorithm::ring;
  }
  switch (algorithm) {
    case AllReduceAlgorithm::recursive_doubling:
      return all_reduce_recursive_doubling(inter, data, count, dtype, op);
    case AllReduceAlgorithm::rabenseifner:
      return all_reduce_rabenseifner(inter, data, count, dtype, op);
    case AllReduceAlgorithm::tree:
      return all_reduce_tree(inter, data, count, dtype, op);
    default:
      return all_reduce_ring(inter, data, count, dtype, op, segment_bytes);
  }
}

}  // namespace

void all_reduce_hierarchical(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op,
                             size_t segment_bytes) {
  const std::string description = comm.operation();
  // Sub-groups are built collectively on first use, by every rank in the same order.
  Communicator& intra = comm.intra_node();
  Communicator& inter = comm.inter_node();
  intra.set_timeout(comm.timeout());
  inter.set_timeout(comm.timeout());

  if (!nodes_have_equal_size(comm)) {
    intra.begin_operation(description + ": intra-node reduce to local rank 0");
    binomial_reduce(intra, data, data, count, dtype, op, /*root=*/0, /*tag=*/0);
    if (intra.rank() == 0) all_reduce_across_nodes(inter, data, count, dtype, op, segment_bytes, description);
    intra.begin_operation(description + ": intra-node broadcast from local rank 0");
    binomial_broadcast(intra, data, count * dtype_bytes(dtype), /*root=*/0, /*tag=*/1);
    return;
  }

  const Blocks blocks = Blocks::balanced(count, intra.size());
  const int local = intra.rank();
  intra.begin_operation(description + ": intra-node reduce-scatter");
  ring_reduce_scatter_in_place(intra, data, blocks, dtype, op, segment_bytes, /*tag_offset=*/0);
  all_reduce_across_nodes(inter, element(data, blocks.begin(local), dtype), blocks.size(local), dtype, op,
                          segment_bytes, description);
  intra.begin_operation(description + ": intra-node all-gather");
  ring_all_gather_in_place(intra, data, blocks, dtype, segment_bytes, /*tag_offset=*/kRingWindow);
}

}  // namespace loom::comm
