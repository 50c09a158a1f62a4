// Progress reporting for long commands: on a terminal one live line rewritten in place (step,
// loss, tokens/s, ETA); otherwise (logs, CI) plain lines every few steps.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace loom::cli {

class ProgressLine {
 public:
  ProgressLine(int64_t total_steps, int64_t log_every, FILE* stream = stdout);
  // Reports a finished step; eta from the mean step time so far.
  void update(int64_t step, float loss, float lr, double tokens_per_s, double mean_step_ms);
  // Prints a whole line (an evaluation, a save) without breaking the live line.
  void message(const std::string& text);
  void finish();
  bool interactive() const { return interactive_; }

 private:
  int64_t total_steps_;
  int64_t log_every_;
  FILE* stream_;
  bool interactive_;
  bool live_line_open_ = false;
};

std::string format_duration(double seconds);  // "1:05", "1:02:03"

}  // namespace loom::cli
