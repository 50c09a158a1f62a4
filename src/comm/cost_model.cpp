// The alpha-beta-gamma formulas of REFERENCE.md section 5, one function each, and the choice of
// the cheapest all-reduce. Every formula is quoted beside its code.
#include "comm/cost_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace loom::comm {

namespace {

// floor(lg p) and ceil(lg p) for p >= 1.
int floor_log2(int p) {
  int k = 0;
  while ((2 << k) <= p) ++k;
  return k;
}
int ceil_log2(int p) {
  int k = 0;
  while ((1 << k) < p) ++k;
  return k;
}

// Non-power-of-two fold: the r = p - 2^floor(lg p) extra ranks send their whole vector to a
// partner, which reduces it (alpha + n beta + n gamma), and receive the result at the end
// (alpha + n beta). Zero when p is a power of two.
double fold_s(int p, double n, const LinkParameters& link) {
  const int power = 1 << floor_log2(p);
  if (power == p) return 0.0;
  return 2.0 * link.alpha_s + 2.0 * n * link.beta_s_per_byte + n * link.gamma_s_per_byte;
}

void check_group(int p, double n) {
  LOOM_CHECK(p >= 1, "cost of a collective over {} ranks", p);
  LOOM_CHECK(n >= 0.0, "cost of a collective of {} bytes", n);
}

}  // namespace

double ring_all_reduce_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  if (p == 1) return 0.0;
  const double share = double(p - 1) / double(p);
  // 2(p-1) alpha + 2 n (p-1)/p beta + n (p-1)/p gamma
  return 2.0 * (p - 1) * link.alpha_s + 2.0 * n * share * link.beta_s_per_byte + n * share * link.gamma_s_per_byte;
}

double recursive_doubling_all_reduce_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  if (p == 1) return 0.0;
  const int rounds = floor_log2(p);
  // lg p alpha + n lg p (beta + gamma), over the largest power of two, plus the fold.
  return rounds * link.alpha_s + n * rounds * (link.beta_s_per_byte + link.gamma_s_per_byte) + fold_s(p, n, link);
}

double rabenseifner_all_reduce_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  if (p == 1) return 0.0;
  const int power = 1 << floor_log2(p);
  const double share = double(power - 1) / double(power);
  // 2 lg p alpha + 2 n (p-1)/p beta + n (p-1)/p gamma, over the largest power of two, plus the fold.
  return 2.0 * floor_log2(p) * link.alpha_s + 2.0 * n * share * link.beta_s_per_byte +
         n * share * link.gamma_s_per_byte + fold_s(p, n, link);
}

double tree_all_reduce_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  const int depth = ceil_log2(p);
  // 2 lg p alpha + 2 n lg p beta + n lg p gamma (lg p rounded up: the depth of the binomial tree)
  return 2.0 * depth * link.alpha_s + 2.0 * n * depth * link.beta_s_per_byte + n * depth * link.gamma_s_per_byte;
}

double hierarchical_all_reduce_s(int ranks_per_node, int nodes, double n, const LinkParameters& intra,
                                 const LinkParameters& inter) {
  check_group(ranks_per_node, n);
  check_group(nodes, n);
  // Intra-node reduce-scatter of n, inter-node all-reduce of n / p_l, intra-node all-gather of n.
  const double slice = n / double(ranks_per_node);
  const double across =
      std::min({ring_all_reduce_s(nodes, slice, inter), recursive_doubling_all_reduce_s(nodes, slice, inter),
                rabenseifner_all_reduce_s(nodes, slice, inter)});
  return ring_reduce_scatter_s(ranks_per_node, n, intra) + across + ring_all_gather_s(ranks_per_node, n, intra);
}

