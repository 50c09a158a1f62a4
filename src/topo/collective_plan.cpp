// Collective plan: the plan's sizes, its one JSON parser and writer, and the even chunk cut.
// Parsing checks each field's type and form (a whole number, a known op name, a [first, count]
// pair); how the fields fit together (peers in range, chunks inside the buffer, steps in order)
// is the validator's one pass (plan_validator.cpp), which load_plan runs after parsing. Plans
// reach millions of ops, so the op loop compares keys in place instead of building strings, and
// load_plan streams the file through a SAX reader that fills the plan without the document; where
// the reader meets anything it does not accept, plan_from_json (the reference) reads the file and
// gives the error.
#include "topo/collective_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string_view>

#include "core/error.h"
#include "core/json_file.h"
#include "topo/plan_validator.h"

namespace loom::topo {

using nlohmann::json;

int64_t CollectivePlan::bytes() const {
  return std::accumulate(chunk_bytes.begin(), chunk_bytes.end(), int64_t{0});
}

std::vector<int64_t> CollectivePlan::chunk_offsets() const {
  std::vector<int64_t> offsets(chunk_bytes.size() + 1, 0);
  for (size_t i = 0; i < chunk_bytes.size(); ++i) offsets[i + 1] = offsets[i] + chunk_bytes[i];
  return offsets;
}

int64_t CollectivePlan::range_bytes(int first_chunk, int chunk_count) const {
  int64_t total = 0;
  for (int i = first_chunk; i < first_chunk + chunk_count; ++i) total += chunk_bytes[size_t(i)];
  return total;
}

int CollectivePlan::steps() const {
  int last = -1;
  for (const auto& rank_ops : ops)
    for (const PlanOp& op : rank_ops) last = std::max(last, int(op.step));
  return last + 1;
}

size_t CollectivePlan::op_count() const {
  size_t count = 0;
  for (const auto& rank_ops : ops) count += rank_ops.size();
  return count;
}

std::string plan_op_kind_name(PlanOpKind kind) {
  switch (kind) {
    case PlanOpKind::send:
      return "send";
    case PlanOpKind::recv:
      return "recv";
    case PlanOpKind::recv_reduce:
      return "recv_reduce";
    case PlanOpKind::copy:
      return "copy";
  }
  return "unknown";
}

namespace {

constexpr const char* kOpNames = "send, recv, recv_reduce, copy";

// The operation and the buffer a name stands for; false for a name that is neither.
bool op_kind_named(const std::string& name, PlanOpKind& kind) {
  for (PlanOpKind k : {PlanOpKind::send, PlanOpKind::recv, PlanOpKind::recv_reduce, PlanOpKind::copy}) {
    if (name == plan_op_kind_name(k)) {
      kind = k;
      return true;
    }
  }
  return false;
}

bool buffer_named(const std::string& name, PlanBuffer& buffer) {
  if (name != "data" && name != "scratch") return false;
  buffer = name == "data" ? PlanBuffer::data : PlanBuffer::scratch;
  return true;
}

const json& required_field(const json& object, const char* key, const std::string& where, const char* valid) {
  const auto found = object.find(key);
  if (found == object.end()) throw_user_error("{} {} is missing (valid: {})", where, key, valid);
  return *found;
}

// A whole number in [low, high]; `path` names the field in the message.
int64_t whole_number(const json& value, const std::string& path, int64_t low, int64_t high, const std::string& where,
                     const char* valid) {
  int64_t number = 0;
  if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(high)) {
    throw_user_error("{} {}={} is out of range (valid: {})", where, path, value.dump(), valid);
  } else if (value.is_number_integer()) {
    number = value.get<int64_t>();
  } else if (value.is_number_float()) {
    const double real = value.get<double>();
    if (!(real == std::floor(real) && std::abs(real) < 9e18))
      throw_user_error("{} {}={} must be a whole number (valid: {})", where, path, value.dump(), valid);
    number = int64_t(real);
  } else {
    throw_user_error("{} {}={} must be a whole number (valid: {})", where, path, value.dump(), valid);
  }
  if (number < low || number > high)
    throw_user_error("{} {}={} is out of range (valid: {})", where, path, value.dump(), valid);
  return number;
}

std::string string_value(const json& value, const std::string& path, const std::string& where) {
  if (!value.is_string()) throw_user_error("{} {}={} must be a string", where, path, value.dump());
  return value.get<std::string>();
}

void reject_unknown_top_level(const json& document, const std::string& where) {
  static constexpr std::string_view known[] = {"version", "collective",    "algorithm", "topology",
                                               "ranks",   "element_bytes", "chunks",    "ops"};
  for (const auto& item : document.items()) {
    if (std::find(std::begin(known), std::end(known), item.key()) == std::end(known))
      throw_user_error(
          "{} {} is not a known field (valid: version, collective, algorithm, topology, ranks, "
          "element_bytes, chunks, ops)",
          where, json(item.key()).dump());
  }
}

std::string op_path(size_t rank, size_t index, const char* field) {
  return fmt::format("ops[{}][{}].{}", rank, index, field);
}

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

PlanOp parse_op(const json& item, size_t rank, size_t index, const std::string& where) {
  if (!item.is_object())
    throw_user_error(
        "{} ops[{}][{}]={} must be an object (valid: {{\"step\", \"op\", \"peer\", \"chunks\": "
        "[first, count], \"buffer\"}})",
        where, rank, index, item.dump());
  PlanOp op;
  bool has_step = false, has_op = false, has_peer = false, has_chunks = false;
  for (auto it = item.begin(); it != item.end(); ++it) {
    const std::string& key = it.key();
    const json& value = it.value();
    if (key == "step") {
      op.step = int32_t(whole_number(value, op_path(rank, index, "step"), 0, kInt32Max, where, "a step >= 0"));
      has_step = true;
    } else if (key == "op") {
      if (!value.is_string())
        throw_user_error("{} {}={} must be a string (valid: {})", where, op_path(rank, index, "op"), value.dump(),
                         kOpNames);
      if (!op_kind_named(value.get_ref<const std::string&>(), op.kind)) {
        throw_user_error("{} {}={} is not an operation (valid: {})", where, op_path(rank, index, "op"), value.dump(),
                         kOpNames);
      }
      has_op = true;
    } else if (key == "peer") {
      op.peer = int32_t(whole_number(value, op_path(rank, index, "peer"), 0, kInt32Max, where, "a rank >= 0"));
      has_peer = true;
    } else if (key == "chunks") {
      if (!value.is_array() || value.size() != 2)
        throw_user_error("{} {}={} must be [first, count] (valid: first >= 0, count >= 1)", where,
                         op_path(rank, index, "chunks"), value.dump());
      op.first_chunk = int32_t(
          whole_number(value[0], op_path(rank, index, "chunks[0]"), 0, kInt32Max, where, "the first chunk, >= 0"));
      op.chunk_count = int32_t(
          whole_number(value[1], op_path(rank, index, "chunks[1]"), 1, kInt32Max, where, "the number of chunks, >= 1"));
      has_chunks = true;
    } else if (key == "buffer") {
      if (!value.is_string())
        throw_user_error("{} {}={} must be a string (valid: data, scratch)", where, op_path(rank, index, "buffer"),
                         value.dump());
      if (!buffer_named(value.get_ref<const std::string&>(), op.buffer)) {
        throw_user_error("{} {}={} is not a buffer (valid: data, scratch)", where, op_path(rank, index, "buffer"),
                         value.dump());
      }
    } else {
      throw_user_error("{} ops[{}][{}].{} is not a known field (valid: step, op, peer, chunks, buffer)", where, rank,
                       index, json(key).dump());
    }
  }
  if (!has_step) throw_user_error("{} {} is missing (valid: a step >= 0)", where, op_path(rank, index, "step"));
  if (!has_op) throw_user_error("{} {} is missing (valid: {})", where, op_path(rank, index, "op"), kOpNames);
  if (!has_chunks) throw_user_error("{} {} is missing (valid: [first, count])", where, op_path(rank, index, "chunks"));
  if (op.kind == PlanOpKind::copy && has_peer)
    throw_user_error("{} {}={} is not allowed on a copy (a copy stays on its rank)", where,
                     op_path(rank, index, "peer"), op.peer);
  if (op.kind != PlanOpKind::copy && !has_peer)
    throw_user_error("{} {} is missing (valid: the other rank of this {})", where, op_path(rank, index, "peer"),
                     plan_op_kind_name(op.kind));
  return op;
}

}  // namespace

