// JSON files: read with errors that name the file, written atomically.
#include "core/json_file.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace loom {

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw_user_error("[{}] cannot be opened (a {})", path, what);
  nlohmann::json document;
  try {
    in >> document;
  } catch (const nlohmann::json::exception& e) {  // syntax, and numbers out of range ("1e400")
    throw_user_error("[{}] is not valid JSON: {}", path, e.what());
  }
  return document;
}

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string temporary = path + ".tmp";
  try {
    std::ofstream out(temporary, std::ios::trunc);
    if (!out) throw_user_error("[{}] cannot be written (temporary file {})", path, temporary);
    write(out);
    out.close();
    if (!out) throw_user_error("[{}] writing {} failed", path, temporary);
  } catch (...) {
    std::remove(temporary.c_str());
    throw;
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw_user_error("[{}] cannot rename {} into place", path, temporary);
  }
}

}  // namespace loom
