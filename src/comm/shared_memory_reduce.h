// The reduction kernel of the shared-memory all-reduce: many inputs, many outputs, one pass.
// Elements are combined a block at a time in a small buffer that stays in L1, so each input is
// read once and each output written once however many ranks take part.
#pragma once

#include <cstddef>

#include "comm/types.h"

namespace loom::comm {

// For i < count: every outputs[j][i] = op over inputs[k][i]. Outputs may alias inputs. avg sums
// and divides by `group_size` (integers truncate); sums of integers wrap; bf16 is reduced in fp32
// and rounded once.
void reduce_many(const void* const* inputs, int input_count, void* const* outputs, int output_count, size_t count,
                 DType dtype, ReduceOp op, int group_size);

}  // namespace loom::comm
