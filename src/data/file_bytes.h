// Whole-file reads and atomic whole-file writes for data files. Failures are UserErrors that name
// the file and the operating system's reason, e.g.
// "data file 'x.txt' cannot be opened: No such file or directory".
#pragma once

#include <string>

namespace loom::data {

// The file's bytes; UserError when it cannot be opened or read (an empty file is returned empty).
std::string read_file_bytes(const std::string& path);

// Writes `bytes` to path + ".tmp" and renames it over `path`, so readers never see a partial file.
void write_file_bytes_atomically(const std::string& path, const std::string& bytes);

}  // namespace loom::data
