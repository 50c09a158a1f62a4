// What one rank spends computing the pieces of a model, for the cost model (planner/cost_model.h):
// per transformer block, the embedding and the head, forward and backward time and the memory the
// pieces hold, as a function of the micro-batch a rank computes and its tensor-parallel degree.
// Two sources behind one interface:
//   - MeasuredComputeProfile: what `loom profile` measured on this machine for one model and
//     sequence length (the "compute" section of the profile file, compute_profile_io.h), read
//     between the measured micro-batch sizes;
//   - AnalyticComputeProfile (analytic_profile.h): FLOPs and bytes of each op over a modelled
//     device's peak rates times named efficiencies, for clusters Loom does not run on.
// Communication is not in here: the cost model adds the collectives from the comm cost model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loom::planner {

// One piece (a block, the embedding or the head) for one micro-batch on one rank.
struct PieceCost {
  double forward_s = 0.0;
  double backward_s = 0.0;  // the backward alone; a recomputed block adds forward_s before it
  // Activation bytes the forward leaves for the backward (freed by it), per micro-batch in flight.
  // A recomputed block keeps only its input instead (recompute_kept_bytes).
  int64_t kept_bytes = 0;
  int64_t recompute_kept_bytes = 0;
  // The most the piece holds above what it keeps while its forward or backward runs (temporaries,
  // activation gradients), freed when it ends; and the same for a recomputed block above its
  // recompute_kept_bytes (with the replayed forward's activations).
  int64_t transient_bytes = 0;
  int64_t recompute_transient_bytes = 0;

  bool operator==(const PieceCost&) const = default;
};

class ComputeProfile {
 public:
  virtual ~ComputeProfile() = default;
  // One transformer block: `samples` sequences (of the profile's sequence length) on a rank that
  // holds 1/tp of the block's heads and MLP units; with sequence parallelism the norms and the
  // residual stream hold 1/tp of the sequence.
  virtual PieceCost block(double samples, int tp, bool sequence_parallel) const = 0;
  // Token (and position) embedding, with the vocabulary split over vocab_tp ranks.
  virtual PieceCost embedding(double samples, int vocab_tp) const = 0;
  // The final norm, the output projection and the cross-entropy loss, vocabulary split over vocab_tp.
  virtual PieceCost head(double samples, int vocab_tp) const = 0;
  // One optimizer update (clipping and AdamW) of `parameters` elements held on one rank.
  virtual double optimizer_s(double parameters) const = 0;
  // What each blocking collective between compute phases (TP, vocabulary parallel, resharding)
  // costs above the link model: ranks arriving apart. 0 unless measured.
  virtual double collective_overhead_s() const { return 0.0; }
  // Whether block() at this TP degree already includes the block's TP collectives (measured with a
  // real group), so the cost model must not add them again.
  virtual bool block_includes_tp_collectives(int tp) const { return false; }
  // Where the numbers come from, for --explain.
  virtual std::string source() const = 0;
};

}  // namespace loom::planner
