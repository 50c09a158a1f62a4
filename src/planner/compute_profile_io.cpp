// The "compute" section of the profile file: parser, validator, writer, and the whole document
// with both sections.
#include "planner/compute_profile_io.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <tuple>

#include "core/error.h"

namespace loom::planner {

namespace {

// The largest whole number a field may hold (2^53, exact in a JSON double), and the largest count.
constexpr double kLargestWholeNumber = 9007199254740992.0;
constexpr double kLargestCount = 1000000.0;

const char* const kBlockFields[] = {"samples",
                                    "tp",
                                    "sequence_parallel",
                                    "forward_s",
                                    "backward_s",
                                    "kept_bytes",
                                    "recompute_kept_bytes",
                                    "transient_bytes",
                                    "recompute_transient_bytes"};
const char* const kVocabFields[] = {"samples", "vocab_tp", "forward_s", "backward_s", "kept_bytes", "transient_bytes"};
const char* const kSectionFields[] = {"source",
                                      "model",
                                      "seq",
                                      "threads",
                                      "concurrent_ranks",
                                      "block",
                                      "embedding",
                                      "head",
                                      "optimizer_s_per_parameter",
                                      "collective_overhead_s",
                                      "tp_collectives_measured_up_to"};

template <size_t N>
void reject_unknown_fields(const nlohmann::json& object, const std::string& path, const char* const (&known)[N],
                           const std::string& where) {
  for (const auto& item : object.items()) {
    if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return item.key() == k; }) ==
        std::end(known)) {
      // Dumped as JSON so that a stray newline in a key cannot break the one-line message.
      throw_user_error("{} {}.{} is not a known field (valid: {})", where, path, nlohmann::json(item.key()).dump(),
                       fmt::join(std::begin(known), std::end(known), ", "));
    }
  }
}

const nlohmann::json& required(const nlohmann::json& object, const std::string& path, const char* key,
                               const std::string& where) {
  if (!object.contains(key)) throw_user_error("{} {}.{} is missing", where, path, key);
  return object.at(key);
}

double number_field(const nlohmann::json& object, const std::string& path, const char* key, const char* valid,
                    const std::string& where) {
  const nlohmann::json& value = required(object, path, key, where);
  if (!value.is_number()) throw_user_error("{} {}.{}={} must be a number ({})", where, path, key, value.dump(), valid);
  return value.get<double>();
}

// A whole number from `smallest` to `largest` (the conversion to an integer type is safe after it).
double whole_field(const nlohmann::json& object, const std::string& path, const char* key, double smallest,
                   double largest, const char* valid, const std::string& where) {
  const double value = number_field(object, path, key, valid, where);
  if (value != std::floor(value) || value < smallest || value > largest)
    throw_user_error("{} {}.{}={} must be a whole number from {} to {} ({})", where, path, key, object.at(key).dump(),
                     static_cast<int64_t>(smallest), static_cast<int64_t>(largest), valid);
  return value;
}

bool bool_field(const nlohmann::json& object, const std::string& path, const char* key, const std::string& where) {
  const nlohmann::json& value = required(object, path, key, where);
  if (!value.is_boolean()) throw_user_error("{} {}.{}={} must be true or false", where, path, key, value.dump());
  return value.get<bool>();
}

// "[p.json]" -> "p.json compute.model", the origin the model config's own errors print in brackets.
std::string model_origin(const std::string& where) {
  std::string inner = where;
  if (inner.size() >= 2 && inner.front() == '[' && inner.back() == ']') inner = inner.substr(1, inner.size() - 2);
  return inner + " compute.model";
}

