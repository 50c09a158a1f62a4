// Block partitions.
#include "comm/blocks.h"

#include <algorithm>

namespace loom::comm {

Blocks Blocks::balanced(size_t count, int parts) {
  LOOM_CHECK(parts >= 1, "partition into {} blocks", parts);
  Blocks blocks;
  blocks.begin_.resize(static_cast<size_t>(parts) + 1);
  const size_t base = count / static_cast<size_t>(parts);
  const size_t longer = count % static_cast<size_t>(parts);
  for (size_t b = 0; b <= static_cast<size_t>(parts); ++b) blocks.begin_[b] = b * base + std::min(b, longer);
  return blocks;
}

Blocks Blocks::uniform(size_t block_count, int parts) {
  LOOM_CHECK(parts >= 1, "partition into {} blocks", parts);
  Blocks blocks;
  blocks.begin_.resize(static_cast<size_t>(parts) + 1);
  for (size_t b = 0; b <= static_cast<size_t>(parts); ++b) blocks.begin_[b] = b * block_count;
  return blocks;
}

int largest_power_of_two_at_most(int p) {
  int power = 1;
  while (power * 2 <= p) power *= 2;
  return power;
}

}  // namespace loom::comm
