// load_plan's streaming reader against the reference beside it (plan_from_json over
// read_json_file): every generator's file, over odd rank counts and awkward sizes, loads to the
// plan the DOM path reads and the plan that was written; every malformed file gives the DOM
// path's error, word for word, and the streaming reader alone accepts none of them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json_file.h"
#include "test_support.h"
#include "topo/collective_plan.h"
#include "topo/generators.h"
#include "topo/plan_validator.h"
#include "topo/topology_generators.h"

namespace loom::topo {
namespace {

// The UserError's message; other exceptions are told apart (every bad file must give a
// UserError).
std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const UserError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a UserError: ") + e.what();
  }
  return "no error";
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// The reference: the whole document, then plan_from_json, then the validator, as load_plan did
// before it streamed.
CollectivePlan load_plan_through_document(const std::string& path) {
  const std::string where = "[" + path + "]";
  CollectivePlan plan = plan_from_json(read_json_file(path, "collective plan file, docs/gentree.md"), where);
  validate_plan(plan, where);
  return plan;
}

// `text` with the first `from` replaced by `to` (a test failure where there is none).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no " << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::vector<Network> networks() {
  std::vector<Network> all;
  for (int hosts : {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16}) all.emplace_back(single_switch_topology(hosts));
  all.emplace_back(single_switch_topology(3, 2));  // hosts of two devices: two-level plans
  all.emplace_back(leaf_spine_topology(2, 3));
  return all;
}

TEST(TopoPlanLoad, EveryGeneratorsFileStreamsToThePlanTheDocumentGives) {
  const std::string path = testing_support::unique_temp_path("plan_load_generators.json");
  for (const Network& network : networks()) {
    for (const std::string& algorithm : plan_algorithm_names()) {
      for (int64_t bytes : {0, 4, 28, 4000, 1 << 20}) {
        SCOPED_TRACE(fmt::format("{} on {} bytes={}", algorithm, network.topology().name, bytes));
        const CollectivePlan plan = generate_plan(algorithm, network, bytes);
        write_plan(plan, path);
        CollectivePlan streamed;
        EXPECT_TRUE(read_plan_streaming(path, streamed));
        const CollectivePlan reference = load_plan_through_document(path);
        EXPECT_EQ(streamed, reference);
        EXPECT_EQ(reference, plan);
        EXPECT_EQ(load_plan(path), plan);
      }
    }
  }
}

TEST(TopoPlanLoad, CopiesScratchOtherElementSizesAndEscapedNamesStream) {
  const std::string path = testing_support::unique_temp_path("plan_load_hand.json");
  std::vector<CollectivePlan> plans = {generate_ring(5, 4000, 2), generate_rabenseifner(6, 4000, 8),
                                       generate_double_binary_tree(7, 1 << 20, 4, 3)};
  plans[1].ops[0].insert(plans[1].ops[0].begin(), PlanOp{PlanOpKind::copy, PlanBuffer::scratch, 0, -1, 0, 1});
  plans[2].algorithm = "";
  plans[2].topology = "a \"quoted\"\tname \xC3\xA9\\";
  for (const CollectivePlan& plan : plans) {
    SCOPED_TRACE(plan.algorithm);
    write_plan(plan, path);
    CollectivePlan streamed;
    EXPECT_TRUE(read_plan_streaming(path, streamed));
    EXPECT_EQ(streamed, plan);
    EXPECT_EQ(load_plan_through_document(path), plan);
    EXPECT_EQ(load_plan(path), plan);
  }
}

struct PlanFile {
  const char* name;
  std::string text;
};

// A small plan as write_plan writes it: ranks 3, chunks [24,20,20], rank 0's first op is
// {"step": 0, "op": "send", "peer": 1, "chunks": [0, 1]}.
std::string ring_text() {
  const std::string path = testing_support::unique_temp_path("plan_load_ring.json");
  write_plan(generate_ring(3, 64), path);
  return testing_support::read_text_file(path);
}

std::string with_document(const std::function<void(nlohmann::json&)>& change) {
  nlohmann::json document = plan_to_json(generate_ring(3, 64));
  change(document);
  return document.dump();
}

