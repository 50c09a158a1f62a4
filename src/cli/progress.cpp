// Live progress line.
#include "cli/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

namespace loom::cli {

ProgressLine::ProgressLine(int64_t total_steps, int64_t log_every, FILE* stream)
    : total_steps_(total_steps),
      log_every_(log_every > 0 ? log_every : 1),
      stream_(stream),
      interactive_(::isatty(::fileno(stream)) != 0) {}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const auto total = static_cast<int64_t>(std::llround(seconds));
  const int64_t hours = total / 3600;
  const int64_t minutes = (total % 3600) / 60;
  const int64_t secs = total % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, secs);
  return fmt::format("{}:{:02}", minutes, secs);
}

void ProgressLine::update(int64_t step, float loss, float lr, double tokens_per_s, double mean_step_ms) {
  const double eta_s = double(total_steps_ - step) * mean_step_ms / 1000.0;
  const std::string line =
      fmt::format("step {:>{}}/{} | loss {:.4f} | lr {:.2e} | {:>8.0f} tok/s | ETA {}", step,
                  std::to_string(total_steps_).size(), total_steps_, loss, lr, tokens_per_s, format_duration(eta_s));
  if (interactive_) {
    fmt::print(stream_, "\r\033[K{}", line);
    live_line_open_ = true;
  } else if (step == 1 || step % log_every_ == 0 || step == total_steps_) {
    fmt::print(stream_, "{}\n", line);
  }
  std::fflush(stream_);
}

void ProgressLine::message(const std::string& text) {
  if (live_line_open_) {
    fmt::print(stream_, "\r\033[K{}\n", text);
    live_line_open_ = false;
  } else {
    fmt::print(stream_, "{}\n", text);
  }
  std::fflush(stream_);
}

void ProgressLine::finish() {
  if (live_line_open_) fmt::print(stream_, "\n");
  live_line_open_ = false;
  std::fflush(stream_);
}

}  // namespace loom::cli