CollectivePlan plan_from_json(const json& document, const std::string& origin) {
  const std::string& where = origin;
  if (!document.is_object()) throw_user_error("{} must be a JSON object (a collective plan, docs/gentree.md)", where);
  reject_unknown_top_level(document, where);
  const int64_t version = whole_number(required_field(document, "version", where, "1"), "version", 1,
                                       std::numeric_limits<int64_t>::max(), where, "1");
  if (version != 1) throw_user_error("{} version={} is not supported (valid: 1)", where, version);
  const std::string collective =
      string_value(required_field(document, "collective", where, "all_reduce"), "collective", where);
  if (collective != "all_reduce")
    throw_user_error("{} collective={} is not supported (valid: all_reduce)", where, json(collective).dump());

  CollectivePlan plan;
  if (document.contains("algorithm")) plan.algorithm = string_value(document.at("algorithm"), "algorithm", where);
  if (document.contains("topology")) plan.topology = string_value(document.at("topology"), "topology", where);
  plan.ranks = int(whole_number(required_field(document, "ranks", where, "a rank count >= 1"), "ranks", 1, kInt32Max,
                                where, "a rank count >= 1"));
  plan.element_bytes = int(whole_number(required_field(document, "element_bytes", where, "bytes per element >= 1"),
                                        "element_bytes", 1, kInt32Max, where, "bytes per element >= 1"));

  const json& chunks = required_field(document, "chunks", where, "a list of chunk sizes in bytes");
  if (!chunks.is_array())
    throw_user_error("{} chunks={} must be a list of chunk sizes in bytes", where, chunks.dump().substr(0, 80));
  plan.chunk_bytes.reserve(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i)
    plan.chunk_bytes.push_back(whole_number(chunks[i], fmt::format("chunks[{}]", i), 0,
                                            std::numeric_limits<int64_t>::max(), where, "bytes >= 0"));

  const json& ops = required_field(document, "ops", where, "one list of operations per rank");
  if (!ops.is_array()) throw_user_error("{} ops must be a list with one list of operations per rank", where);
  plan.ops.resize(ops.size());
  for (size_t rank = 0; rank < ops.size(); ++rank) {
    const json& rank_ops = ops[rank];
    if (!rank_ops.is_array())
      throw_user_error("{} ops[{}] must be a list of operations (valid: [] for a rank with none)", where, rank);
    plan.ops[rank].reserve(rank_ops.size());
    for (size_t index = 0; index < rank_ops.size(); ++index)
      plan.ops[rank].push_back(parse_op(rank_ops[index], rank, index, where));
  }
  return plan;
}

