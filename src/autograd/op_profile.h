// OpProfile: optional wall-time accounting of every primitive's forward and backward, by op
// name. Off by default (one branch per op); `loom bench step --profile` turns it on to show
// where a training step spends its time.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "ops/primitive.h"

namespace loom::autograd {

struct OpTime {
  double forward_ms = 0.0;
  double backward_ms = 0.0;
  long forward_calls = 0;
  long backward_calls = 0;
};

class OpProfile {
 public:
  static OpProfile& instance();
  bool enabled() const { return enabled_; }
  void set_enabled(bool enabled) { enabled_ = enabled; }
  void add(const std::string& op, bool backward, double ms);
  void reset() { times_.clear(); }
  const std::map<std::string, OpTime>& times() const { return times_; }

 private:
  bool enabled_ = false;
  std::map<std::string, OpTime> times_;
};

// Times a scope into the profile when profiling is on.
class OpTimer {
 public:
  OpTimer(const ops::Primitive& op, bool backward)
      : op_(op), backward_(backward), on_(OpProfile::instance().enabled()),
        start_(on_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{}) {}
  ~OpTimer() {
    if (on_) {
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
      OpProfile::instance().add(op_.name(), backward_, ms);
    }
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const ops::Primitive& op_;
  bool backward_;
  bool on_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace loom::autograd
