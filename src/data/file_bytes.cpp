// C stdio is used (not iostreams) because its failures leave errno set, which names the reason.
#include "data/file_bytes.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace loom::data {
namespace {

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FileHandle = std::unique_ptr<std::FILE, FileCloser>;

[[noreturn]] void throw_file_error(const std::string& path, const char* action, int error) {
  throw_user_error("data file '{}' cannot be {}: {}", path, action, std::strerror(error));
}

}  // namespace

std::string read_file_bytes(const std::string& path) {
  errno = 0;
  FileHandle file(std::fopen(path.c_str(), "rb"));
  if (!file) throw_file_error(path, "opened", errno);
  std::string bytes;
  char chunk[1 << 16];
  for (;;) {
    const size_t got = std::fread(chunk, 1, sizeof(chunk), file.get());
    bytes.append(chunk, got);
    if (got < sizeof(chunk)) break;
  }
  // A directory opens on Linux and fails here with EISDIR.
  if (std::ferror(file.get())) throw_file_error(path, "read", errno);
  return bytes;
}

void write_file_bytes_atomically(const std::string& path, const std::string& bytes) {
  const std::string temporary = path + ".tmp";
  {
    errno = 0;
    FileHandle file(std::fopen(temporary.c_str(), "wb"));
    if (!file) throw_file_error(temporary, "created", errno);
    if (std::fwrite(bytes.data(), 1, bytes.size(), file.get()) != bytes.size()) {
      const int error = errno;
      file.reset();
      std::remove(temporary.c_str());
      throw_file_error(temporary, "written", error);
    }
    if (std::fclose(file.release()) != 0) {
      const int error = errno;
      std::remove(temporary.c_str());
      throw_file_error(temporary, "written", error);
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(temporary.c_str());
    throw_user_error("data file '{}' cannot be renamed to '{}': {}", temporary, path,
                     std::strerror(error));
  }
}

}  // namespace loom::data
