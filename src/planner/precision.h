// The number format of a modelled training run. fp16 and bf16 mean mixed precision as Megatron-LM
// runs it: 16-bit weights, activations and gradients in the forward and backward, an fp32 master
// copy of the weights and fp32 optimizer state.
#pragma once

#include <string>

namespace loom::planner {

enum class Precision { fp32, bf16, fp16 };

// Bytes of one element in the forward and backward: a weight's working copy, an activation, a
// gradient (4 in fp32, 2 in fp16 and bf16).
constexpr int element_bytes(Precision precision) {
  return precision == Precision::fp32 ? 4 : 2;
}

const char* precision_name(Precision precision);
// "fp32", "bf16" or "fp16"; UserError listing them otherwise.
Precision parse_precision(const std::string& name);

}  // namespace loom::planner