// Files the parser rejects (the streaming reader with them).
std::vector<PlanFile> unparsable_files() {
  const std::string text = ring_text();
  const std::string first_op = R"({"step": 0, "op": "send", "peer": 1, "chunks": [0, 1]})";
  const auto op = [&](const std::string& to) { return replaced(text, first_op, to); };
  return {
      // Not JSON.
      {"empty file", ""},
      {"cut short", text.substr(0, text.size() / 2)},
      {"missing comma", replaced(text, first_op + ",", first_op)},
      {"comment", "// a plan\n" + text},
      {"trailing comma", replaced(text, "[0, 1]}", "[0, 1],}")},
      // Wrong types.
      {"top-level array", "[" + text + "]"},
      {"top-level number", "7"},
      {"ranks a string", replaced(text, R"("ranks": 3)", R"("ranks": "3")")},
      {"algorithm null", replaced(text, R"("algorithm": "ring")", R"("algorithm": null)")},
      {"topology a number", replaced(text, R"("topology": "")", R"("topology": 3)")},
      {"collective an object", replaced(text, R"("collective": "all_reduce")", R"("collective": {"a": 1})")},
      {"chunks an object", replaced(text, "[24,20,20]", R"({"a": 1})")},
      {"chunk a string", replaced(text, "[24,20,20]", R"([24,"20",20])")},
      {"chunk a list", replaced(text, "[24,20,20]", "[24,[20],20]")},
      {"ops a number", with_document([](nlohmann::json& d) { d["ops"] = 5; })},
      {"rank ops an object", with_document([](nlohmann::json& d) { d["ops"][1] = nlohmann::json::object(); })},
      {"op a list", with_document([](nlohmann::json& d) {
         d["ops"][1][0] = {1, 2};
       })},
      {"op a string", with_document([](nlohmann::json& d) { d["ops"][2][3] = "send"; })},
      {"step a string", op(R"({"step": "0", "op": "send", "peer": 1, "chunks": [0, 1]})")},
      {"step true", op(R"({"step": true, "op": "send", "peer": 1, "chunks": [0, 1]})")},
      {"op a number", op(R"({"step": 0, "op": 3, "peer": 1, "chunks": [0, 1]})")},
      {"peer null", op(R"({"step": 0, "op": "send", "peer": null, "chunks": [0, 1]})")},
      {"peer nested", op(R"({"step": 0, "op": "send", "peer": [[[[1]]]], "chunks": [0, 1]})")},
      {"chunks a string", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": "0"})")},
      {"chunks count a string", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": [0, "1"]})")},
      {"chunks first a list", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": [[0], 1]})")},
      {"buffer a number", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": [0, 1], "buffer": 1})")},
      // Unknown keys.
      {"unknown top-level key", replaced(text, R"("version": 1,)", R"("version": 1, "stride": 3,)")},
      {"unknown op key", op(R"({"step": 0, "op": "send", "tag": 3, "peer": 1, "chunks": [0, 1]})")},
      // Values out of range or not allowed.
      {"version 2", replaced(text, R"("version": 1)", R"("version": 2)")},
      {"version 0", replaced(text, R"("version": 1)", R"("version": 0)")},
      {"collective broadcast", replaced(text, R"("all_reduce")", R"("broadcast")")},
      {"ranks 0", replaced(text, R"("ranks": 3)", R"("ranks": 0)")},
      {"element_bytes 0", replaced(text, R"("element_bytes": 4)", R"("element_bytes": 0)")},
      {"negative chunk size", replaced(text, "[24,20,20]", "[24,-20,20]")},
      {"chunk size past int64", replaced(text, "[24,20,20]", "[24,9223372036854775808,20]")},
      {"step -1", op(R"({"step": -1, "op": "send", "peer": 1, "chunks": [0, 1]})")},
      {"step 1.5", op(R"({"step": 1.5, "op": "send", "peer": 1, "chunks": [0, 1]})")},
      {"step past int32", op(R"({"step": 2147483648, "op": "send", "peer": 1, "chunks": [0, 1]})")},
      {"step past uint64", op(R"({"step": 18446744073709551616, "op": "send", "peer": 1, "chunks": [0, 1]})")},
      // nlohmann reports this one as out_of_range, not as a syntax error.
      {"step 1e400", op(R"({"step": 1e400, "op": "send", "peer": 1, "chunks": [0, 1]})")},
      {"peer -1", op(R"({"step": 0, "op": "send", "peer": -1, "chunks": [0, 1]})")},
      {"peer past int32", op(R"({"step": 0, "op": "send", "peer": 4294967296, "chunks": [0, 1]})")},
      {"ranks past int32", replaced(text, R"("ranks": 3)", R"("ranks": 2147483648)")},
      {"first chunk -1", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": [-1, 1]})")},
      {"first chunk past int32", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": [2147483648, 1]})")},
      {"chunk count 0", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": [0, 0]})")},
      {"chunks of one value", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": [0]})")},
      {"chunks of three values", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": [0, 1, 1]})")},
      {"chunks empty", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": []})")},
      {"unknown operation", op(R"({"step": 0, "op": "allgather", "peer": 1, "chunks": [0, 1]})")},
      {"unknown buffer", op(R"({"step": 0, "op": "send", "peer": 1, "chunks": [0, 1], "buffer": "other"})")},
      {"copy with a peer", op(R"({"step": 0, "op": "copy", "peer": 1, "chunks": [0, 1]})")},
      // Missing fields.
      {"no version", replaced(text, "\"version\": 1,", "")},
      {"no collective", replaced(text, R"("collective": "all_reduce",)", "")},
      {"no ranks", replaced(text, R"("ranks": 3,)", "")},
      {"no element_bytes", replaced(text, R"("element_bytes": 4,)", "")},
      {"no chunks", replaced(text, R"("chunks": [24,20,20],)", "")},
      {"no ops", with_document([](nlohmann::json& d) { d.erase("ops"); })},
      {"op without step", op(R"({"op": "send", "peer": 1, "chunks": [0, 1]})")},
      {"op without op", op(R"({"step": 0, "peer": 1, "chunks": [0, 1]})")},
      {"op without chunks", op(R"({"step": 0, "op": "send", "peer": 1})")},
      {"send without a peer", op(R"({"step": 0, "op": "send", "chunks": [0, 1]})")},
      {"empty op", op("{}")},
  };
}

