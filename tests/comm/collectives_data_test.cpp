// Reduce-scatter, all-gather, broadcast, reduce and all-to-all over the thread transport, each
// algorithm called directly and through the public entry (which picks by size), against
// closed-form answers.
//
// What the matrix covers: every algorithm x ranks 1-9, 13, 16; inside each, counts 0, 1, 7,
// 1000 x every dtype (x every op for the reducing ones; the rooted ones cycle through roots 0,
// p/2 and p-1), then about 2^20 elements in f32 (sum) through the public entry and through each algorithm
// it does not pick at that size. The ring and chain also run with 64-byte segments at the small
// counts, so blocks travel in many pipelined pieces.
#include <gtest/gtest.h>

#include <functional>

#include "collective_values.h"
#include "comm/collective_algorithms.h"
#include "comm/collectives.h"
#include "comm/reduce_kernels.h"
#include "comm/thread_transport.h"

namespace loom::comm {
namespace {

using namespace loom::comm::testing;

struct Shape {
  size_t count;  // per rank for reduce_scatter, all_gather and all_to_all
  DType dtype;
  ReduceOp op;
  int root;
};

// The algorithm functions skip begin_operation and avg; the tests supply both, as the
// dispatcher does.
void begin(Communicator& comm, const std::string& what) {
  comm.begin_operation("test " + what);
}

template <typename T>
std::vector<T> filled(size_t count, const std::function<int64_t(size_t)>& value) {
  std::vector<T> data(count);
  for (size_t i = 0; i < count; ++i) data[i] = from_integer<T>(value(i));
  return data;
}

template <typename T>
std::string run_reduce_scatter(Communicator& comm, const Shape& s, int algorithm) {
  const int p = comm.size(), r = comm.rank();
  const std::vector<T> send = filled<T>(s.count * p, [&](size_t j) { return contribution(s.dtype, r, j); });
  std::vector<T> recv(s.count);
  if (algorithm == 0) {
    reduce_scatter(comm, send.data(), recv.data(), s.count, s.dtype, {AllReduceAlgorithm::automatic, s.op});
  } else {
    begin(comm, "reduce_scatter");
    if (algorithm == 1) reduce_scatter_ring(comm, send.data(), recv.data(), s.count, s.dtype, s.op, size_t{1} << 20);
    if (algorithm == 2) reduce_scatter_ring(comm, send.data(), recv.data(), s.count, s.dtype, s.op, 64);
    if (algorithm == 3) reduce_scatter_pairwise(comm, send.data(), recv.data(), s.count, s.dtype, s.op);
    if (s.op == ReduceOp::avg) finish_average(recv.data(), s.count, s.dtype, p);
  }
  return first_mismatch(recv, [&](size_t i) { return expected_reduction<T>(s.dtype, s.op, p, r * s.count + i); });
}

template <typename T>
std::string run_all_gather(Communicator& comm, const Shape& s, int algorithm) {
  const int p = comm.size(), r = comm.rank();
  const std::vector<T> send = filled<T>(s.count, [&](size_t i) { return pattern(s.dtype, r, i); });
  std::vector<T> recv(s.count * p);
  if (algorithm == 0) {
    all_gather(comm, send.data(), recv.data(), s.count, s.dtype);
  } else {
    begin(comm, "all_gather");
    if (algorithm == 1) all_gather_ring(comm, send.data(), recv.data(), s.count, s.dtype, size_t{1} << 20);
    if (algorithm == 2) all_gather_ring(comm, send.data(), recv.data(), s.count, s.dtype, 64);
    if (algorithm == 3) all_gather_recursive_doubling(comm, send.data(), recv.data(), s.count, s.dtype);
  }
  return first_mismatch(
      recv, [&](size_t j) { return from_integer<T>(pattern(s.dtype, static_cast<int>(j / s.count), j % s.count)); });
}

template <typename T>
std::string run_broadcast(Communicator& comm, const Shape& s, int algorithm) {
  const int r = comm.rank();
  std::vector<T> data = filled<T>(s.count, [&](size_t i) { return r == s.root ? pattern(s.dtype, r, i) : -1; });
  if (algorithm == 0) {
    broadcast(comm, data.data(), s.count, s.dtype, s.root);
  } else {
    begin(comm, "broadcast");
    if (algorithm == 1) broadcast_binomial(comm, data.data(), s.count, s.dtype, s.root);
    if (algorithm == 2) broadcast_chain(comm, data.data(), s.count, s.dtype, s.root, size_t{1} << 20);
    if (algorithm == 3) broadcast_chain(comm, data.data(), s.count, s.dtype, s.root, 64);
  }
  return first_mismatch(data, [&](size_t i) { return from_integer<T>(pattern(s.dtype, s.root, i)); });
}

template <typename T>
std::string run_reduce(Communicator& comm, const Shape& s, int algorithm) {
  const int p = comm.size(), r = comm.rank();
  const std::vector<T> send = filled<T>(s.count, [&](size_t i) { return contribution(s.dtype, r, i); });
  std::vector<T> recv(r == s.root ? s.count : 0);
  if (algorithm == 0) {
    reduce(comm, send.data(), recv.empty() ? nullptr : recv.data(), s.count, s.dtype, s.root,
           {AllReduceAlgorithm::automatic, s.op});
  } else {
    begin(comm, "reduce");
    reduce_binomial(comm, send.data(), recv.empty() ? nullptr : recv.data(), s.count, s.dtype, s.op, s.root);
    if (s.op == ReduceOp::avg && r == s.root) finish_average(recv.data(), s.count, s.dtype, p);
  }
  return first_mismatch(recv, [&](size_t i) { return expected_reduction<T>(s.dtype, s.op, p, i); });
}

template <typename T>
std::string run_all_to_all(Communicator& comm, const Shape& s, int algorithm) {
  const int p = comm.size(), r = comm.rank();
  const std::vector<T> send = filled<T>(s.count * p, [&](size_t j) { return pattern(s.dtype, r, j); });
  std::vector<T> recv(s.count * p);
  if (algorithm == 0) {
    all_to_all(comm, send.data(), recv.data(), s.count, s.dtype);
  } else {
    begin(comm, "all_to_all");
    all_to_all_pairwise(comm, send.data(), recv.data(), s.count, s.dtype);
  }
  // Block j of my recv is block r of rank j's send.
  return first_mismatch(recv, [&](size_t j) {
    return from_integer<T>(pattern(s.dtype, static_cast<int>(j / s.count), r * s.count + j % s.count));
  });
}

enum class Kind { reduce_scatter, all_gather, broadcast, reduce, all_to_all };

// One variant of one collective.
struct Variant {
  std::string name;
  Kind kind = Kind::reduce_scatter;
  int algorithm = 0;
  bool reduces = false;       // iterate over reduce ops
  bool rooted = false;        // iterate over roots
  bool power_of_two = false;  // only where p is a power of two
  // Not at 2^20: with 64-byte segments that would be 10^5 messages per rank, and where the public
  // entry runs this very algorithm at 2^20 the check would be a repeat.
  bool small_only = false;
};

const std::vector<Variant>& variants() {
  // algorithm 0 is the public entry (which picks by size); the others call one algorithm.
  static const std::vector<Variant> all{
      {.name = "reduce_scatter", .kind = Kind::reduce_scatter, .algorithm = 0, .reduces = true},
      {.name = "reduce_scatter_ring",
       .kind = Kind::reduce_scatter,
       .algorithm = 1,
       .reduces = true,
       .small_only = true},
      {.name = "reduce_scatter_ring_seg64",
       .kind = Kind::reduce_scatter,
       .algorithm = 2,
       .reduces = true,
       .small_only = true},
      {.name = "reduce_scatter_pairwise", .kind = Kind::reduce_scatter, .algorithm = 3, .reduces = true},
      {.name = "all_gather", .kind = Kind::all_gather, .algorithm = 0},
      {.name = "all_gather_ring", .kind = Kind::all_gather, .algorithm = 1, .small_only = true},
      {.name = "all_gather_ring_seg64", .kind = Kind::all_gather, .algorithm = 2, .small_only = true},
      {.name = "all_gather_recursive_doubling", .kind = Kind::all_gather, .algorithm = 3, .power_of_two = true},
      {.name = "broadcast", .kind = Kind::broadcast, .algorithm = 0, .rooted = true},
      {.name = "broadcast_binomial", .kind = Kind::broadcast, .algorithm = 1, .rooted = true},
      {.name = "broadcast_chain", .kind = Kind::broadcast, .algorithm = 2, .rooted = true, .small_only = true},
      {.name = "broadcast_chain_seg64", .kind = Kind::broadcast, .algorithm = 3, .rooted = true, .small_only = true},
      {.name = "reduce", .kind = Kind::reduce, .algorithm = 0, .reduces = true, .rooted = true},
      {.name = "reduce_binomial",
       .kind = Kind::reduce,
       .algorithm = 1,
       .reduces = true,
       .rooted = true,
       .small_only = true},
      {.name = "all_to_all", .kind = Kind::all_to_all, .algorithm = 0},
      {.name = "all_to_all_pairwise", .kind = Kind::all_to_all, .algorithm = 1, .small_only = true},
  };
  return all;
}

std::string run_variant(Communicator& comm, const Variant& variant, const Shape& s) {
  std::string error;
  visit_dtype(s.dtype, [&]<typename T>() {
    switch (variant.kind) {
      case Kind::reduce_scatter:
        error = run_reduce_scatter<T>(comm, s, variant.algorithm);
        break;
      case Kind::all_gather:
        error = run_all_gather<T>(comm, s, variant.algorithm);
        break;
      case Kind::broadcast:
        error = run_broadcast<T>(comm, s, variant.algorithm);
        break;
      case Kind::reduce:
        error = run_reduce<T>(comm, s, variant.algorithm);
        break;
      case Kind::all_to_all:
        error = run_all_to_all<T>(comm, s, variant.algorithm);
        break;
    }
  });
  return error;
}

struct Param {
  size_t variant;
  int ranks;
};

class Collective : public ::testing::TestWithParam<Param> {};

TEST_P(Collective, ClosedFormOverCountsDtypesOpsAndRoots) {
  const Variant& variant = variants()[GetParam().variant];
  const int p = GetParam().ranks;
  auto check = [&](Communicator& comm, const Shape& shape) {
    const std::string error = run_variant(comm, variant, shape);
    if (!error.empty()) {
      ADD_FAILURE() << variant.name << " p=" << p << " rank " << comm.rank() << " count " << shape.count << " "
                    << dtype_name(shape.dtype) << " " << reduce_op_name(shape.op) << " root " << shape.root << ": "
                    << error;
    }
  };
  // Rooted collectives take turns among three roots (first, middle, last) across the cases, so
  // each root meets every count, and every dtype and op meet several roots.
  const std::vector<int> roots = variant.rooted ? std::vector<int>{0, p / 2, p - 1} : std::vector<int>{0};
  const std::vector<ReduceOp> ops = variant.reduces ? test_ops() : std::vector<ReduceOp>{ReduceOp::sum};
  run_ranks(p, [&](Communicator& comm) {
    size_t turn = 0;
    for (size_t count : small_counts())
      for (DType dtype : test_dtypes())
        for (ReduceOp op : ops) check(comm, {count, dtype, op, roots[turn++ % roots.size()]});
    if (variant.small_only) return;
    // About 2^20 elements in all (per-rank counts for the block collectives).
    const bool blocked = variant.kind != Kind::broadcast && variant.kind != Kind::reduce;
    check(comm, {blocked ? kLargeCount / static_cast<size_t>(p) + 1 : kLargeCount, DType::f32, ReduceOp::sum, p - 1});
  });
}

std::vector<Param> every_variant_and_rank_count() {
  std::vector<Param> params;
  for (size_t v = 0; v < variants().size(); ++v)
    for (int ranks : test_rank_counts())
      if (!variants()[v].power_of_two || (ranks & (ranks - 1)) == 0) params.push_back({v, ranks});
  return params;
}

INSTANTIATE_TEST_SUITE_P(Collectives, Collective, ::testing::ValuesIn(every_variant_and_rank_count()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return variants()[info.param.variant].name + "_p" + std::to_string(info.param.ranks);
                         });

TEST(CollectiveErrors, RootOutsideTheGroupIsRejected) {
  try {
    ThreadWorld::run(1, [](Communicator& comm) {
      int64_t value = 0;
      broadcast(comm, &value, 1, DType::i64, 4);
    });
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "broadcast on group 'world' (rank 0 of 1): root 4 is not a rank of this group (valid: 0 to 0)");
  }
}

TEST(CollectiveErrors, OverlappingAllToAllBuffersAreRejected) {
  try {
    ThreadWorld::run(1, [](Communicator& comm) {
      std::vector<float> data(8);
      all_to_all(comm, data.data(), data.data() + 2, 4, DType::f32);
    });
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("send and recv buffers overlap"), std::string::npos) << e.what();
  }
}

TEST(CollectiveErrors, AllGatherInPlaceFromTheOwnBlock) {
  ThreadWorld::run(3, [](Communicator& comm) {
    std::vector<int32_t> data(6, -1);
    data[2 * comm.rank()] = comm.rank();
    data[2 * comm.rank() + 1] = 10 * comm.rank();
    all_gather(comm, data.data() + 2 * comm.rank(), data.data(), 2, DType::i32);
    EXPECT_EQ(data, (std::vector<int32_t>{0, 0, 1, 10, 2, 20}));
  });
}

}  // namespace
}  // namespace loom::comm