json plan_to_json(const CollectivePlan& plan) {
  json ops = json::array();
  for (const auto& rank_ops : plan.ops) {
    json list = json::array();
    list.get_ref<json::array_t&>().reserve(rank_ops.size());
    for (const PlanOp& op : rank_ops) {
      json item = json::object();
      item["step"] = op.step;
      item["op"] = plan_op_kind_name(op.kind);
      if (op.kind != PlanOpKind::copy) item["peer"] = op.peer;
      item["chunks"] = {op.first_chunk, op.chunk_count};
      if (op.buffer == PlanBuffer::scratch) item["buffer"] = "scratch";
      list.push_back(std::move(item));
    }
    ops.push_back(std::move(list));
  }
  return {{"version", 1},
          {"collective", "all_reduce"},
          {"algorithm", plan.algorithm},
          {"topology", plan.topology},
          {"ranks", plan.ranks},
          {"element_bytes", plan.element_bytes},
          {"chunks", plan.chunk_bytes},
          {"ops", std::move(ops)}};
}

namespace {

// load_plan's fast path: a SAX handler that fills the plan while the parser reads, with
// plan_from_json's rules field by field (types, whole numbers and their ranges, known and
// required fields, no peer on a copy). It accepts only documents plan_from_json accepts, and
// gives the same plan; at anything else (a syntax error, a wrong type, a repeated key) it stops,
// and load_plan reads the file again through plan_from_json, whose error is the message. So the
// messages have one source, and a file the fast path does not know is still read right.
class PlanSaxReader final : public nlohmann::json_sax<json> {
 public:
  explicit PlanSaxReader(CollectivePlan& plan) : plan_(plan) {}