double shared_memory_all_reduce_s(int p, double n, const LinkParameters& link, double copy_s_per_byte,
                                  bool buffers_in_segment) {
  check_group(p, n);
  if (p == 1) return 0.0;
  const double share = double(p - 1) / double(p);
  if (buffers_in_segment) {
    // 2 alpha + n (p-1)/p copy (results into the peers' slices) + n (p-1)/p gamma
    return 2.0 * link.alpha_s + n * share * copy_s_per_byte + n * share * link.gamma_s_per_byte;
  }
  // Staged: 2 alpha + 2 n (p-1)/p copy + n (p-1)/p gamma; one step: alpha + n copy + n (p-1) gamma.
  const double staged = 2.0 * link.alpha_s + 2.0 * n * share * copy_s_per_byte + n * share * link.gamma_s_per_byte;
  const double one_step = link.alpha_s + n * copy_s_per_byte + n * (p - 1) * link.gamma_s_per_byte;
  return std::min(staged, one_step);
}

AllReduceAlgorithm open_mpi_tuned_all_reduce(int p, double n) {
  // Open MPI 4.1 coll/tuned fixed decision (coll_tuned_decision_fixed.c), commutative operations.
  // Its segmented ring costs what the ring formula says; from 128 ranks its non-overlapping
  // (reduce + broadcast) choice for mid sizes is modelled as recursive doubling.
  if (p < 4) {
    if (n < 8) return AllReduceAlgorithm::ring;
    if (n < 4096) return AllReduceAlgorithm::recursive_doubling;
    if (n < 8192) return AllReduceAlgorithm::ring;
    if (n < 16384) return AllReduceAlgorithm::recursive_doubling;
    if (n < 262144) return AllReduceAlgorithm::ring;
    return AllReduceAlgorithm::rabenseifner;
  }
  if (p < 8) {
    if (n < 16) return AllReduceAlgorithm::ring;
    if (n < 8192) return AllReduceAlgorithm::recursive_doubling;
    return AllReduceAlgorithm::rabenseifner;
  }
  if (p < 16) return n < 8192 ? AllReduceAlgorithm::recursive_doubling : AllReduceAlgorithm::rabenseifner;
  if (p < 32) {
    if (n < 64) return AllReduceAlgorithm::ring;
    if (n < 4096) return AllReduceAlgorithm::recursive_doubling;
    return AllReduceAlgorithm::rabenseifner;
  }
  if (p < 64) return n < 128 ? AllReduceAlgorithm::ring : AllReduceAlgorithm::rabenseifner;
  return n < 262144 ? AllReduceAlgorithm::recursive_doubling : AllReduceAlgorithm::rabenseifner;
}

double ring_reduce_scatter_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  // (p-1) alpha + n (p-1)/p (beta + gamma)
  return (p - 1) * link.alpha_s + n * double(p - 1) / double(p) * (link.beta_s_per_byte + link.gamma_s_per_byte);
}

double ring_all_gather_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  // (p-1) alpha + n (p-1)/p beta
  return (p - 1) * link.alpha_s + n * double(p - 1) / double(p) * link.beta_s_per_byte;
}

double recursive_doubling_all_gather_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  // lg p alpha + n (p-1)/p beta
  return floor_log2(p) * link.alpha_s + n * double(p - 1) / double(p) * link.beta_s_per_byte;
}

double binomial_broadcast_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  // ceil(lg p) (alpha + n beta)
  return ceil_log2(p) * (link.alpha_s + n * link.beta_s_per_byte);
}

double chain_broadcast_s(int p, double n, double segment_bytes, const LinkParameters& link) {
  check_group(p, n);
  LOOM_CHECK(segment_bytes > 0.0, "chain broadcast with {}-byte segments", segment_bytes);
  if (p == 1 || n == 0.0) return 0.0;
  const double segments = std::ceil(n / segment_bytes);
  const double segment = std::min(n, segment_bytes);
  // (p - 2 + ceil(n/s)) (alpha + s beta): the first segment crosses p-1 links, each later one adds a step.
  return (p - 2 + segments) * (link.alpha_s + segment * link.beta_s_per_byte);
}

double binomial_reduce_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  // ceil(lg p) (alpha + n (beta + gamma))
  return ceil_log2(p) * (link.alpha_s + n * (link.beta_s_per_byte + link.gamma_s_per_byte));
}

double pairwise_all_to_all_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  // (p-1) alpha + n (p-1)/p beta
  return (p - 1) * link.alpha_s + n * double(p - 1) / double(p) * link.beta_s_per_byte;
}