// Files that parse but that the validator rejects: the streaming reader accepts them.
std::vector<PlanFile> invalid_plans() {
  const std::string text = ring_text();
  const std::string first_op = R"({"step": 0, "op": "send", "peer": 1, "chunks": [0, 1]})";
  return {
      {"peer out of range", replaced(text, first_op, R"({"step": 0, "op": "send", "peer": 7, "chunks": [0, 1]})")},
      {"peer itself", replaced(text, first_op, R"({"step": 0, "op": "send", "peer": 0, "chunks": [0, 1]})")},
      {"chunks past the buffer", replaced(text, first_op, R"({"step": 0, "op": "send", "peer": 1, "chunks": [3, 2]})")},
      {"empty ops list for a rank", with_document([](nlohmann::json& d) { d["ops"][1] = nlohmann::json::array(); })},
      {"fewer rank lists than ranks", with_document([](nlohmann::json& d) { d["ops"].erase(2); })},
      {"more ranks than rank lists", replaced(text, R"("ranks": 3)", R"("ranks": 4)")},
      {"huge chunk sizes", replaced(text, "[24,20,20]", "[9223372036854775807,9223372036854775807,20]")},
  };
}

TEST(TopoPlanLoad, MalformedFilesGiveTheDocumentPathsError) {
  const std::string path = testing_support::unique_temp_path("plan_load_malformed.json");
  for (const bool parses : {false, true}) {
    for (const PlanFile& file : parses ? invalid_plans() : unparsable_files()) {
      SCOPED_TRACE(file.name);
      write_text_file(path, file.text);
      const std::string reference = error_of([&] { load_plan_through_document(path); });
      EXPECT_NE(reference, "no error");
      EXPECT_EQ(reference.rfind("not a UserError", 0), std::string::npos) << reference;
      EXPECT_EQ(reference.find('\n'), std::string::npos) << reference;
      EXPECT_EQ(error_of([&] { load_plan(path); }), reference);
      CollectivePlan streamed;
      EXPECT_EQ(read_plan_streaming(path, streamed), parses);
    }
  }
}

