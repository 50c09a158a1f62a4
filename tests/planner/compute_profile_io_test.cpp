// The "compute" section of the profile file: one-line errors naming the field, the value and
// what is valid, and a write/read round trip of a document that also holds "comm".
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "comm/comm_profile.h"
#include "core/error.h"
#include "planner/compute_profile_io.h"
#include "test_support.h"

namespace {

using loom::UserError;
using loom::planner::ComputeMeasurement;
using loom::planner::MeasuredCompute;
using loom::testing_support::unique_temp_path;

ComputeMeasurement point(double samples, int tp, bool sp, int64_t kept, int64_t recompute_kept) {
  ComputeMeasurement m;
  m.samples = samples;
  m.tp = tp;
  m.sequence_parallel = sp;
  m.cost = {1e-3 * samples / tp, 2.5e-3 * samples / tp, kept, recompute_kept, 4096};
  return m;
}

MeasuredCompute small_compute() {
  MeasuredCompute c;
  c.source = "unit test";
  c.model.name = "small";
  c.model.hidden = 64;
  c.model.heads = 4;
  c.model.kv_heads = 4;
  c.model.ffn_hidden = 256;
  c.model.vocab_size = 256;
  c.model.seq_len = 32;
  c.seq = 16;
  c.threads = 2;
  c.concurrent_ranks = 3;
  for (int tp : {1, 2}) {
    c.block.push_back(point(1, tp, false, 100000 / tp, 4096));
    c.block.push_back(point(2, tp, false, 200000 / tp, 8192));
  }
  c.block.push_back(point(1, 2, true, 40000, 2048));
  c.embedding.push_back(point(1, 1, false, 8192, 8192));
  c.head.push_back(point(1, 1, false, 12345, 12345));
  c.head.push_back(point(2, 1, false, 24690, 24690));
  c.optimizer_s_per_parameter = 3.5e-9;
  return c;
}

nlohmann::json small_document() {
  nlohmann::json document = loom::comm::comm_profile_to_json(loom::comm::builtin_comm_profile());
  document["compute"] = loom::planner::measured_compute_to_json(small_compute());
  return document;
}

// The error of parsing the small document after `edit`.
std::string parse_error(const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json document = small_document();
  edit(document);
  try {
    loom::planner::measured_compute_from_json(document, "[p.json]");
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
  return "no error";
}

TEST(MeasuredProfileFile, TheSmallDocumentParses) {
  const MeasuredCompute parsed = loom::planner::measured_compute_from_json(small_document(), "[p.json]");
  EXPECT_EQ(parsed.block, small_compute().block);
  // Embedding and head entries carry no recompute_kept_bytes: it reads back as kept_bytes.
  EXPECT_EQ(parsed.head.at(1).cost.recompute_kept_bytes, 24690);
}

TEST(MeasuredProfileFile, UnknownKeysAreRejected) {
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["frobnicate"] = 1; }),
            "[p.json] compute.\"frobnicate\" is not a known field (valid: source, model, seq, threads, "
            "concurrent_ranks, block, embedding, head, optimizer_s_per_parameter, collective_overhead_s, "
            "tp_collectives_measured_up_to)");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["block"][1]["speed"] = 1; }),
            "[p.json] compute.block[1].\"speed\" is not a known field (valid: samples, tp, sequence_parallel, "
            "forward_s, backward_s, kept_bytes, recompute_kept_bytes, transient_bytes, recompute_transient_bytes)");
  // Sequence parallelism is a block matter: the embedding's entries do not know it.
  EXPECT_NE(parse_error([](auto& d) {
              d["compute"]["embedding"][0]["sequence_parallel"] = false;
            }).find("compute.embedding[0].\"sequence_parallel\" is not a known field (valid: samples, vocab_tp,"),
            std::string::npos);
  EXPECT_EQ(parse_error([](auto& d) {
              d["compute"]["model"]["depth"] = 3;
            }).rfind("[p.json compute.model] unknown field 'depth'", 0),
            0u);
}