double all_reduce_lower_bound_s(int p, double n, const LinkParameters& link) {
  check_group(p, n);
  if (p == 1) return 0.0;
  // max(bandwidth 2 n (p-1)/p beta, latency ceil(lg p) alpha): each is a bound on its own.
  return std::max(2.0 * n * double(p - 1) / double(p) * link.beta_s_per_byte, ceil_log2(p) * link.alpha_s);
}

LinkParameters flat_link(const GroupShape& shape, const CommProfile& profile) {
  if (shape.single_node() || profile.inter_node.empty()) return profile.intra(shape.ranks).link;
  return profile.inter(shape.nodes).link;
}

double all_reduce_time_s(AllReduceAlgorithm algorithm, const GroupShape& shape, size_t bytes,
                         const CommProfile& profile, bool buffers_in_segment) {
  const int p = shape.ranks;
  const double n = double(bytes);
  const LinkParameters link = flat_link(shape, profile);
  switch (algorithm) {
    case AllReduceAlgorithm::ring:
      return ring_all_reduce_s(p, n, link);
    case AllReduceAlgorithm::recursive_doubling:
      return recursive_doubling_all_reduce_s(p, n, link);
    case AllReduceAlgorithm::rabenseifner:
      return rabenseifner_all_reduce_s(p, n, link);
    case AllReduceAlgorithm::tree:
      return tree_all_reduce_s(p, n, link);
    case AllReduceAlgorithm::hierarchical: {
      const LinkParameters intra = profile.intra(shape.ranks_per_node).link;
      const LinkParameters inter = profile.inter_node.empty() ? intra : profile.inter(shape.nodes).link;
      return hierarchical_all_reduce_s(shape.ranks_per_node, shape.nodes, n, intra, inter);
    }
    case AllReduceAlgorithm::shared_memory: {
      const GroupParameters& group = profile.intra(p);
      return shared_memory_all_reduce_s(p, n, group.link, group.copy_s_per_byte, buffers_in_segment);
    }
    case AllReduceAlgorithm::mpi:
      return all_reduce_time_s(open_mpi_tuned_all_reduce(p, n), shape, bytes, profile);
    case AllReduceAlgorithm::gentree:  // priced by GenModel on a topology (topo/genmodel.h), not here
    case AllReduceAlgorithm::automatic:
    case AllReduceAlgorithm::reference:
      break;
  }
  LOOM_CHECK(false, "no cost formula for all-reduce algorithm '{}'", algorithm_name(algorithm));
}

double reduce_scatter_time_s(const GroupShape& shape, size_t bytes, const CommProfile& profile) {
  return ring_reduce_scatter_s(shape.ranks, double(bytes), flat_link(shape, profile));
}

double all_gather_time_s(const GroupShape& shape, size_t bytes, const CommProfile& profile) {
  const LinkParameters link = flat_link(shape, profile);
  const int p = shape.ranks;
  double best = ring_all_gather_s(p, double(bytes), link);
  if ((p & (p - 1)) == 0) best = std::min(best, recursive_doubling_all_gather_s(p, double(bytes), link));
  return best;
}

double broadcast_time_s(const GroupShape& shape, size_t bytes, const CommProfile& profile) {
  const LinkParameters link = flat_link(shape, profile);
  const double n = double(bytes);
  // The chain's segments as collectives.cpp cuts them: n/16, at least 64 KiB, at most 1 MiB.
  const double segment = std::min(double(size_t{1} << 20), std::max(n / 16.0, double(size_t{64} << 10)));
  return std::min(binomial_broadcast_s(shape.ranks, n, link), chain_broadcast_s(shape.ranks, n, segment, link));
}

double reduce_time_s(const GroupShape& shape, size_t bytes, const CommProfile& profile) {
  return binomial_reduce_s(shape.ranks, double(bytes), flat_link(shape, profile));
}

double all_to_all_time_s(const GroupShape& shape, size_t bytes, const CommProfile& profile) {
  return pairwise_all_to_all_s(shape.ranks, double(bytes), flat_link(shape, profile));
}

