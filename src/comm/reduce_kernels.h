// Element-wise reduction kernels shared by every collective algorithm: dst = dst op src over a
// raw buffer of one dtype. avg accumulates as a sum; the collective divides once at the end
// (finish_average). bf16 is read into fp32, reduced there and rounded once per call.
#pragma once

#include <cstddef>

#include "comm/types.h"

namespace loom::comm {

// Bytes of one element of `dtype`.
size_t dtype_bytes(DType dtype);

// dst[i] = dst[i] op src[i] for i < count (avg: sum). dst and src must not partially overlap.
void reduce_into(void* dst, const void* src, size_t count, DType dtype, ReduceOp op);

// data[i] /= ranks: floating types divide (bf16 in fp32, rounded once), integers truncate
// toward zero.
void finish_average(void* data, size_t count, DType dtype, int ranks);

}  // namespace loom::comm