TEST(MeasuredProfileFile, BadValuesNameTheFieldTheValueAndWhatIsValid) {
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["block"][0]["forward_s"] = -1; }),
            "[p.json] compute.block[0].forward_s=-1 must be >= 0 and finite (seconds)");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["head"][0]["backward_s"] = "fast"; }),
            "[p.json] compute.head[0].backward_s=\"fast\" must be a number (seconds)");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["block"][2]["kept_bytes"] = 1.5; }),
            "[p.json] compute.block[2].kept_bytes=1.5 must be a whole number from 0 to 9007199254740992 (bytes)");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["block"][0]["tp"] = 3; }),
            "[p.json] compute.block[0].tp=3 does not divide the model's heads=4, kv_heads=4 and ffn_hidden=256 "
            "(valid: 1, 2, 4)");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["block"][1]["samples"] = 1; }),
            "[p.json] compute.block[1] repeats samples=1 for tp=1 (one point each)");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["block"][0]["sequence_parallel"] = true; }),
            "[p.json] compute.block[0].sequence_parallel=true needs tp > 1 (valid with tp=1: false)");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["seq"] = 0; }),
            "[p.json] compute.seq=0 must be a whole number from 1 to 9007199254740992 (tokens per sequence)");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["seq"] = 64; }),
            "[p.json] compute.seq=64 must be from 1 to the model's seq_len=32");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["head"] = nlohmann::json::array(); }),
            "[p.json] compute.head is empty (needs at least one measured point; run loom profile)");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"]["optimizer_s_per_parameter"] = 0; }),
            "[p.json] compute.optimizer_s_per_parameter=0 must be > 0 and finite (seconds per parameter)");
  EXPECT_EQ(parse_error([](auto& d) { d["compute"].erase("threads"); }), "[p.json] compute.threads is missing");
  EXPECT_EQ(parse_error([](auto& d) { d["version"] = 2; }), "[p.json] version=2 is not supported (valid: 1)");
}

TEST(MeasuredProfileFile, MissingComputeSectionSaysHowToMeasureOne) {
  EXPECT_EQ(parse_error([](auto& d) { d.erase("compute"); }),
            "[p.json] has no compute section; run loom profile --model NAME --seq T to measure one");
}

TEST(MeasuredProfileFile, WriteThenReadGivesTheSameProfileBesideTheCommSection) {
  const std::string path = unique_temp_path("measured_profile.json");
  const MeasuredCompute compute = small_compute();
  const loom::comm::CommProfile& comm = loom::comm::builtin_comm_profile();
  loom::planner::write_profile(path, comm, &compute);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  const MeasuredCompute read = loom::planner::read_measured_compute(path);
  EXPECT_EQ(loom::planner::measured_compute_to_json(read), loom::planner::measured_compute_to_json(compute));
  EXPECT_EQ(read.block, compute.block);
  EXPECT_EQ(read.embedding, compute.embedding);
  EXPECT_EQ(read.head, compute.head);
  EXPECT_EQ(read.optimizer_s_per_parameter, compute.optimizer_s_per_parameter);
  EXPECT_EQ(read.seq, 16);
  EXPECT_EQ(read.threads, 2);
  EXPECT_EQ(read.concurrent_ranks, 3);
  EXPECT_EQ(read.model.name, "small");
  // The comm section stays readable by its own reader.
  EXPECT_EQ(loom::comm::read_comm_profile(path).intra_node.size(), comm.intra_node.size());
  const loom::planner::MeasuredComputeProfile profile = loom::planner::read_measured_compute_profile(path);
  EXPECT_EQ(profile.head(1.5, 1).kept_bytes, 18518);  // 12345 + 12345 / 2 = 18517.5

  // Without a compute section the file is a comm profile only.
  loom::planner::write_profile(path, comm, nullptr);
  try {
    loom::planner::read_measured_compute(path);
    ADD_FAILURE() << "read a compute section that was not written";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "[" + path + "] has no compute section; run loom profile --model NAME --seq T to measure one");
  }
  std::remove(path.c_str());
}

TEST(MeasuredProfileFile, AnInvalidProfileIsNotWritten) {
  const std::string path = unique_temp_path("invalid_profile.json");
  std::remove(path.c_str());
  MeasuredCompute compute = small_compute();
  compute.block[0].cost.backward_s = -2.0;
  EXPECT_THROW(loom::planner::write_profile(path, loom::comm::builtin_comm_profile(), &compute), UserError);
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
