// Rabenseifner all-reduce. After the fold, the p' active ranks cut the buffer into p' blocks.
// Reduce-scatter by recursive halving: at distance p'/2, p'/4, ..., 1 a rank keeps the half of
// its current block range that its rank bit selects, sends the other half to its partner and
// reduces the partner's copy of the kept half; active rank i ends owning block i. All-gather
// by recursive doubling retraces the steps, exchanging whole owned ranges.
// Steps: 2 lg p' (+2 with a fold). Bytes sent per rank: 2 n (p'-1)/p' (+n with a fold).
#include <algorithm>

#include "comm/allreduce_algorithms.h"
#include "comm/blocks.h"

namespace loom::comm {
namespace {

// Sends [send_first, send_last) blocks and receives [recv_first, recv_last) from `peer`;
// empty sides (counts smaller than p') are skipped on both ends alike.
void exchange_blocks(Communicator& comm, int peer, const Blocks& blocks, DType dtype, void* data, int send_first,
                     int send_last, void* into, int recv_first, int recv_last, int tag) {
  const size_t elem = dtype_bytes(dtype);
  const size_t send_bytes = blocks.span(send_first, send_last) * elem;
  const size_t recv_bytes = blocks.span(recv_first, recv_last) * elem;
  std::vector<Pending> pending;
  if (recv_bytes > 0) pending.push_back(comm.irecv(peer, into, recv_bytes, tag));
  if (send_bytes > 0)
    pending.push_back(comm.isend(peer, element(data, blocks.begin(send_first), dtype), send_bytes, tag));
  comm.wait_all(pending);
}

}  // namespace

void all_reduce_rabenseifner(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op) {
  const Fold fold(comm);
  fold_in(comm, fold, data, count, dtype, op, /*tag=*/0);
  if (fold.new_rank >= 0 && fold.active > 1) {
    const int me = fold.new_rank;
    const Blocks blocks = Blocks::balanced(count, fold.active);
    // The lower half of any range is at least as long as the upper one.
    Scratch incoming(blocks.span(0, fold.active / 2) * dtype_bytes(dtype));

    int first = 0, last = fold.active;  // the block range this rank is responsible for
    for (int distance = fold.active / 2; distance >= 1; distance /= 2) {
      const int peer = fold.group_rank(me ^ distance);
      const int middle = (first + last) / 2;
      const bool upper = (me & distance) != 0;
      const int keep_first = upper ? middle : first, keep_last = upper ? last : middle;
      const int give_first = upper ? first : middle, give_last = upper ? middle : last;
      exchange_blocks(comm, peer, blocks, dtype, data, give_first, give_last, incoming.data(), keep_first, keep_last,
                      /*tag=*/2);
      reduce_into(element(data, blocks.begin(keep_first), dtype), incoming.data(), blocks.span(keep_first, keep_last),
                  dtype, op);
      first = keep_first;
      last = keep_last;
    }

    for (int distance = 1; distance < fold.active; distance *= 2) {
      const int peer = fold.group_rank(me ^ distance);
      const bool upper = (me & distance) != 0;
      const int other_first = upper ? first - distance : last, other_last = upper ? first : last + distance;
      exchange_blocks(comm, peer, blocks, dtype, data, first, last, element(data, blocks.begin(other_first), dtype),
                      other_first, other_last, /*tag=*/3);
      first = std::min(first, other_first);
      last = std::max(last, other_last);
    }
  }
  fold_out(comm, fold, data, count, dtype, /*tag=*/1);
}

}  // namespace loom::comm