  // True once the whole top-level object was accepted.
  bool complete() const { return place_ == Place::done; }

  bool null() override { return false; }
  bool boolean(bool /*value*/) override { return false; }
  bool binary(binary_t& /*value*/) override { return false; }
  bool number_integer(number_integer_t value) override { return whole(value); }
  bool number_unsigned(number_unsigned_t value) override {
    // Above int64's range is above every field's range.
    return value <= uint64_t(std::numeric_limits<int64_t>::max()) && whole(int64_t(value));
  }
  bool number_float(number_float_t value, const string_t& /*text*/) override {
    // whole_number's rule: a float counts where it is whole and below 9e18.
    return value == std::floor(value) && std::abs(value) < 9e18 && whole(int64_t(value));
  }
  bool string(string_t& value) override;
  bool start_object(std::size_t /*elements*/) override;
  bool key(string_t& name) override;
  bool end_object() override;
  bool start_array(std::size_t /*elements*/) override;
  bool end_array() override;
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*error*/) override {
    return false;
  }

 private:
  // Where the next event lands.
  enum class Place : uint8_t { document, top, chunk_sizes, rank_lists, rank_ops, op, op_pair, done };
  // Fields by their index in kTopKeys and kOpKeys; seen fields are bits (1 << index).
  static constexpr std::string_view kTopKeys[] = {"version", "collective",    "algorithm", "topology",
                                                  "ranks",   "element_bytes", "chunks",    "ops"};
  enum TopField : uint8_t {
    top_version,
    top_collective,
    top_algorithm,
    top_topology,
    top_ranks,
    top_element_bytes,
    top_chunks,
    top_ops
  };
  static constexpr std::string_view kOpKeys[] = {"step", "op", "peer", "chunks", "buffer"};
  enum OpField : uint8_t { op_step, op_kind, op_peer, op_chunks, op_buffer };

  static bool in_range(int64_t value, int64_t low, int64_t high) { return value >= low && value <= high; }
  // Looks `name` up in `keys`; false for an unknown or repeated one (the DOM keeps the last of a
  // repeated key, so that file goes the DOM's way).
  template <size_t N>
  static bool take_key(const std::string_view (&keys)[N], const std::string& name, unsigned& seen, uint8_t& field) {
    const auto found = std::find(std::begin(keys), std::end(keys), name);
    if (found == std::end(keys)) return false;
    field = uint8_t(found - std::begin(keys));
    if (seen & (1u << field)) return false;
    seen |= 1u << field;
    return true;
  }
  bool whole(int64_t value);

  CollectivePlan& plan_;
  Place place_ = Place::document;
  unsigned top_seen_ = 0;
  uint8_t top_field_ = 0;  // the field whose value comes next
  PlanOp op_;
  unsigned op_seen_ = 0;
  uint8_t op_field_ = 0;
  int op_chunk_values_ = 0;  // values read of the op's [first, count]
};