TEST(TopoPlanLoad, ErrorsStillNameTheField) {
  const std::string path = testing_support::unique_temp_path("plan_load_named.json");
  const auto load_error = [&](const std::string& text) {
    write_text_file(path, text);
    return error_of([&] { load_plan(path); });
  };
  const std::string text = ring_text();
  const std::string first_op = R"({"step": 0, "op": "send", "peer": 1, "chunks": [0, 1]})";
  EXPECT_EQ(load_error(replaced(text, first_op, R"({"step": 2147483648, "op": "send", "peer": 1, "chunks": [0, 1]})")),
            "[" + path + "] ops[0][0].step=2147483648 is out of range (valid: a step >= 0)");
  EXPECT_EQ(load_error(replaced(text, first_op, R"({"step": 0, "op": "copy", "peer": 1, "chunks": [0, 1]})")),
            "[" + path + "] ops[0][0].peer=1 is not allowed on a copy (a copy stays on its rank)");
  EXPECT_EQ(load_error(replaced(text, "[24,20,20]", "[24,-20,20]")),
            "[" + path + "] chunks[1]=-20 is out of range (valid: bytes >= 0)");
  EXPECT_NE(load_error(text.substr(0, 100)).find("[" + path + "] is not valid JSON: "), std::string::npos);
  const std::string missing = path + ".missing";
  EXPECT_EQ(error_of([&] { load_plan(missing); }),
            "[" + missing + "] cannot be opened (a collective plan file, docs/gentree.md)");
  const std::string directory = testing_support::unique_temp_path("plan_load_directory");
  std::filesystem::create_directory(directory);
  EXPECT_EQ(error_of([&] { load_plan(directory); }), error_of([&] { load_plan_through_document(directory); }));
  CollectivePlan streamed;
  EXPECT_FALSE(read_plan_streaming(directory, streamed));
  EXPECT_FALSE(read_plan_streaming(missing, streamed));
  std::filesystem::remove(directory);
}

// Files the parser accepts that write_plan would not write: the same plan both ways, the
// streaming reader declining only a repeated key (the document keeps the last value).
TEST(TopoPlanLoad, UnusualButValidFilesLoadAsTheDocumentReadsThem) {
  const std::string path = testing_support::unique_temp_path("plan_load_unusual.json");
  const std::string text = ring_text();
  const std::string first_op = R"({"step": 0, "op": "send", "peer": 1, "chunks": [0, 1]})";
  const std::vector<std::pair<PlanFile, bool>> files = {
      {{"whole floats", replaced(replaced(text, R"("ranks": 3)", R"("ranks": 3.0)"), first_op,
                                 R"({"step": 0.0, "op": "send", "peer": 1e0, "chunks": [-0.0, 1.0]})")},
       true},
      {{"escaped key and value",
        replaced(text, first_op, R"({"st\u0065p": 0, "op": "s\u0065nd", "peer": 1, "chunks": [0, 1]})")},
       true},
      {{"byte order mark", "\xEF\xBB\xBF" + text}, true},
      {{"one line", with_document([](nlohmann::json&) {})}, true},
      {{"keys in another order", replaced(text, first_op, R"({"chunks": [0, 1], "peer": 1, "op": "send", "step": 0})")},
       true},
      {{"explicit data buffer",
        replaced(text, first_op, R"({"step": 0, "op": "send", "peer": 1, "chunks": [0, 1], "buffer": "data"})")},
       true},
      {{"text after the object", text + "trailing"}, true},
      {{"repeated op key",
        replaced(text, first_op, R"({"step": 5, "step": 0, "op": "send", "peer": 1, "chunks": [0, 1]})")},
       false},
      {{"repeated top-level key", replaced(text, R"("ranks": 3)", R"("ranks": 9, "ranks": 3)")}, false},
  };
  const CollectivePlan expected = generate_ring(3, 64);
  for (const auto& [file, streams] : files) {
    SCOPED_TRACE(file.name);
    write_text_file(path, file.text);
    CollectivePlan streamed;
    EXPECT_EQ(read_plan_streaming(path, streamed), streams);
    if (streams) {
      EXPECT_EQ(streamed, expected);
    }
    EXPECT_EQ(load_plan_through_document(path), expected);
    EXPECT_EQ(load_plan(path), expected);
  }
}

}  // namespace
}  // namespace loom::topo
