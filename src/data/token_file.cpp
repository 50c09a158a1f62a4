// Bytes are assembled and taken apart explicitly as little-endian, so the files read the same on
// any host.
#include "data/token_file.h"

#include <limits>

#include "core/error.h"
#include "data/file_bytes.h"

namespace loom::data {
namespace {

constexpr size_t kHeaderBytes = kTokenFileHeaderInts * sizeof(int32_t);

int32_t load_le_i32(const std::string& bytes, size_t offset) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + static_cast<size_t>(i)]);
  }
  return static_cast<int32_t>(value);
}

void store_le_i32(std::string& bytes, size_t offset, int32_t value) {
  const auto bits = static_cast<uint32_t>(value);
  for (size_t i = 0; i < 4; ++i) bytes[offset + i] = static_cast<char>((bits >> (8 * i)) & 0xff);
}

}  // namespace

std::vector<uint16_t> read_token_file(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  if (bytes.empty()) throw_user_error("data file '{}' is empty", path);
  if (bytes.size() < kHeaderBytes) {
    throw_user_error("data file '{}' is truncated: {} bytes, fewer than the {}-byte llm.c header",
                     path, bytes.size(), kHeaderBytes);
  }
  const int32_t magic = load_le_i32(bytes, 0);
  if (magic != kTokenFileMagic) {
    throw_user_error("data file '{}': header[0] (magic) is {}, expected {} (an llm.c token file)",
                     path, magic, kTokenFileMagic);
  }
  const int32_t version = load_le_i32(bytes, 4);
  if (version != kTokenFileVersion) {
    throw_user_error("data file '{}': header[1] (version) is {}, expected {}", path, version,
                     kTokenFileVersion);
  }
  const int32_t count = load_le_i32(bytes, 8);
  if (count <= 0) {
    throw_user_error("data file '{}': header[2] (token count) is {}, expected at least 1", path,
                     count);
  }
  const size_t payload_bytes = bytes.size() - kHeaderBytes;
  const size_t expected_bytes = static_cast<size_t>(count) * sizeof(uint16_t);
  if (payload_bytes != expected_bytes) {
    throw_user_error(
        "data file '{}': header[2] (token count) is {}, so the payload should be {} bytes, but "
        "it is {} bytes ({})",
        path, count, expected_bytes, payload_bytes,
        payload_bytes < expected_bytes ? "truncated" : "trailing bytes");
  }
  std::vector<uint16_t> tokens(static_cast<size_t>(count));
  for (size_t i = 0; i < tokens.size(); ++i) {
    const size_t at = kHeaderBytes + 2 * i;
    tokens[i] = static_cast<uint16_t>(static_cast<unsigned char>(bytes[at]) |
                                      (static_cast<unsigned char>(bytes[at + 1]) << 8));
  }
  return tokens;
}

void write_token_file(const std::string& path, const std::vector<uint16_t>& tokens) {
  if (tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw_user_error("data file '{}': {} tokens do not fit the int32 count of the llm.c header",
                     path, tokens.size());
  }
  std::string bytes(kHeaderBytes + 2 * tokens.size(), '\0');
  store_le_i32(bytes, 0, kTokenFileMagic);
  store_le_i32(bytes, 4, kTokenFileVersion);
  store_le_i32(bytes, 8, static_cast<int32_t>(tokens.size()));
  for (size_t i = 0; i < tokens.size(); ++i) {
    bytes[kHeaderBytes + 2 * i] = static_cast<char>(tokens[i] & 0xff);
    bytes[kHeaderBytes + 2 * i + 1] = static_cast<char>(tokens[i] >> 8);
  }
  write_file_bytes_atomically(path, bytes);
}

}  // namespace loom::data