std::vector<ComputeMeasurement> parse_entries(const nlohmann::json& section, const char* key, bool block,
                                              const std::string& where) {
  const std::string list_path = fmt::format("compute.{}", key);
  const nlohmann::json& list = required(section, "compute", key, where);
  if (!list.is_array())
    throw_user_error("{} {} must be a list of measured points, got {}", where, list_path, list.dump().substr(0, 40));
  std::vector<ComputeMeasurement> entries;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = fmt::format("{}[{}]", list_path, i);
    const nlohmann::json& item = list[i];
    if (!item.is_object()) throw_user_error("{} {} must be an object", where, path);
    if (block) {
      reject_unknown_fields(item, path, kBlockFields, where);
    } else {
      reject_unknown_fields(item, path, kVocabFields, where);
    }
    ComputeMeasurement m;
    m.samples = number_field(item, path, "samples", "sequences per micro-batch, > 0", where);
    m.tp = static_cast<int>(whole_field(item, path, block ? "tp" : "vocab_tp", 1, kLargestCount,
                                        block ? "tensor-parallel degree" : "vocab-parallel degree", where));
    m.sequence_parallel = block && bool_field(item, path, "sequence_parallel", where);
    m.cost.forward_s = number_field(item, path, "forward_s", "seconds", where);
    m.cost.backward_s = number_field(item, path, "backward_s", "seconds", where);
    m.cost.kept_bytes =
        static_cast<int64_t>(whole_field(item, path, "kept_bytes", 0, kLargestWholeNumber, "bytes", where));
    m.cost.transient_bytes =
        static_cast<int64_t>(whole_field(item, path, "transient_bytes", 0, kLargestWholeNumber, "bytes", where));
    m.cost.recompute_kept_bytes = block ? static_cast<int64_t>(whole_field(item, path, "recompute_kept_bytes", 0,
                                                                           kLargestWholeNumber, "bytes", where))
                                        : m.cost.kept_bytes;  // never recomputed
    // Files from before the field: one transient for both (the larger, as they were measured).
    if (block) {
      m.cost.recompute_transient_bytes = item.contains("recompute_transient_bytes")
                                             ? static_cast<int64_t>(whole_field(item, path, "recompute_transient_bytes",
                                                                                0, kLargestWholeNumber, "bytes", where))
                                             : m.cost.transient_bytes;
    }
    entries.push_back(m);
  }
  return entries;
}

void check_time(double value, const std::string& path, const std::string& where) {
  if (!std::isfinite(value) || value < 0.0)
    throw_user_error("{} {}={} must be >= 0 and finite (seconds)", where, path, value);
}

void check_bytes(int64_t value, const std::string& path, const std::string& where) {
  if (value < 0 || double(value) > kLargestWholeNumber)
    throw_user_error("{} {}={} must be from 0 to 2^53 (bytes)", where, path, value);
}

void validate_entries(const MeasuredCompute& compute, const std::vector<ComputeMeasurement>& entries, const char* key,
                      bool block, const std::string& where) {
  if (entries.empty())
    throw_user_error("{} compute.{} is empty (needs at least one measured point; run loom profile)", where, key);
  const nn::ModelConfig& model = compute.model;
  const char* tp_name = block ? "tp" : "vocab_tp";
  std::set<std::tuple<int, bool, double>> seen;
  for (size_t i = 0; i < entries.size(); ++i) {
    const ComputeMeasurement& m = entries[i];
    const std::string path = fmt::format("compute.{}[{}]", key, i);
    if (!std::isfinite(m.samples) || m.samples <= 0.0 || m.samples > kLargestCount)
      throw_user_error("{} {}.samples={} must be > 0 and at most {} (sequences per micro-batch)", where, path,
                       m.samples, int64_t(kLargestCount));
    if (m.tp < 1 || m.tp > kLargestCount)
      throw_user_error("{} {}.{}={} must be from 1 to {}", where, path, tp_name, m.tp, int64_t(kLargestCount));
    if (block) {
      if (model.heads % m.tp != 0 || model.kv_heads % m.tp != 0 || model.ffn_hidden % m.tp != 0)
        throw_user_error(
            "{} {}.tp={} does not divide the model's heads={}, kv_heads={} and ffn_hidden={} (valid: {})", where, path,
            m.tp, model.heads, model.kv_heads, model.ffn_hidden,
            fmt::join(nn::divisors(std::gcd(std::gcd(model.heads, model.kv_heads), model.ffn_hidden)), ", "));
      if (m.sequence_parallel && m.tp == 1)
        throw_user_error("{} {}.sequence_parallel=true needs tp > 1 (valid with tp=1: false)", where, path);
      if (m.sequence_parallel && compute.seq % m.tp != 0)
        throw_user_error("{} {}.sequence_parallel=true needs seq={} divisible by tp={}", where, path, compute.seq,
                         m.tp);
    } else {
      if (m.sequence_parallel) throw_user_error("{} {} has sequence parallelism (valid only for blocks)", where, path);
      if (m.cost.recompute_kept_bytes != m.cost.kept_bytes)
        throw_user_error("{} {}: recompute_kept_bytes={} differs from kept_bytes={} (the {} is never recomputed)",
                         where, path, m.cost.recompute_kept_bytes, m.cost.kept_bytes, key);
    }
    if (!seen.insert({m.tp, m.sequence_parallel, m.samples}).second)
      throw_user_error("{} {} repeats samples={} for {}={}{} (one point each)", where, path, m.samples, tp_name, m.tp,
                       m.sequence_parallel ? " with sequence parallelism" : "");
    check_time(m.cost.forward_s, path + ".forward_s", where);
    check_time(m.cost.backward_s, path + ".backward_s", where);
    check_bytes(m.cost.kept_bytes, path + ".kept_bytes", where);
    check_bytes(m.cost.recompute_kept_bytes, path + ".recompute_kept_bytes", where);
    check_bytes(m.cost.transient_bytes, path + ".transient_bytes", where);
    check_bytes(m.cost.recompute_transient_bytes, path + ".recompute_transient_bytes", where);
  }
}

