// Pipelined chain broadcast: relative rank v receives segments from v-1 straight into place and
// forwards each to v+1 as soon as it has arrived, so all links are busy at once.
// Steps: p-1 + n/segment segment times. Bytes sent per rank: n (none by the last).
#include <algorithm>

#include "comm/blocks.h"
#include "comm/collective_algorithms.h"

namespace loom::comm {
namespace {
constexpr int kWindow = 4;  // receives in flight; the k-th segment carries tag k mod kWindow
}

void broadcast_chain(Communicator& comm, void* data, size_t count, DType dtype, int root, size_t segment_bytes) {
  const int p = comm.size();
  if (p == 1 || count == 0) return;
  const int v = (comm.rank() - root + p) % p;
  const int previous = (comm.rank() - 1 + p) % p;
  const int next = (comm.rank() + 1) % p;
  const size_t elem = dtype_bytes(dtype);
  const size_t segment = segment_bytes == 0 ? count : std::max<size_t>(1, segment_bytes / elem);
  const size_t segments = (count + segment - 1) / segment;
  auto piece_begin = [&](size_t m) { return m * segment; };
  auto piece_count = [&](size_t m) { return std::min(segment, count - m * segment); };
  auto tag = [](size_t m) { return static_cast<int>(m % kWindow); };

  std::vector<Pending> sends;
  if (v == 0) {
    for (size_t m = 0; m < segments; ++m)
      sends.push_back(comm.isend(next, element(data, piece_begin(m), dtype), piece_count(m) * elem, tag(m)));
  } else {
    std::vector<Pending> posted(kWindow);
    auto post = [&](size_t m) {
      posted[m % kWindow] = comm.irecv(previous, element(data, piece_begin(m), dtype), piece_count(m) * elem, tag(m));
    };
    for (size_t m = 0; m < std::min<size_t>(kWindow, segments); ++m) post(m);
    for (size_t m = 0; m < segments; ++m) {
      comm.wait(posted[m % kWindow]);
      if (m + kWindow < segments) post(m + kWindow);
      if (v + 1 < p)
        sends.push_back(comm.isend(next, element(data, piece_begin(m), dtype), piece_count(m) * elem, tag(m)));
    }
  }
  comm.wait_all(sends);
}

}  // namespace loom::comm