bool all_reduce_available(AllReduceAlgorithm algorithm, const GroupShape& shape, const TransportAbilities& abilities) {
  switch (algorithm) {
    case AllReduceAlgorithm::mpi:
      return abilities.native_all_reduce;
    case AllReduceAlgorithm::shared_memory:
      return abilities.shared_segments && shape.single_node();
    case AllReduceAlgorithm::hierarchical:
      return !shape.single_node();
    case AllReduceAlgorithm::automatic:
      return false;
    default:
      return true;
  }
}

AllReduceAlgorithm cheapest_all_reduce(const GroupShape& shape, const TransportAbilities& abilities, size_t bytes,
                                       const CommProfile& profile, bool buffers_in_segment) {
  AllReduceAlgorithm best = AllReduceAlgorithm::recursive_doubling;
  double best_s = std::numeric_limits<double>::infinity();
  // Every algorithm but mpi and gentree (which this model does not price), in
  // all_reduce_algorithms() order (a tie goes to the earlier); built once, since `auto` asks on
  // every call.
  static const std::vector<AllReduceAlgorithm> candidates = [] {
    std::vector<AllReduceAlgorithm> list = all_reduce_algorithms();
    std::erase_if(
        list, [](AllReduceAlgorithm a) { return a == AllReduceAlgorithm::mpi || a == AllReduceAlgorithm::gentree; });
    return list;
  }();
  for (AllReduceAlgorithm algorithm : candidates) {
    if (!all_reduce_available(algorithm, shape, abilities)) continue;
    const double s = all_reduce_time_s(algorithm, shape, bytes, profile, buffers_in_segment);
    if (s < best_s) {
      best_s = s;
      best = algorithm;
    }
  }
  return best;
}

double all_reduce_memory_traffic_bytes(AllReduceAlgorithm algorithm, int p, double n, bool buffers_in_segment) {
  check_group(p, n);
  if (p == 1) return 0.0;
  const double share = double(p - 1) / double(p);
  // Per byte of a message: received into the buffer = 2 (the peer's copy read, mine written);
  // received and reduced = 3 (the peer's copy read, mine read and written). Staging pieces of a
  // segment or chunk stay in cache and are not counted.
  const double receive = 2.0;
  const double receive_reduce = 3.0;
  const int power = 1 << floor_log2(p);
  // The fold partner receives and reduces the whole vector, and sends it back (read by the other).
  const double fold = power == p ? 0.0 : receive_reduce * n;
  switch (algorithm) {
    case AllReduceAlgorithm::ring:
      // Reduce-scatter: (p-1)/p of the vector received and reduced; all-gather: (p-1)/p received.
      return n * share * receive_reduce + n * share * receive;
    case AllReduceAlgorithm::rabenseifner: {
      const double power_share = double(power - 1) / double(power);
      return n * power_share * receive_reduce + n * power_share * receive + fold;
    }
    case AllReduceAlgorithm::recursive_doubling:
      return floor_log2(p) * n * receive_reduce + fold;
    case AllReduceAlgorithm::tree:
      // The busiest rank, the root, receives and reduces ceil(lg p) whole vectors.
      return ceil_log2(p) * n * receive_reduce;
    case AllReduceAlgorithm::shared_memory:
      // Staged: the buffer is read once (copy in + my part of the reduce) and written once (my
      // part + copy out); the slots are cache-sized. In the segment: my part read from all p
      // slices (n) and written into all of them (n).
      (void)buffers_in_segment;
      return 2.0 * n;
    case AllReduceAlgorithm::hierarchical:
      // On one node: a ring reduce-scatter and all-gather.
      return all_reduce_memory_traffic_bytes(AllReduceAlgorithm::ring, p, n, buffers_in_segment);
    case AllReduceAlgorithm::mpi:
      return all_reduce_memory_traffic_bytes(open_mpi_tuned_all_reduce(p, n), p, n, buffers_in_segment);
    case AllReduceAlgorithm::gentree:  // depends on the plan the topology gets
    case AllReduceAlgorithm::automatic:
    case AllReduceAlgorithm::reference:
      break;
  }
  LOOM_CHECK(false, "no memory traffic for all-reduce algorithm '{}'", algorithm_name(algorithm));
}

}  // namespace loom::comm
