// The measured parameters of the cost model (cost_model.h) and their place in the profile file
// that `loom profile` writes: the "comm" section. One parser, one validator, one writer.
//
//   {"version": 1,
//    "comm": {"source": "loom profile on host h, 2025-01-31, mpi transport, 4 ranks",
//             "intra_node": [{"ranks": 2, "alpha_s": 2.1e-06, "beta_s_per_byte": 2.6e-10,
//                             "gamma_s_per_byte": 1.1e-10, "copy_s_per_byte": 1.9e-10}, ...],
//             "inter_node": [...]}}
//
// Each entry holds what `ranks` processes see when all of them communicate (or copy, or reduce)
// at once: on a machine with shared memory bandwidth the per-rank numbers depend on the group
// size. The planner's per-layer measurements are other top-level sections of the same file,
// read by the planner; this module reads and writes only "version" and "comm".
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace loom::comm {

// alpha = per-message latency, beta = seconds per byte on the wire, gamma = seconds per byte reduced.
struct LinkParameters {
  double alpha_s = 0.0;
  double beta_s_per_byte = 0.0;
  double gamma_s_per_byte = 0.0;
};

// The parameters measured with `ranks` processes active at once.
struct GroupParameters {
  int ranks = 2;
  LinkParameters link;
  double copy_s_per_byte = 0.0;  // memcpy time per byte copied, every rank of the group copying at once
};

struct CommProfile {
  static constexpr int kVersion = 1;
  std::string source;                       // where the numbers come from (command, host, date)
  std::vector<GroupParameters> intra_node;  // ranks on one node; at least one entry, sorted by ranks
  std::vector<GroupParameters> inter_node;  // ranks on different nodes; empty: not measured (intra used)

  // The entry measured with the group size nearest to `ranks` (ties: the larger group).
  const GroupParameters& intra(int ranks) const;
  const GroupParameters& inter(int ranks) const;
};

// Parameters built into Loom, measured on the development machine by `loom profile` (the
// source string says when and how); used when LOOM_COMM_PROFILE names no file.
const CommProfile& builtin_comm_profile();

// The profile `auto` uses: the file named by LOOM_COMM_PROFILE (read once, on first use), else
// the built-in one. A bad file raises UserError naming the file and the field.
const CommProfile& active_comm_profile();

// Reads the "comm" section of a profile document; `where` prefixes errors ("[profile.json]").
CommProfile comm_profile_from_json(const nlohmann::json& document, const std::string& where);
// Checks every field; throws UserError "[where] comm.intra_node[1].beta_s_per_byte=-1 must be > 0".
void validate_comm_profile(const CommProfile& profile, const std::string& where);
// The whole profile document with "version" and the "comm" section.
nlohmann::json comm_profile_to_json(const CommProfile& profile);

CommProfile read_comm_profile(const std::string& path);
// Writes atomically: a temporary file beside `path`, renamed into place.
void write_comm_profile(const CommProfile& profile, const std::string& path);

}  // namespace loom::comm
