// Reading and writing the JSON files every format of Loom lives in (clusters, topologies,
// collective plans): one way to open and parse a file with an error that names it, and one way
// to write a file whole or not at all (a temporary file beside it, renamed into place).
#pragma once

#include <functional>
#include <iosfwd>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace loom {

// The JSON document in `path`. UserError "[path] cannot be opened (a <what>)" or
// "[path] is not valid JSON: ...".
nlohmann::json read_json_file(const std::string& path, const std::string& what);

// Calls `write` on a stream to a temporary file beside `path`, then renames it into place; on any
// failure the temporary is removed and UserError names `path`. `path` is untouched until the
// rename.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace loom
