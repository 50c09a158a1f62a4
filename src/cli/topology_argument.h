// --topology for the `loom collective` verbs: a topology file, or a generated shape named on the
// command line (single-switch:8, single-switch:2x2 for hosts x devices, leaf-spine:4x8:os2,
// fat-tree:16, dgx:4 or dgx:4x8).
#pragma once

#include <string>

#include "topo/topology.h"

namespace loom::cli {

// UserError naming the argument and the valid forms.
topo::Topology topology_from_argument(const std::string& argument);

// A byte count with an optional binary unit: 4096, 4K, 4KiB, 16M, 1G.
int64_t parse_byte_count(const std::string& text, const std::string& flag);
// 4 KiB, 1 MiB, 1 GiB, 28 B.
std::string format_byte_count(int64_t bytes);

}  // namespace loom::cli
