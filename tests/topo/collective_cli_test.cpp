// `loom collective topo | gen | sim | compare | fit` as a user runs them: the files they write load
// back, the tables and JSON carry the real numbers, the fit recovers known parameters, and every
// bad topology, plan, size or name is one line on stderr with exit code 2 and no file left
// behind. (`collective run` needs mpirun: ctest runs it as mpi_collective_run_np4 and
// mpi_collective_run_np4_f32, in the MPI tests that the sanitizer pass leaves out.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"
#include "topo/generators.h"
#include "topo/genmodel.h"
#include "topo/network.h"
#include "topo/topology_generators.h"

namespace {

namespace fs = std::filesystem;
using loom::testing_support::read_text_file;
using loom::testing_support::run_loom;
using Result = loom::testing_support::LoomRun;

const std::string kTwoHosts = std::string(LOOM_SOURCE_DIR) + "/examples/topologies/two-hosts-2x2.json";

bool contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

void expect_one_line_error(const Result& result, const std::string& fragment) {
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_TRUE(contains(result.err, fragment)) << "expected '" << fragment << "' in: " << result.err;
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;  // exactly one line
}

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// Every test works in a folder of its own, removed at the end.
class TopoCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("loom_topo_cli_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(TopoCli, TopoWritesALeafSpineThatLoadsBack) {
  const std::string file = path("leaf_spine.json");
  const Result written =
      run_loom("collective topo --shape leaf-spine --leaves 2 --hosts-per-leaf 4 --oversubscription 2 --out " + file);
  ASSERT_EQ(written.exit_code, 0) << written.err;
  EXPECT_TRUE(contains(written.out, "wrote " + file)) << written.out;
  ASSERT_TRUE(fs::exists(file));
  EXPECT_FALSE(fs::exists(file + ".tmp"));

  const Result loaded = run_loom("collective topo --topology " + file);
  ASSERT_EQ(loaded.exit_code, 0) << loaded.err;
  EXPECT_TRUE(contains(loaded.out, "8 hosts, 8 ranks")) << loaded.out;
  EXPECT_TRUE(contains(loaded.out, "2:1")) << loaded.out;  // the oversubscription survived the file
  // The summary of the file is the summary of the generated topology.
  EXPECT_EQ(loaded.out + "wrote " + file + "\n", written.out);

  const Result json = run_loom("collective topo --topology " + file + " --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json document = nlohmann::json::parse(json.out);
  EXPECT_EQ(document.at("hosts").size(), 8u);
}

TEST_F(TopoCli, TopoRejectsAnOddFatTree) {
  const std::string file = path("fat_tree.json");
  const Result result = run_loom("collective topo --shape fat-tree --k 3 --out " + file);
  expect_one_line_error(result, "k=3");
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(fs::exists(file + ".tmp"));
}

TEST_F(TopoCli, GenWritesAValidPlanThatSimReplays) {
  const std::string plan = path("plan.json");
  const Result gen = run_loom("collective gen --topology " + kTwoHosts + " --algorithm gentree --bytes 64K --out " +
                              plan + " --explain");
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  EXPECT_TRUE(contains(gen.out, "4 ranks")) << gen.out;
  EXPECT_TRUE(contains(gen.out, "valid all-reduce")) << gen.out;
  EXPECT_TRUE(contains(gen.out, "<- chosen")) << gen.out;  // --explain lists the strategies
  EXPECT_TRUE(contains(gen.out, "wrote " + plan)) << gen.out;
  ASSERT_TRUE(fs::exists(plan));
  EXPECT_FALSE(fs::exists(plan + ".tmp"));
  const nlohmann::json written = nlohmann::json::parse(read_text_file(plan));
  EXPECT_EQ(written.at("ranks"), 4);
  EXPECT_EQ(written.at("algorithm"), "gentree");

  const Result sim = run_loom("collective sim --topology " + kTwoHosts + " --plan " + plan);
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  EXPECT_TRUE(contains(sim.out, "64 KiB")) << sim.out;
  EXPECT_TRUE(contains(sim.out, "start_us")) << sim.out;  // the per-step table's header
  EXPECT_TRUE(contains(sim.out, "wire_bytes")) << sim.out;
  EXPECT_TRUE(contains(sim.out, "simulated time: ")) << sim.out;
  // The simulated time of the replayed plan is the one gen reported for it.
  const std::string marker = "simulated: ";
  const size_t at = gen.out.find(marker);
  ASSERT_NE(at, std::string::npos) << gen.out;
  const std::string gen_time = gen.out.substr(at + marker.size(), gen.out.find(" us", at) - at - marker.size());
  EXPECT_TRUE(contains(sim.out, "simulated time: " + gen_time + " us")) << gen.out << sim.out;
}

TEST_F(TopoCli, SimOfARingAsJsonHasOneEntryPerStep) {
  const Result sim = run_loom("collective sim --topology " + kTwoHosts + " --algorithm ring --bytes 1M --json");
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  ASSERT_EQ(lines_of(sim.out).size(), 1u) << sim.out;
  const nlohmann::json result = nlohmann::json::parse(sim.out);
  EXPECT_EQ(result.at("algorithm"), "ring");
  EXPECT_EQ(result.at("ranks"), 4);
  EXPECT_EQ(result.at("bytes"), 1 << 20);
  EXPECT_GT(result.at("time_us").get<double>(), 0.0);
  ASSERT_EQ(result.at("steps").size(), size_t{2 * (4 - 1)});  // reduce-scatter, then all-gather
  double previous_end = 0.0;
  for (const nlohmann::json& step : result.at("steps")) {
    EXPECT_GE(step.at("end_us").get<double>(), previous_end);
    previous_end = step.at("end_us").get<double>();
  }
  EXPECT_NEAR(previous_end, result.at("time_us").get<double>(), 1e-6 * previous_end);
}

TEST_F(TopoCli, CompareJsonHasEveryAlgorithmAtEverySize) {
  const Result compare =
      run_loom("collective compare --topology single-switch:4 --min-bytes 4K --max-bytes 64K --json");
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  const std::vector<std::string> lines = lines_of(compare.out);
  ASSERT_EQ(lines.size(), 15u) << compare.out;
  std::set<std::pair<std::string, int64_t>> seen;
  for (const std::string& line : lines) {
    const nlohmann::json row = nlohmann::json::parse(line);
    EXPECT_EQ(row.at("topology"), "single-switch-4") << line;
    EXPECT_GT(row.at("time_us").get<double>(), 0.0) << line;
    seen.emplace(row.at("algorithm").get<std::string>(), row.at("bytes").get<int64_t>());
  }
  for (const char* algorithm : {"ring", "rabenseifner", "hierarchical", "double_binary_tree", "gentree"})
    for (int64_t bytes : {4096, 16384, 65536})
      EXPECT_TRUE(seen.count({algorithm, bytes})) << algorithm << " at " << bytes;
}

TEST_F(TopoCli, BadInputIsOneLineWithExitCodeTwo) {
  const std::string gen = "collective gen --topology " + kTwoHosts;
  const Result unknown = run_loom(gen + " --algorithm bogus");
  expect_one_line_error(unknown, "\"bogus\"");
  EXPECT_TRUE(contains(unknown.err, "valid: ring, recursive_doubling, rabenseifner")) << unknown.err;
  expect_one_line_error(run_loom(gen + " --bytes 12Q"), "--bytes '12Q'");
  expect_one_line_error(run_loom("collective sim --topology " + kTwoHosts + " --algorithm ring --bytes 12Q"), "12Q");
  const std::string missing = path("no_such_topology.json");
  expect_one_line_error(run_loom("collective gen --topology " + missing), missing);
  expect_one_line_error(run_loom("collective sim --topology " + missing + " --algorithm ring"), missing);
  expect_one_line_error(run_loom("collective gen --topology leaf-spine:0x4"), "leaf-spine:0x4");

  // A link to a switch the file does not declare.
  nlohmann::json topology = nlohmann::json::parse(read_text_file(kTwoHosts));
  topology["links"][1]["to"] = "switch9";
  const std::string bad_topology = path("bad_topology.json");
  write_text_file(bad_topology, topology.dump(2));
  expect_one_line_error(run_loom("collective topo --topology " + bad_topology), "switch9");
  expect_one_line_error(run_loom("collective sim --topology " + bad_topology + " --algorithm ring"), "switch9");
}

TEST_F(TopoCli, SimRejectsAPlanThatDoesNotFit) {
  // Rank 0 sends to rank 1, which never receives.
  const std::string unmatched = path("unmatched.json");
  write_text_file(unmatched, R"({"version": 1, "collective": "all_reduce", "algorithm": "hand", "topology": "t",
    "ranks": 4, "element_bytes": 4, "chunks": [16],
    "ops": [[{"step": 0, "op": "send", "peer": 1, "chunks": [0, 1]}], [], [], []]})");
  const Result result = run_loom("collective sim --topology " + kTwoHosts + " --plan " + unmatched);
  expect_one_line_error(result, "unmatched.json");
  EXPECT_TRUE(contains(result.err, "send to 1")) << result.err;
  EXPECT_TRUE(contains(result.err, "no matching receive")) << result.err;

  // A correct plan for 2 ranks on the 4 ranks of the topology.
  const std::string two_ranks = path("two_ranks.json");
  const Result gen =
      run_loom("collective gen --topology single-switch:2 --algorithm ring --bytes 4K --out " + two_ranks);
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  const Result mismatch = run_loom("collective sim --topology " + kTwoHosts + " --plan " + two_ranks);
  expect_one_line_error(mismatch, "two_ranks.json");
  EXPECT_TRUE(contains(mismatch.err, "2 ranks")) << mismatch.err;
  EXPECT_TRUE(contains(mismatch.err, "has 4")) << mismatch.err;
}

TEST_F(TopoCli, FailedGenLeavesNoFileBehind) {
  const std::string plan = path("P2.json");
  expect_one_line_error(
      run_loom("collective gen --topology " + kTwoHosts + " --algorithm bogus --bytes 64K --out " + plan), "bogus");
  expect_one_line_error(run_loom("collective gen --topology " + kTwoHosts + " --bytes 12Q --out " + plan), "12Q");
  EXPECT_FALSE(fs::exists(plan));
  EXPECT_FALSE(fs::exists(plan + ".tmp"));
  // --out names a folder: the plan cannot be renamed into place, and its temporary is removed.
  const std::string folder = path("a_folder");
  fs::create_directories(folder);
  expect_one_line_error(run_loom("collective gen --topology " + kTwoHosts + " --bytes 4K --out " + folder), folder);
  EXPECT_TRUE(fs::is_directory(folder));
  EXPECT_FALSE(fs::exists(folder + ".tmp"));
  // Nothing else in the test's folder.
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir_)) left.push_back(entry.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"a_folder"});
}

