// Per-op time accounting.
#include "autograd/op_profile.h"

namespace loom::autograd {

OpProfile& OpProfile::instance() {
  static OpProfile profile;
  return profile;
}

void OpProfile::add(const std::string& op, bool backward, double ms) {
  OpTime& time = times_[op];
  if (backward) {
    time.backward_ms += ms;
    ++time.backward_calls;
  } else {
    time.forward_ms += ms;
    ++time.forward_calls;
  }
}

}  // namespace loom::autograd
