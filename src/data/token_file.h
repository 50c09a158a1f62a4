// The llm.c pre-tokenised file format: a header of 256 little-endian int32 (header[0] = magic
// 20240520, header[1] = version 1, header[2] = token count, the rest zero) followed by `count`
// little-endian uint16 token ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loom::data {

inline constexpr int32_t kTokenFileMagic = 20240520;
inline constexpr int32_t kTokenFileVersion = 1;
inline constexpr int kTokenFileHeaderInts = 256;

// The tokens of an llm.c file; UserError naming the file and the header field for a wrong magic
// or version, a truncated header or payload, trailing bytes, or zero tokens.
std::vector<uint16_t> read_token_file(const std::string& path);

// Writes the tokens in the llm.c format (through a temporary file and a rename).
void write_token_file(const std::string& path, const std::vector<uint16_t>& tokens);

}  // namespace loom::data