// Measurements made from known GenModel parameters with the features `collective fit` computes:
// each plan regenerated for 4 ranks on one switch.
std::string synthetic_measurements(const loom::topo::GenModelParams& truth) {
  const loom::topo::Network network(loom::topo::single_switch_topology(4));
  std::string lines;
  for (const char* algorithm : {"ring", "direct", "recursive_doubling"})
    for (int64_t bytes = 1024; bytes <= (int64_t{4} << 20); bytes *= 4) {
      const loom::topo::PlanFeatures features =
          loom::topo::plan_features(loom::topo::generate_plan(algorithm, network, bytes));
      const double time_s = loom::topo::genmodel_time_s(features, truth);
      lines += nlohmann::json{{"algorithm", std::string("plan:") + algorithm},
                              {"ranks", 4},
                              {"bytes", bytes},
                              {"time_us", time_s * 1e6}}
                   .dump() +
               "\n";
    }
  return lines;
}

TEST_F(TopoCli, FitRecoversKnownParameters) {
  loom::topo::GenModelParams truth;
  truth.alpha_s = 5e-6;
  truth.beta_s_per_byte = 1e-10;
  truth.gamma_s_per_byte = 5e-11;
  truth.delta_s_per_byte = 2e-11;
  truth.epsilon_s_per_byte = 1e-10;  // direct: 3 flows into every rank, 1 over the threshold
  truth.incast_threshold = 2.0;
  const std::string measurements = path("measurements.jsonl");
  // A line that is not a measurement, and one that is not a plan run, are skipped.
  write_text_file(measurements, "# header\n{\"algorithm\":\"ring\",\"ranks\":4,\"bytes\":1024,\"time_us\":3}\n" +
                                    synthetic_measurements(truth));

  const Result table = run_loom("collective fit --measurements " + measurements);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_TRUE(contains(table.out, "21 measurements")) << table.out;  // 3 algorithms x 7 sizes
  EXPECT_TRUE(contains(table.out, "skipped 1 row")) << table.out;
  EXPECT_TRUE(contains(table.out, "alpha (us)")) << table.out;
  EXPECT_TRUE(contains(table.out, "held-out error mean")) << table.out;

  const Result json = run_loom("collective fit --measurements " + measurements + " --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json fit = nlohmann::json::parse(json.out);
  EXPECT_EQ(fit.at("measurements"), 21);
  EXPECT_EQ(fit.at("held_out_rows"), 6);  // the 3rd and 6th of the 7 sizes (16 KiB, 1 MiB)
  // alpha and beta are determined by these plans; gamma, delta and epsilon are not (on 4 ranks
  // their features are linearly dependent over ring, direct and recursive doubling), so the fit may
  // split their sum differently: the predictions show it is exact.
  const nlohmann::json& genmodel = fit.at("genmodel");
  EXPECT_NEAR(genmodel.at("alpha_s").get<double>(), truth.alpha_s, 1e-3 * truth.alpha_s) << fit.dump(2);
  EXPECT_NEAR(genmodel.at("beta_s_per_byte").get<double>(), truth.beta_s_per_byte, 1e-3 * truth.beta_s_per_byte)
      << fit.dump(2);
  EXPECT_LT(genmodel.at("held_out_max_abs_relative_error").get<double>(), 1e-3) << fit.dump(2);
  // Without the memory and incast terms alpha-beta-gamma cannot fit these times.
  EXPECT_GT(fit.at("alpha_beta_gamma").at("held_out_max_abs_relative_error").get<double>(), 0.01) << fit.dump(2);
}

TEST_F(TopoCli, FitWithoutUsableRowsFails) {
  const std::string measurements = path("unusable.jsonl");
  write_text_file(measurements, "not json\n{\"algorithm\":\"ring\",\"ranks\":4,\"bytes\":1024,\"time_us\":3}\n");
  const Result table = run_loom("collective fit --measurements " + measurements);
  expect_one_line_error(table, "no usable rows");
  EXPECT_TRUE(contains(table.out, "skipped 1 row: algorithm ring is not a plan execution")) << table.out;
  // With --json the note goes to stderr before the error, and stdout stays empty.
  const Result json = run_loom("collective fit --measurements " + measurements + " --json");
  EXPECT_EQ(json.exit_code, 2) << json.err;
  EXPECT_TRUE(json.out.empty()) << json.out;
  EXPECT_TRUE(contains(json.err, "no usable rows")) << json.err;
  expect_one_line_error(run_loom("collective fit --measurements " + path("missing.jsonl")), "missing.jsonl");
}

}  // namespace
