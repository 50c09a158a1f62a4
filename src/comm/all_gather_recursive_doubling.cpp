// Recursive-doubling all-gather for p a power of two: in round k rank r exchanges the 2^k
// blocks it holds (an aligned range) with rank r xor 2^k, doubling the range.
// Steps: lg p. Bytes sent per rank: n (p-1)/p.
#include "comm/blocks.h"
#include "comm/collective_algorithms.h"

namespace loom::comm {

void all_gather_recursive_doubling(Communicator& comm, const void* send, void* recv, size_t send_count, DType dtype) {
  const int p = comm.size();
  const int r = comm.rank();
  LOOM_CHECK((p & (p - 1)) == 0, "recursive-doubling all-gather on {} ranks (needs a power of two)", p);
  const size_t block_bytes = send_count * dtype_bytes(dtype);
  char* mine = element(recv, static_cast<size_t>(r) * send_count, dtype);
  copy_bytes(mine, send, block_bytes);
  for (int distance = 1; distance < p; distance *= 2) {
    const int peer = r ^ distance;
    const size_t my_first = static_cast<size_t>(r & ~(distance - 1));
    const size_t peer_first = static_cast<size_t>(peer & ~(distance - 1));
    const size_t bytes = block_bytes * static_cast<size_t>(distance);
    comm.send_recv(peer, element(recv, my_first * send_count, dtype), bytes, peer,
                   element(recv, peer_first * send_count, dtype), bytes, /*tag=*/0);
  }
}

}  // namespace loom::comm
