// The shared_memory all-reduce (see the header for the idea).
//
// Staged path, per chunk s (pipelined through kSlots slots in every rank's slice):
//   copy in:  wait until every rank released the slot's previous chunk; copy the parts of the
//             chunk that the other ranks reduce into my slot; publish arrived = s + 1.
//   reduce:   wait for every rank's arrival; reduce my part from my buffer and the peers' slots
//             into my buffer and my slot; publish reduced = s + 1.
//   copy out: wait for every rank's reduction; copy each peer's reduced part from its slot into
//             my buffer; publish released = s + 1.
// Per rank and byte of the message that is (p-1)/p copied in, 1 read to reduce, (p-1)/p copied
// out; with chunks that stay in cache the buffer is read from memory once and written once.
// Messages of at most kSmallBytes take one step: all ranks copy in everything and every rank
// reduces the whole message, one wait instead of three.
//
// In-segment path (data in my slice of a shared buffer): arrive; every rank reduces its part of
// the whole message across all slices and writes the result into all of them; then waits until
// every rank has done so. No copies.
#include "comm/allreduce_shared_memory.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "comm/shared_buffer.h"
#include "comm/shared_memory_reduce.h"

namespace loom::comm {
namespace {

// Chunks of 256 KiB keep a chunk's slots and buffer in the 1 MiB L2. With more ranks than cores
// every wait is a context switch, so chunks grow to 1 MiB (a quarter of the waits). Four slots
// let a rank run a chunk ahead.
constexpr size_t kChunkBytes = size_t{256} << 10;
constexpr size_t kOversubscribedChunkBytes = size_t{1} << 20;
constexpr size_t kSlotBytes = kOversubscribedChunkBytes;
constexpr uint64_t kSlots = 4;
constexpr size_t kSmallBytes = size_t{32} << 10;

// Control words (SharedSegment::load/store), each counting chunks (staged) or operations.
constexpr int kArrived = 0;
constexpr int kReduced = 1;
constexpr int kReleased = 2;
constexpr int kOffset = 3;  // in-segment path: where the data starts in the slice

// True when the node's group has more ranks than the machine has processors. Every rank of the
// group sees the same machine, so all choose the same chunk size.
bool oversubscribed(int group_size) {
  static const unsigned processors = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(group_size) > processors;
}

// One spin-wait step: tells the core that this is a busy wait (frees resources for the sibling
// hyper-thread and saves power).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Waits until control word `word` of every rank is at least `target`; past comm.timeout() the
// communicator fails, naming the ranks that have not arrived.
void wait_for_all(Communicator& comm, const SharedSegment& segment, int word, uint64_t target, const char* phase) {
  const int size = segment.size();
  int rank = 0;
  while (rank < size && segment.load(rank, word) >= target) ++rank;
  if (rank == size) return;
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  // More ranks than cores: a spinning rank holds the core the awaited one needs, so yield soon.
  const bool background = background_thread();
  const int spins_before_yield = oversubscribed(size) || background ? 16 : 512;
  const auto sleep_after = background ? std::chrono::microseconds(200) : std::chrono::microseconds(20000);
  for (uint64_t round = 1;; ++round) {
    while (rank < size && segment.load(rank, word) >= target) ++rank;
    if (rank == size) return;
    if (round < static_cast<uint64_t>(spins_before_yield)) {
      cpu_relax();
      continue;
    }
    sched_yield();
    if ((round & (background ? 7 : 63)) != 0) continue;
    const auto waited = clock::now() - start;
    if (waited > comm.timeout()) {
      std::vector<int> missing;
      for (int r = 0; r < size; ++r)
        if (segment.load(r, word) < target) missing.push_back(r);
      comm.fail(fmt::format("{} on group '{}' (rank {} of {}): timed out after {:.1f} s waiting for rank{} {} "
                            "(shared-memory {})",
                            comm.operation(), comm.name(), comm.rank(), comm.size(),
                            std::chrono::duration<double>(waited).count(), missing.size() == 1 ? "" : "s",
                            fmt::join(missing, ", "), phase),
                missing);
    }
    if (waited > sleep_after) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// Elements [begin, end) of a chunk of `count` that rank `part` reduces: equal shares rounded
// to whole cache lines, so no two ranks write the same line.
struct Part {
  size_t begin, end;
};
Part part_of(size_t count, int part, int size, size_t element_bytes) {
  const size_t line = 64 / element_bytes;
  const size_t share = ((count + static_cast<size_t>(size) - 1) / static_cast<size_t>(size) + line - 1) / line * line;
  const size_t begin = std::min(count, share * static_cast<size_t>(part));
  return {begin, std::min(count, begin + share)};
}

void all_reduce_staged(Communicator& comm, SharedSegment& segment, char* data, size_t count, DType dtype, ReduceOp op) {
  const size_t element_bytes = dtype_size_bytes(dtype);
  const int size = segment.size();
  const int me = segment.rank();
  const uint64_t first = segment.load(me, kReleased);  // chunks this segment has carried so far
  auto slot = [&](int rank, uint64_t sequence) {
    return static_cast<char*>(segment.slice(rank)) + (sequence % kSlots) * kSlotBytes;
  };
  std::vector<const void*> inputs(static_cast<size_t>(size));
  auto wait_slot_free = [&](uint64_t sequence) {
    if (sequence >= kSlots) wait_for_all(comm, segment, kReleased, sequence + 1 - kSlots, "slot reuse");
  };

  if (count * element_bytes <= kSmallBytes) {
    wait_slot_free(first);
    std::memcpy(slot(me, first), data, count * element_bytes);
    segment.store(kArrived, first + 1);
    wait_for_all(comm, segment, kArrived, first + 1, "arrival");
    inputs[0] = data;
    for (int r = 0, k = 1; r < size; ++r)
      if (r != me) inputs[static_cast<size_t>(k++)] = slot(r, first);
    void* outputs[1] = {data};
    reduce_many(inputs.data(), size, outputs, 1, count, dtype, op, size);
    segment.store(kReleased, first + 1);
    return;
  }

  const size_t chunk_elements = (oversubscribed(size) ? kOversubscribedChunkBytes : kChunkBytes) / element_bytes;
  const uint64_t chunks = (count + chunk_elements - 1) / chunk_elements;
  auto chunk_data = [&](uint64_t k) { return data + k * chunk_elements * element_bytes; };
  auto chunk_count = [&](uint64_t k) { return std::min(chunk_elements, count - k * chunk_elements); };
  auto copy_in = [&](uint64_t k) {
    const uint64_t sequence = first + k;
    wait_slot_free(sequence);
    char* mine = slot(me, sequence);
    for (int r = 0; r < size; ++r) {
      if (r == me) continue;
      const Part p = part_of(chunk_count(k), r, size, element_bytes);
      std::memcpy(mine + p.begin * element_bytes, chunk_data(k) + p.begin * element_bytes,
                  (p.end - p.begin) * element_bytes);
    }
    segment.store(kArrived, sequence + 1);
  };
  copy_in(0);
  for (uint64_t k = 0; k < chunks; ++k) {
    const uint64_t sequence = first + k;
    if (k + 1 < chunks) copy_in(k + 1);
    // Reduce my part.
    wait_for_all(comm, segment, kArrived, sequence + 1, "arrival");
    const Part own = part_of(chunk_count(k), me, size, element_bytes);
    const size_t offset = own.begin * element_bytes;
    inputs[0] = chunk_data(k) + offset;
    for (int r = 0, j = 1; r < size; ++r)
      if (r != me) inputs[static_cast<size_t>(j++)] = slot(r, sequence) + offset;
    void* outputs[2] = {chunk_data(k) + offset, slot(me, sequence) + offset};
    if (own.end > own.begin) {
      reduce_many(inputs.data(), size, outputs, 2, own.end - own.begin, dtype, op, size);
    }
    segment.store(kReduced, sequence + 1);
    // Copy the others' reduced parts out.
    wait_for_all(comm, segment, kReduced, sequence + 1, "reduction");
    for (int r = 0; r < size; ++r) {
      if (r == me) continue;
      const Part p = part_of(chunk_count(k), r, size, element_bytes);
      std::memcpy(chunk_data(k) + p.begin * element_bytes, slot(r, sequence) + p.begin * element_bytes,
                  (p.end - p.begin) * element_bytes);
    }
    segment.store(kReleased, sequence + 1);
  }
}

void all_reduce_in_segment(Communicator& comm, SharedSegment& segment, char* data, size_t count, DType dtype,
                           ReduceOp op) {
  const size_t element_bytes = dtype_size_bytes(dtype);
  const int size = segment.size();
  const int me = segment.rank();
  const uint64_t offset = static_cast<uint64_t>(data - static_cast<char*>(segment.slice(me)));
  const uint64_t sequence = segment.load(me, kArrived);
  segment.store(kOffset, offset);
  segment.store(kArrived, sequence + 1);
  wait_for_all(comm, segment, kArrived, sequence + 1, "arrival");
  // A peer cannot move on to its next operation before I publish `reduced`, so its offset is stable.
  for (int r = 0; r < size; ++r) {
    if (segment.load(r, kOffset) != offset) {
      comm.fail(
          fmt::format("{} on group '{}' (rank {} of {}): shared buffer at offset {} on rank {}, but {} on rank {}",
                      comm.operation(), comm.name(), comm.rank(), comm.size(), offset, me, segment.load(r, kOffset), r),
          {r});
    }
  }
  const Part own = part_of(count, me, size, element_bytes);
  if (own.end > own.begin) {
    std::vector<const void*> inputs;
    std::vector<void*> outputs;
    for (int r = 0; r < size; ++r) {
      char* at = static_cast<char*>(segment.slice(r)) + offset + own.begin * element_bytes;
      inputs.push_back(at);
      outputs.push_back(at);
    }
    reduce_many(inputs.data(), size, outputs.data(), size, own.end - own.begin, dtype, op, size);
  }
  segment.store(kReduced, sequence + 1);
  wait_for_all(comm, segment, kReduced, sequence + 1, "reduction");
}

}  // namespace

void all_reduce_shared_memory(Communicator& comm, void* data, size_t count, DType dtype, ReduceOp op) {
  // As every algorithm here: avg runs as a sum, the dispatcher divides once.
  if (op == ReduceOp::avg) op = ReduceOp::sum;
  if (comm.size() == 1 || count == 0) return;
  if (!comm.single_node()) {
    throw_user_error(
        "all-reduce algorithm 'shared_memory' needs a group on one node; '{}' spans {} nodes (valid: "
        "hierarchical, ring, ...)",
        comm.name(), comm.node_count());
  }
  const size_t bytes = count * dtype_size_bytes(dtype);
  // Small messages go through staging even from a shared buffer: one wait instead of two.
  std::shared_ptr<SharedSegment> segment = bytes > kSmallBytes ? find_shared_segment(comm, data, bytes) : nullptr;
  if (segment != nullptr) {
    all_reduce_in_segment(comm, *segment, static_cast<char*>(data), count, dtype, op);
    return;
  }
  SharedSegment* staging = comm.staging_segment(kSlots * kSlotBytes);
  if (staging == nullptr) {
    throw_user_error(
        "all-reduce algorithm 'shared_memory' needs shared memory; the {} transport of group '{}' has "
        "none",
        comm.transport().kind(), comm.name());
  }
  all_reduce_staged(comm, *staging, static_cast<char*>(data), count, dtype, op);
}

size_t shared_memory_staging_bytes() {
  return SharedSegment::slice_bytes(kSlots * kSlotBytes);
}

}  // namespace loom::comm
