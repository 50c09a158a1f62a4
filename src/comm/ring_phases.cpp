// Pipelined ring phases. Both sides of a link walk the same list of segments in the same order
// (the receiver's step s is the sender's step s), so the k-th message on a link carries tag
// k mod kRingWindow and at most one receive per tag is ever outstanding.
#include "comm/ring_phases.h"

#include <algorithm>
#include <cstring>

namespace loom::comm {
namespace {

struct Piece {
  size_t begin = 0;  // element offset in the buffer
  size_t count = 0;
  int step = 0;
};

int wrap(int block, int p) {
  return ((block % p) + p) % p;
}

size_t segment_elements(size_t segment_bytes, DType dtype) {
  if (segment_bytes == 0) return SIZE_MAX;
  return std::max<size_t>(1, segment_bytes / dtype_bytes(dtype));
}

void append_pieces(std::vector<Piece>& pieces, const Blocks& blocks, int block, int step, size_t segment) {
  for (size_t begin = blocks.begin(block); begin < blocks.end(block);
       begin += std::min(segment, blocks.end(block) - begin)) {
    pieces.push_back({begin, std::min(segment, blocks.end(block) - begin), step});
  }
}

// Pieces this rank receives, in order: at step s, block first_block - s.
std::vector<Piece> incoming(const Blocks& blocks, int first_block, size_t segment) {
  const int p = blocks.parts();
  std::vector<Piece> pieces;
  for (int step = 0; step < p - 1; ++step) append_pieces(pieces, blocks, wrap(first_block - step, p), step, segment);
  return pieces;
}

}  // namespace

void ring_reduce_scatter_in_place(Communicator& comm, void* data, const Blocks& blocks, DType dtype, ReduceOp op,
                                  size_t segment_bytes, int tag_offset) {
  const int p = comm.size();
  const int r = comm.rank();
  LOOM_CHECK_EQ(blocks.parts(), p);
  if (p == 1) return;
  const int right = (r + 1) % p;
  const int left = (r - 1 + p) % p;
  const size_t elem = dtype_bytes(dtype);
  const size_t segment = segment_elements(segment_bytes, dtype);

  // Step 0 sends block r-1; step s receives block r-s-2 and forwards it at step s+1, so the
  // last step receives block r, which stays.
  std::vector<Piece> first_sends;
  append_pieces(first_sends, blocks, wrap(r - 1, p), 0, segment);
  const std::vector<Piece> receives = incoming(blocks, r - 2, segment);

  size_t slot_elements = 0;
  for (const Piece& piece : receives) slot_elements = std::max(slot_elements, piece.count);
  Scratch slots(kRingWindow * slot_elements * elem);
  auto slot = [&](size_t m) { return slots.data() + (m % kRingWindow) * slot_elements * elem; };

  std::vector<Pending> sends;
  size_t sent = 0;
  auto send_piece = [&](const Piece& piece) {
    sends.push_back(comm.isend(right, element(data, piece.begin, dtype), piece.count * elem,
                               tag_offset + static_cast<int>(sent++ % kRingWindow)));
  };
  for (const Piece& piece : first_sends) send_piece(piece);

  std::vector<Pending> posted(kRingWindow);
  auto post = [&](size_t m) {
    posted[m % kRingWindow] =
        comm.irecv(left, slot(m), receives[m].count * elem, tag_offset + static_cast<int>(m % kRingWindow));
  };
  for (size_t m = 0; m < std::min<size_t>(kRingWindow, receives.size()); ++m) post(m);
  for (size_t m = 0; m < receives.size(); ++m) {
    comm.wait(posted[m % kRingWindow]);
    const Piece& piece = receives[m];
    reduce_into(element(data, piece.begin, dtype), slot(m), piece.count, dtype, op);
    if (m + kRingWindow < receives.size()) post(m + kRingWindow);
    if (piece.step < p - 2) send_piece(piece);
  }
  comm.wait_all(sends);
}

void ring_all_gather_in_place(Communicator& comm, void* data, const Blocks& blocks, DType dtype, size_t segment_bytes,
                              int tag_offset) {
  const int p = comm.size();
  const int r = comm.rank();
  LOOM_CHECK_EQ(blocks.parts(), p);
  if (p == 1) return;
  const int right = (r + 1) % p;
  const int left = (r - 1 + p) % p;
  const size_t elem = dtype_bytes(dtype);
  const size_t segment = segment_elements(segment_bytes, dtype);

  // Step 0 sends block r; step s receives block r-s-1 (straight into place) and forwards it.
  std::vector<Piece> first_sends;
  append_pieces(first_sends, blocks, r, 0, segment);
  const std::vector<Piece> receives = incoming(blocks, r - 1, segment);

  std::vector<Pending> sends;
  size_t sent = 0;
  auto send_piece = [&](const Piece& piece) {
    sends.push_back(comm.isend(right, element(data, piece.begin, dtype), piece.count * elem,
                               tag_offset + static_cast<int>(sent++ % kRingWindow)));
  };
  for (const Piece& piece : first_sends) send_piece(piece);

  std::vector<Pending> posted(kRingWindow);
  auto post = [&](size_t m) {
    posted[m % kRingWindow] = comm.irecv(left, element(data, receives[m].begin, dtype), receives[m].count * elem,
                                         tag_offset + static_cast<int>(m % kRingWindow));
  };
  for (size_t m = 0; m < std::min<size_t>(kRingWindow, receives.size()); ++m) post(m);
  for (size_t m = 0; m < receives.size(); ++m) {
    comm.wait(posted[m % kRingWindow]);
    if (m + kRingWindow < receives.size()) post(m + kRingWindow);
    if (receives[m].step < p - 2) send_piece(receives[m]);
  }
  comm.wait_all(sends);
}

}  // namespace loom::comm
