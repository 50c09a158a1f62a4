// Collective plan: an all-reduce written out as what every rank does, step by step. The buffer
// of `bytes` is cut into chunks (named by their index); every rank holds a `data` buffer (its
// contribution in, the result out) and may use a `scratch` buffer of the same layout. Each rank
// has an ordered list of operations:
//   send        chunks [first, first + count) of `buffer` to `peer`
//   recv        the same chunks from `peer`, overwriting `buffer`
//   recv_reduce the same chunks from `peer`, added into `buffer`
//   copy        chunks from the other buffer into `buffer` (data -> scratch or scratch -> data)
// Operations of one rank with the same `step` run concurrently; steps run in increasing order. A
// step reads its sources as they were when it began and applies its receives and copies when all
// its operations are done, so a step may send and receive the same chunks. The k-th send from a
// to b matches the k-th receive on b from a, over the same chunks.
//
// JSON (docs/gentree.md):
//   {"version": 1, "collective": "all_reduce", "algorithm": "ring", "topology": "single-switch-4",
//    "ranks": 4, "element_bytes": 4, "chunks": [256, 256, 256, 256],
//    "ops": [[{"step": 0, "op": "send", "peer": 1, "chunks": [0, 1]},
//             {"step": 0, "op": "recv_reduce", "peer": 3, "chunks": [3, 1]}, ...], ...]}
// "chunks" of an op is [first, count]; "buffer": "scratch" appears only when not data.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace loom::topo {

enum class PlanOpKind : uint8_t { send, recv, recv_reduce, copy };
enum class PlanBuffer : uint8_t { data, scratch };

struct PlanOp {
  PlanOpKind kind = PlanOpKind::send;
  PlanBuffer buffer = PlanBuffer::data;  // send: read; recv, recv_reduce: written; copy: written
  int32_t step = 0;
  int32_t peer = -1;  // send and receives; -1 for copy
  int32_t first_chunk = 0;
  int32_t chunk_count = 0;

  bool operator==(const PlanOp&) const = default;
};

struct CollectivePlan {
  std::string algorithm;  // the generator that wrote it (informational)
  std::string topology;   // the topology's name (informational)
  int ranks = 1;
  int element_bytes = 4;                 // every chunk is a whole number of elements
  std::vector<int64_t> chunk_bytes;      // chunk i follows chunk i - 1; together they are the buffer
  std::vector<std::vector<PlanOp>> ops;  // per rank, in order

  int64_t bytes() const;
  std::vector<int64_t> chunk_offsets() const;  // chunks + 1 entries
  int64_t range_bytes(int first_chunk, int chunk_count) const;
  int steps() const;  // one more than the largest step of any rank (0 for an empty plan)
  size_t op_count() const;

  bool operator==(const CollectivePlan&) const = default;
};

std::string plan_op_kind_name(PlanOpKind kind);

// One parser (load_plan streams files through a fast path beside it), one writer (the validator
// is plan_validator.h). Parse errors are one line naming the rank, the op index, the field and
// what would be valid.
CollectivePlan plan_from_json(const nlohmann::json& document, const std::string& origin);
nlohmann::json plan_to_json(const CollectivePlan& plan);
// Parses and validates. Streams the file without building the document; a file that is not a
// valid plan goes through plan_from_json, so its errors are plan_from_json's.
CollectivePlan load_plan(const std::string& path);
// load_plan's fast path alone: fills `plan` from the file and returns true, or returns false
// (`plan` partly filled) where it does not accept the file: everything plan_from_json rejects,
// and a repeated key. No validation, no error.
bool read_plan_streaming(const std::string& path, CollectivePlan& plan);
void write_plan(const CollectivePlan& plan, const std::string& path);  // temporary file, renamed

// Even cut of `bytes` into `chunks` chunks of whole elements (the first ones one element larger
// where it does not divide; zero-byte chunks where there are more chunks than elements).
std::vector<int64_t> even_chunks(int64_t bytes, int chunks, int element_bytes);

}  // namespace loom::topo