bool PlanSaxReader::whole(int64_t value) {
  switch (place_) {
    case Place::top:
      if (top_field_ == top_version) return value == 1;
      if (top_field_ != top_ranks && top_field_ != top_element_bytes) return false;
      if (!in_range(value, 1, kInt32Max)) return false;
      (top_field_ == top_ranks ? plan_.ranks : plan_.element_bytes) = int(value);
      return true;
    case Place::chunk_sizes:
      if (value < 0) return false;
      plan_.chunk_bytes.push_back(value);
      return true;
    case Place::op:
      if (op_field_ != op_step && op_field_ != op_peer) return false;
      if (!in_range(value, 0, kInt32Max)) return false;
      (op_field_ == op_step ? op_.step : op_.peer) = int32_t(value);
      return true;
    case Place::op_pair:
      if (op_chunk_values_ >= 2) return false;
      if (!in_range(value, op_chunk_values_ == 0 ? 0 : 1, kInt32Max)) return false;  // first >= 0, count >= 1
      (op_chunk_values_ == 0 ? op_.first_chunk : op_.chunk_count) = int32_t(value);
      ++op_chunk_values_;
      return true;
    default:
      return false;
  }
}

bool PlanSaxReader::string(string_t& value) {
  if (place_ == Place::top) {
    if (top_field_ == top_collective) return value == "all_reduce";
    if (top_field_ != top_algorithm && top_field_ != top_topology) return false;
    (top_field_ == top_algorithm ? plan_.algorithm : plan_.topology) = std::move(value);
    return true;
  }
  if (place_ != Place::op) return false;
  if (op_field_ == op_kind) return op_kind_named(value, op_.kind);
  return op_field_ == op_buffer && buffer_named(value, op_.buffer);
}

bool PlanSaxReader::start_object(std::size_t /*elements*/) {
  if (place_ == Place::document) {
    place_ = Place::top;
    return true;
  }
  if (place_ != Place::rank_ops) return false;
  op_ = PlanOp{};
  op_seen_ = 0;
  place_ = Place::op;
  return true;
}

bool PlanSaxReader::key(string_t& name) {
  if (place_ == Place::top) return take_key(kTopKeys, name, top_seen_, top_field_);
  return place_ == Place::op && take_key(kOpKeys, name, op_seen_, op_field_);
}

bool PlanSaxReader::end_object() {
  if (place_ == Place::top) {
    constexpr unsigned required = 1u << top_version | 1u << top_collective | 1u << top_ranks | 1u << top_element_bytes |
                                  1u << top_chunks | 1u << top_ops;
    if ((top_seen_ & required) != required) return false;
    place_ = Place::done;
    return true;
  }
  if (place_ != Place::op) return false;
  constexpr unsigned required = 1u << op_step | 1u << op_kind | 1u << op_chunks;
  const bool has_peer = (op_seen_ & (1u << op_peer)) != 0;
  if ((op_seen_ & required) != required || has_peer == (op_.kind == PlanOpKind::copy)) return false;
  plan_.ops.back().push_back(op_);
  place_ = Place::rank_ops;
  return true;
}

bool PlanSaxReader::start_array(std::size_t /*elements*/) {
  switch (place_) {
    case Place::top:
      if (top_field_ != top_chunks && top_field_ != top_ops) return false;
      place_ = top_field_ == top_chunks ? Place::chunk_sizes : Place::rank_lists;
      return true;
    case Place::rank_lists:
      // Ranks of one plan mostly hold as many ops as each other: the last rank's count is a
      // good first size.
      plan_.ops.emplace_back().reserve(plan_.ops.size() > 1 ? plan_.ops[plan_.ops.size() - 2].size() : 0);
      place_ = Place::rank_ops;
      return true;
    case Place::op:
      if (op_field_ != op_chunks) return false;
      op_chunk_values_ = 0;
      place_ = Place::op_pair;
      return true;
    default:
      return false;
  }
}

