// Double binary tree (NCCL's): two binary trees over the ranks, each carrying half the vector.
// Tree A numbers rank r as in-order position r + 1 of a balanced binary tree whose interior
// nodes are exactly the even positions (the odd ranks); tree B mirrors the positions (p even) or
// shifts them by one (p odd), so its interior nodes are even ranks: no rank is interior in both,
// and every rank's links carry about the same load.
//
// Each half is cut into pieces and pipelined: piece i leaves a node of height h towards its
// parent at step i + h (its children's pieces arrived at earlier steps), and comes back down
// from the root of height H to a node of depth d at step i + H + d - 1. A node therefore forwards
// piece i in the same step in which it receives piece i + 1, and the plan takes m + 2H - 1 steps
// for m pieces.
#include <algorithm>

#include "core/error.h"
#include "topo/generators.h"
#include "topo/plan_builder.h"

namespace loom::topo {
namespace {

constexpr int64_t kPieceBytes = 512 * 1024;  // pipeline_chunks 0: pieces of about this size
constexpr int kMaxPieces = 64;               // per half

// In a balanced in-order binary tree over positions 1..n (the root the largest power of two
// <= n), the parent of position x, or 0 for the root. A missing parent (past n) is skipped over.
int tree_parent(int x, int n) {
  int root = 1;
  while (root * 2 <= n) root *= 2;
  if (x == root) return 0;
  int bit = x & -x;
  while (true) {
    const int up = (x / bit) % 4 == 1 ? x + bit : x - bit;
    if (up <= n) return up;
    x = up;
    bit *= 2;
  }
}

struct Tree {
  std::vector<int> parent;  // per rank; -1 for the root
  std::vector<int> height;  // per rank; 0 for a leaf
  std::vector<int> depth;   // per rank; 0 for the root
  int root_height = 0;
};

// The tree over ranks where rank r sits at position position_of[r] (1..n).
Tree build_tree(const std::vector<int>& position_of) {
  const int n = int(position_of.size());
  std::vector<int> rank_at(size_t(n) + 1, -1);
  for (int r = 0; r < n; ++r) rank_at[size_t(position_of[size_t(r)])] = r;
  Tree tree;
  tree.parent.assign(size_t(n), -1);
  tree.height.assign(size_t(n), 0);
  tree.depth.assign(size_t(n), 0);
  // A parent's lowest set bit is above its children's: visit positions by that bit, leaves first.
  std::vector<int> order(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) order[size_t(i)] = i + 1;
  std::stable_sort(order.begin(), order.end(), [](int a, int b) { return (a & -a) < (b & -b); });
  for (int x : order) {
    const int up = tree_parent(x, n);
    if (up == 0) continue;
    const int rank = rank_at[size_t(x)], parent = rank_at[size_t(up)];
    tree.parent[size_t(rank)] = parent;
    tree.height[size_t(parent)] = std::max(tree.height[size_t(parent)], tree.height[size_t(rank)] + 1);
  }
  for (auto x = order.rbegin(); x != order.rend(); ++x) {
    const int rank = rank_at[size_t(*x)], parent = tree.parent[size_t(rank)];
    if (parent >= 0)
      tree.depth[size_t(rank)] = tree.depth[size_t(parent)] + 1;
    else
      tree.root_height = tree.height[size_t(rank)];
  }
  return tree;
}

// Reduce up and broadcast down one tree, for pieces [first_chunk, first_chunk + pieces).
void add_tree(std::vector<Transfer>& out, const Tree& tree, int first_chunk, int pieces) {
  const int ranks = int(tree.parent.size());
  for (int piece = 0; piece < pieces; ++piece) {
    for (int rank = 0; rank < ranks; ++rank) {
      const int parent = tree.parent[size_t(rank)];
      if (parent < 0) continue;
      out.push_back({piece + tree.height[size_t(rank)], rank, parent, first_chunk + piece, 1, true});
      out.push_back(
          {piece + tree.root_height + tree.depth[size_t(rank)] - 1, parent, rank, first_chunk + piece, 1, false});
    }
  }
}

}  // namespace

CollectivePlan generate_double_binary_tree(int ranks, int64_t bytes, int element_bytes, int pipeline_chunks) {
  if (pipeline_chunks < 0)
    throw_user_error("[double_binary_tree] pipeline_chunks={} must be >= 0 (0: chosen by size)", pipeline_chunks);
  CollectivePlan plan = start_plan("double_binary_tree", ranks, bytes, 1, element_bytes);
  const int64_t elements = bytes / element_bytes;
  const int64_t first_half_bytes = (elements + 1) / 2 * element_bytes;
  int pieces = pipeline_chunks;
  if (pieces == 0) pieces = int(std::clamp<int64_t>((first_half_bytes + kPieceBytes - 1) / kPieceBytes, 1, kMaxPieces));
  plan.chunk_bytes = even_chunks(first_half_bytes, pieces, element_bytes);
  const std::vector<int64_t> second = even_chunks(bytes - first_half_bytes, pieces, element_bytes);
  plan.chunk_bytes.insert(plan.chunk_bytes.end(), second.begin(), second.end());

  std::vector<int> position_a(static_cast<size_t>(ranks)), position_b(static_cast<size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    position_a[size_t(r)] = r + 1;
    position_b[size_t(r)] = ranks % 2 == 0 ? ranks - r : (r + 1) % ranks + 1;
  }
  std::vector<Transfer> transfers;
  add_tree(transfers, build_tree(position_a), 0, pieces);
  add_tree(transfers, build_tree(position_b), pieces, pieces);
  append_transfers(plan, std::move(transfers));
  return plan;
}

}  // namespace loom::topo