nlohmann::json entries_to_json(const std::vector<ComputeMeasurement>& entries, bool block) {
  nlohmann::json list = nlohmann::json::array();
  for (const ComputeMeasurement& m : entries) {
    nlohmann::json entry = {{"samples", m.samples}};
    if (block) {
      entry["tp"] = m.tp;
      entry["sequence_parallel"] = m.sequence_parallel;
    } else {
      entry["vocab_tp"] = m.tp;
    }
    entry["forward_s"] = m.cost.forward_s;
    entry["backward_s"] = m.cost.backward_s;
    entry["kept_bytes"] = m.cost.kept_bytes;
    if (block) entry["recompute_kept_bytes"] = m.cost.recompute_kept_bytes;
    entry["transient_bytes"] = m.cost.transient_bytes;
    if (block) entry["recompute_transient_bytes"] = m.cost.recompute_transient_bytes;
    list.push_back(entry);
  }
  return list;
}

nlohmann::json read_document(const std::string& path, const std::string& where) {
  std::ifstream in(path);
  if (!in) throw_user_error("{} cannot be opened (a profile written by loom profile)", where);
  nlohmann::json document;
  try {
    in >> document;
  } catch (const nlohmann::json::parse_error& e) {
    throw_user_error("{} is not valid JSON: {}", where, e.what());
  }
  return document;
}

}  // namespace

MeasuredCompute measured_compute_from_json(const nlohmann::json& document, const std::string& where) {
  if (!document.is_object()) throw_user_error("{} must hold a JSON object (a profile document)", where);
  if (!document.contains("version"))
    throw_user_error("{} version is missing (valid: {})", where, comm::CommProfile::kVersion);
  if (document.at("version") != comm::CommProfile::kVersion)
    throw_user_error("{} version={} is not supported (valid: {})", where, document.at("version").dump(),
                     comm::CommProfile::kVersion);
  if (!document.contains("compute"))
    throw_user_error("{} has no compute section; run loom profile --model NAME --seq T to measure one", where);
  const nlohmann::json& section = document.at("compute");
  if (!section.is_object()) throw_user_error("{} compute must be an object", where);
  reject_unknown_fields(section, "compute", kSectionFields, where);

  MeasuredCompute compute;
  if (section.contains("source")) {
    if (!section.at("source").is_string())
      throw_user_error("{} compute.source={} must be a string", where, section.at("source").dump());
    compute.source = section.at("source").get<std::string>();
  }
  const nlohmann::json& model = required(section, "compute", "model", where);
  if (!model.is_object())
    throw_user_error("{} compute.model must be a Loom model config object (docs/planner-inputs.md)", where);
  compute.model = nn::parse_model_config(model, model_origin(where));
  compute.seq = static_cast<int64_t>(
      whole_field(section, "compute", "seq", 1, kLargestWholeNumber, "tokens per sequence", where));
  compute.threads =
      static_cast<int>(whole_field(section, "compute", "threads", 1, kLargestCount, "threads per rank", where));
  compute.concurrent_ranks = static_cast<int>(
      whole_field(section, "compute", "concurrent_ranks", 1, kLargestCount, "ranks measuring at once", where));
  compute.block = parse_entries(section, "block", true, where);
  compute.embedding = parse_entries(section, "embedding", false, where);
  compute.head = parse_entries(section, "head", false, where);
  compute.optimizer_s_per_parameter =
      number_field(section, "compute", "optimizer_s_per_parameter", "seconds per parameter", where);
  if (section.contains("tp_collectives_measured_up_to"))
    compute.tp_collectives_measured_up_to = static_cast<int>(
        whole_field(section, "compute", "tp_collectives_measured_up_to", 1, kLargestCount, "a TP degree", where));
  if (section.contains("collective_overhead_s"))
    compute.collective_overhead_s =
        number_field(section, "compute", "collective_overhead_s", "seconds per collective", where);
  validate_measured_compute(compute, where);
  return compute;
}

