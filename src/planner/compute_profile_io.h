// The "compute" section of the profile file that `loom profile` writes beside "comm"
// (comm/comm_profile.h): one parser, one validator, one writer (docs/profile-format.md).
//
//   {"version": 1,
//    "comm": {...},
//    "compute": {"source": "loom profile on host h, 2026-12-01, 1 rank, 2 threads",
//                "model": {...Loom model JSON...}, "seq": 64, "threads": 2, "concurrent_ranks": 1,
//                "block": [{"samples": 1, "tp": 1, "sequence_parallel": false, "forward_s": 0.0011,
//                           "backward_s": 0.0023, "kept_bytes": 1572864, "recompute_kept_bytes": 65536,
//                           "transient_bytes": 917504}, ...],
//                "embedding": [{"samples": 1, "vocab_tp": 1, "forward_s": ..., "backward_s": ...,
//                               "kept_bytes": ..., "transient_bytes": ...}, ...],
//                "head": [...same fields as embedding...],
//                "optimizer_s_per_parameter": 1.2e-09}}
//
// The embedding and the head are never recomputed: their entries have no recompute_kept_bytes
// and read back with recompute_kept_bytes = kept_bytes.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "comm/comm_profile.h"
#include "planner/measured_profile.h"

namespace loom::planner {

// Reads the "compute" section of a whole profile document; `where` prefixes errors ("[p.json]").
MeasuredCompute measured_compute_from_json(const nlohmann::json& document, const std::string& where);
// Checks every field: "[p.json] compute.block[3].forward_s=-1 must be >= 0 and finite (seconds)".
void validate_measured_compute(const MeasuredCompute& compute, const std::string& where);
// The "compute" section alone (the value of the document's "compute" key).
nlohmann::json measured_compute_to_json(const MeasuredCompute& compute);

// The compute section of a profile file; UserError when the file has none.
MeasuredCompute read_measured_compute(const std::string& path);
// The ComputeProfile of a profile file, naming the file in its errors.
MeasuredComputeProfile read_measured_compute_profile(const std::string& path);

// One profile document with "version", "comm" and, when `compute` is given, "compute"; written
// atomically (a temporary file beside `path`, renamed into place).
void write_profile(const std::string& path, const comm::CommProfile& comm, const MeasuredCompute* compute);

}  // namespace loom::planner
