// `loom profile` and `loom collective bench` as a single process (the MPI runs are in
// bench/collective_bench.sh): the profile file they write, the JSON lines, one-line errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "comm/comm_profile.h"
#include "test_support.h"

namespace {

using loom::testing_support::read_text_file;
using loom::testing_support::run_loom;
using loom::testing_support::unique_temp_path;
using Result = loom::testing_support::LoomRun;

TEST(CommCli, ProfileAloneMeasuresTheLocalPartsAndWritesAValidFile) {
  const std::string path = unique_temp_path("cli_profile.json");
  std::remove(path.c_str());
  const Result result = run_loom("profile --repeats 2 --skip-compute --out " + path);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("single process"), std::string::npos) << result.out;
  const loom::comm::CommProfile profile = loom::comm::read_comm_profile(path);
  ASSERT_FALSE(profile.intra_node.empty());
  EXPECT_EQ(profile.intra_node.front().ranks, 1);
  EXPECT_NE(profile.source.find("single process"), std::string::npos);
  std::remove(path.c_str());
}

TEST(CommCli, CollectiveBenchAlonePrintsTableThenJsonLines) {
  const Result result = run_loom("collective bench --min-bytes 4096 --max-bytes 16384 --iterations 2 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::istringstream lines(result.out);
  std::string line;
  int json_lines = 0;
  bool table_first = false;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') {
      table_first = table_first || json_lines == 0;
      continue;
    }
    const nlohmann::json object = nlohmann::json::parse(line);
    for (const char* key : {"algorithm", "ranks", "bytes", "time_us", "busbw_gbps"})
      EXPECT_TRUE(object.contains(key)) << key << " missing in " << line;
    ++json_lines;
  }
  EXPECT_TRUE(table_first);
  // 4 KiB and 16 KiB, every algorithm but mpi (no MPI alone) and auto.
  EXPECT_EQ(json_lines, 2 * 8) << result.out;
}

TEST(CommCli, CollectiveBenchRunsGeneratedPlans) {
  const Result result =
      run_loom("collective bench --max-bytes 4096 --iterations 1 --algorithm ring --plan-algorithm direct");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::istringstream lines(result.out);
  std::vector<std::string> algorithms;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    const nlohmann::json object = nlohmann::json::parse(line);
    EXPECT_EQ(object.value("ranks_per_node", 0), 1) << line;
    algorithms.push_back(object.at("algorithm").get<std::string>());
  }
  EXPECT_EQ(algorithms, (std::vector<std::string>{"ring", "plan:direct"})) << result.out;
}

TEST(CommCli, BadFlagsAndProfilesAreOneLineErrors) {
  const Result factor = run_loom("collective bench --factor 3");
  EXPECT_EQ(factor.exit_code, 2);
  EXPECT_EQ(factor.err, "loom: error: --factor 3 must be 2 or 4\n");
  const Result algorithm = run_loom("collective bench --algorithm fastest");
  EXPECT_EQ(algorithm.exit_code, 2);
  EXPECT_NE(algorithm.err.find("all-reduce algorithm 'fastest' is not known (valid: auto, ring"), std::string::npos)
      << algorithm.err;
  // A bad LOOM_COMM_PROFILE stops `auto` with the file, the field and the value.
  const std::string path = unique_temp_path("cli_bad_profile.json");
  std::ofstream(path) << R"({"version": 1, "comm": {"intra_node": [{"ranks": 2, "alpha_s": -1,
                            "beta_s_per_byte": 1e-10, "gamma_s_per_byte": 1e-10, "copy_s_per_byte": 1e-10}]}})";
  const Result bad_profile =
      run_loom("collective bench --max-bytes 4096 --iterations 1 --algorithm auto", "LOOM_COMM_PROFILE=" + path);
  EXPECT_EQ(bad_profile.exit_code, 2);
  EXPECT_EQ(bad_profile.err, "loom: error: [" + path + "] comm.intra_node[0].alpha_s=-1 must be >= 0 and finite\n");
  std::remove(path.c_str());
}

}  // namespace
