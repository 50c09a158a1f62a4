#include "planner/precision.h"

#include "core/error.h"

namespace loom::planner {

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::fp32:
      return "fp32";
    case Precision::bf16:
      return "bf16";
    case Precision::fp16:
      return "fp16";
  }
  return "?";
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  if (name == "fp16") return Precision::fp16;
  throw_user_error("precision '{}' is not known (valid: fp32, bf16, fp16)", name);
}

}  // namespace loom::planner
