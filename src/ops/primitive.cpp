// Device checks shared by all primitives.
#include "ops/primitive.h"

namespace loom::ops {

void require_cpu(const Tensor& tensor, const char* op_name) {
  if (tensor.device() != Device::cpu) cuda::unsupported(op_name);
}

}  // namespace loom::ops
