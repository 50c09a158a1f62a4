// A BlockComm for measuring one rank's share of a tensor-parallel block in one process: it says
// degree() == tp, so nn::block_forward computes on the shard shapes (heads/tp, ffn/tp), and its
// hooks allocate and copy what the runtime's hooks (parallel::TensorParallelComm) allocate and
// copy, without communicating: the other ranks' pieces are stood in for by this rank's own. So
// the memory tracker sees the bytes the runtime's tracker would, and the times hold the packing
// and copying the runtime does around its collectives (the collectives themselves are the comm
// cost model's part).
//   plain TP: enter is identity forward and a copy of the gradient backward (Megatron's f, whose
//             backward all-reduces into a new buffer); leave copies forward (g), identity backward.
//   sequence parallel: enter gathers [B, T/tp, C] to [B, T, C] (tp copies of the local piece),
//             its backward keeps one of tp slices; leave keeps one of tp slices, its backward
//             gathers. Packing buffers for B > 1 are allocated as the runtime allocates them.
#pragma once

#include "nn/block.h"

namespace loom::planner {

class LocalBlockComm final : public nn::BlockComm {
 public:
  LocalBlockComm(int degree, bool sequence_parallel);
  int degree() const override { return degree_; }
  autograd::Var enter(const autograd::Var& x) const override;
  autograd::Var leave(const autograd::Var& x) const override;

 private:
  int degree_;
  bool sequence_parallel_;
};

}  // namespace loom::planner