bool PlanSaxReader::end_array() {
  switch (place_) {
    case Place::chunk_sizes:
    case Place::rank_lists:
      place_ = Place::top;
      return true;
    case Place::rank_ops:
      place_ = Place::rank_lists;
      return true;
    case Place::op_pair:
      place_ = Place::op;
      return op_chunk_values_ == 2;
    default:
      return false;
  }
}

}  // namespace

bool read_plan_streaming(const std::string& path, CollectivePlan& plan) {
  std::ifstream in(path);
  if (!in) return false;
  PlanSaxReader reader(plan);
  try {
    // Not strict, as read_json_file: what follows the top-level object is not read.
    return json::sax_parse(in, &reader, json::input_format_t::json, /*strict=*/false) && reader.complete();
  } catch (const std::ios_base::failure&) {
    return false;  // a read that fails (a folder): read_json_file meets it again and reports it
  }
}

CollectivePlan load_plan(const std::string& path) {
  const std::string where = "[" + path + "]";
  CollectivePlan plan;
  if (!read_plan_streaming(path, plan)) {
    plan = CollectivePlan{};  // the partial plan's memory goes before the document is built
    plan = plan_from_json(read_json_file(path, "collective plan file, docs/gentree.md"), where);
  }
  validate_plan(plan, where);
  return plan;
}

// The file holds plan_to_json's fields with one op per line, streamed without building the
// document: a plan of millions of ops stays readable, diffable and quick to write.
void write_plan(const CollectivePlan& plan, const std::string& path) {
  validate_plan(plan, "[" + path + "]");
  write_file_atomically(path, [&](std::ostream& out) {
    std::string text = fmt::format(
        "{{\n  \"version\": 1,\n  \"collective\": \"all_reduce\",\n  \"algorithm\": {},\n  \"topology\": {},\n  "
        "\"ranks\": {},\n  \"element_bytes\": {},\n  \"chunks\": {},\n  \"ops\": [",
        json(plan.algorithm).dump(), json(plan.topology).dump(), plan.ranks, plan.element_bytes,
        json(plan.chunk_bytes).dump());
    for (size_t rank = 0; rank < plan.ops.size(); ++rank) {
      text += rank == 0 ? "\n    [" : ",\n    [";
      const auto& ops = plan.ops[rank];
      for (size_t index = 0; index < ops.size(); ++index) {
        const PlanOp& op = ops[index];
        fmt::format_to(std::back_inserter(text), "{}\n      {{\"step\": {}, \"op\": \"{}\"", index == 0 ? "" : ",",
                       op.step, plan_op_kind_name(op.kind));
        if (op.kind != PlanOpKind::copy) fmt::format_to(std::back_inserter(text), ", \"peer\": {}", op.peer);
        fmt::format_to(std::back_inserter(text), ", \"chunks\": [{}, {}]", op.first_chunk, op.chunk_count);
        text += op.buffer == PlanBuffer::scratch ? ", \"buffer\": \"scratch\"}" : "}";
        if (text.size() > (1 << 20)) {
          out << text;
          text.clear();
        }
      }
      text += ops.empty() ? "]" : "\n    ]";
    }
    text += plan.ops.empty() ? "]\n}\n" : "\n  ]\n}\n";
    out << text;
  });
}

std::vector<int64_t> even_chunks(int64_t bytes, int chunks, int element_bytes) {
  if (chunks < 1) throw_user_error("[plan] chunks={} must be >= 1", chunks);
  if (element_bytes < 1) throw_user_error("[plan] element_bytes={} must be >= 1", element_bytes);
  if (bytes < 0 || bytes % element_bytes != 0)
    throw_user_error("[plan] bytes={} must be a non-negative multiple of element_bytes={}", bytes, element_bytes);
  const int64_t elements = bytes / element_bytes;
  std::vector<int64_t> sizes(static_cast<size_t>(chunks));
  for (int i = 0; i < chunks; ++i)
    sizes[size_t(i)] = (elements / chunks + (i < elements % chunks ? 1 : 0)) * element_bytes;
  return sizes;
}

}  // namespace loom::topo
