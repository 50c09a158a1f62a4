// Pairwise-exchange all-to-all: rank r copies its own block, then at step s = 1..p-1 sends
// block r+s to rank r+s and receives block r-s from rank r-s.
// Steps: p-1. Bytes sent per rank: n (p-1)/p for n = p * count_per_rank elements.
#include "comm/blocks.h"
#include "comm/collective_algorithms.h"

namespace loom::comm {

void all_to_all_pairwise(Communicator& comm, const void* send, void* recv, size_t count_per_rank, DType dtype) {
  const int p = comm.size();
  const int r = comm.rank();
  const size_t block_bytes = count_per_rank * dtype_bytes(dtype);
  auto block = [&](int b) { return static_cast<size_t>(b) * count_per_rank; };
  copy_bytes(element(recv, block(r), dtype), element(send, block(r), dtype), block_bytes);
  for (int step = 1; step < p; ++step) {
    const int to = (r + step) % p;
    const int from = (r - step + p) % p;
    comm.send_recv(to, element(send, block(to), dtype), block_bytes, from, element(recv, block(from), dtype),
                   block_bytes, /*tag=*/0);
  }
}

}  // namespace loom::comm