void validate_measured_compute(const MeasuredCompute& compute, const std::string& where) {
  nn::validate_model_config(compute.model, model_origin(where));
  if (compute.seq < 1 || compute.seq > compute.model.seq_len)
    throw_user_error("{} compute.seq={} must be from 1 to the model's seq_len={}", where, compute.seq,
                     compute.model.seq_len);
  if (compute.threads < 1 || compute.threads > kLargestCount)
    throw_user_error("{} compute.threads={} must be from 1 to {}", where, compute.threads, int64_t(kLargestCount));
  if (compute.concurrent_ranks < 1 || compute.concurrent_ranks > kLargestCount)
    throw_user_error("{} compute.concurrent_ranks={} must be from 1 to {}", where, compute.concurrent_ranks,
                     int64_t(kLargestCount));
  validate_entries(compute, compute.block, "block", true, where);
  validate_entries(compute, compute.embedding, "embedding", false, where);
  validate_entries(compute, compute.head, "head", false, where);
  if (!std::isfinite(compute.collective_overhead_s) || compute.collective_overhead_s < 0.0)
    throw_user_error("{} compute.collective_overhead_s={} must be >= 0 and finite (seconds per collective)", where,
                     compute.collective_overhead_s);
  if (!std::isfinite(compute.optimizer_s_per_parameter) || compute.optimizer_s_per_parameter <= 0.0)
    throw_user_error("{} compute.optimizer_s_per_parameter={} must be > 0 and finite (seconds per parameter)", where,
                     compute.optimizer_s_per_parameter);
}

nlohmann::json measured_compute_to_json(const MeasuredCompute& compute) {
  return {{"source", compute.source},
          {"model", nn::model_config_to_json(compute.model)},
          {"seq", compute.seq},
          {"threads", compute.threads},
          {"concurrent_ranks", compute.concurrent_ranks},
          {"block", entries_to_json(compute.block, true)},
          {"embedding", entries_to_json(compute.embedding, false)},
          {"head", entries_to_json(compute.head, false)},
          {"optimizer_s_per_parameter", compute.optimizer_s_per_parameter},
          {"collective_overhead_s", compute.collective_overhead_s},
          {"tp_collectives_measured_up_to", compute.tp_collectives_measured_up_to}};
}

MeasuredCompute read_measured_compute(const std::string& path) {
  const std::string where = "[" + path + "]";
  return measured_compute_from_json(read_document(path, where), where);
}

MeasuredComputeProfile read_measured_compute_profile(const std::string& path) {
  return MeasuredComputeProfile(read_measured_compute(path), path);
}

void write_profile(const std::string& path, const comm::CommProfile& comm, const MeasuredCompute* compute) {
  const std::string where = "[" + path + "]";
  comm::validate_comm_profile(comm, where);
  nlohmann::json document = comm::comm_profile_to_json(comm);
  if (compute != nullptr) {
    validate_measured_compute(*compute, where);
    document["compute"] = measured_compute_to_json(*compute);
  }
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    if (!out) throw_user_error("{} cannot be written (temporary file {})", where, temporary);
    out << document.dump(2) << "\n";
    out.close();
    if (!out) throw_user_error("{} writing {} failed", where, temporary);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw_user_error("{} cannot rename {} into place", where, temporary);
  }
}

}  // namespace loom::planner
