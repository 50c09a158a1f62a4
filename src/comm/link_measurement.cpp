// Timing loops and the alpha-beta fit behind `loom profile`.
#include "comm/link_measurement.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>

#include "comm/reduce_kernels.h"
#include "core/error.h"

namespace loom::comm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  LOOM_CHECK(!values.empty(), "median of no values");
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

// Runs `body` `repeats` times after a warm-up, all ranks starting together each time; returns
// the median time, the largest over ranks.
template <typename Body>
double timed_on_all_ranks(Communicator& comm, int repeats, Body&& body) {
  LOOM_CHECK(repeats >= 1, "{} repeats", repeats);
  body();  // warm-up: first touch of the pages, connection set-up
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    comm.barrier();
    const auto start = Clock::now();
    body();
    times.push_back(seconds_since(start));
  }
  return max_over_ranks(comm, median(times));
}

}  // namespace

LinkParameters fit_alpha_beta(const std::vector<TimedSample>& samples) {
  LOOM_CHECK(!samples.empty(), "alpha-beta fit of no samples");
  double s_w = 0, s_n = 0, s_nn = 0, s_t = 0, s_nt = 0;
  for (const TimedSample& sample : samples) {
    const double t = std::max(sample.seconds, 1e-9);
    const double w = 1.0 / t;
    s_w += w;
    s_n += w * sample.bytes;
    s_nn += w * sample.bytes * sample.bytes;
    s_t += w * t;
    s_nt += w * sample.bytes * t;
  }
  LinkParameters link;
  const double determinant = s_w * s_nn - s_n * s_n;
  if (determinant > 0.0) {
    link.alpha_s = (s_t * s_nn - s_n * s_nt) / determinant;
    link.beta_s_per_byte = (s_w * s_nt - s_n * s_t) / determinant;
  }
  if (!(determinant > 0.0) || link.alpha_s < 0.0) {
    // A line through the origin: seconds = bytes * beta.
    link.alpha_s = 0.0;
    link.beta_s_per_byte = s_nn > 0.0 ? s_nt / s_nn : 0.0;
  }
  link.beta_s_per_byte = std::max(link.beta_s_per_byte, 1e-15);
  return link;
}

double max_over_ranks(Communicator& comm, double value) {
  comm.begin_operation("max_over_ranks");
  if (comm.rank() == 0) {
    for (int r = 1; r < comm.size(); ++r) {
      double other = 0.0;
      comm.recv(r, &other, sizeof(other));
      value = std::max(value, other);
    }
    for (int r = 1; r < comm.size(); ++r) comm.send(r, &value, sizeof(value), 1);
  } else {
    comm.send(0, &value, sizeof(value));
    comm.recv(0, &value, sizeof(value), 1);
  }
  return value;
}

double measure_exchange_s(Communicator& comm, size_t bytes, int repeats) {
  std::vector<char> send(std::max<size_t>(bytes, 1), 1), recv(std::max<size_t>(bytes, 1), 0);
  const int right = (comm.rank() + 1) % comm.size();
  const int left = (comm.rank() - 1 + comm.size()) % comm.size();
  return timed_on_all_ranks(comm, repeats, [&] {
    comm.begin_operation("profile exchange");
    comm.send_recv(right, send.data(), bytes, left, recv.data(), bytes);
  });
}

double measure_reduce_s_per_byte(Communicator& comm, size_t bytes, int repeats) {
  const size_t count = std::max<size_t>(bytes / sizeof(float), 1);
  std::vector<float> dst(count, 1.0f), src(count, 0.0f);
  const double s =
      timed_on_all_ranks(comm, repeats, [&] { reduce_into(dst.data(), src.data(), count, DType::f32, ReduceOp::sum); });
  return s / double(count * sizeof(float));
}

double measure_copy_s_per_byte(Communicator& comm, size_t bytes, int repeats) {
  bytes = std::max<size_t>(bytes, 1);
  std::vector<char> dst(bytes, 0), src(bytes, 1);
  const double s = timed_on_all_ranks(comm, repeats, [&] {
    std::memcpy(dst.data(), src.data(), bytes);
    src[0] = static_cast<char>(src[0] + dst[bytes - 1]);  // a dependency keeps the copy from being elided
  });
  return s / double(bytes);
}

std::vector<size_t> default_exchange_sizes() {
  return {8, 1 << 10, 8 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20};
}

GroupParameters measure_group(Communicator& comm, const std::vector<size_t>& exchange_sizes, int repeats,
                              const LinkParameters& fallback, size_t local_bytes, std::vector<TimedSample>* samples) {
  GroupParameters group;
  group.ranks = comm.size();
  if (comm.size() > 1) {
    std::vector<TimedSample> timed;
    for (size_t bytes : exchange_sizes) {
      // Fewer repeats of the large exchanges: their time is stable and long.
      const int n = bytes >= (size_t{1} << 20) ? std::max(3, repeats / 4) : repeats;
      timed.push_back({double(bytes), measure_exchange_s(comm, bytes, n)});
    }
    group.link = fit_alpha_beta(timed);
    if (samples != nullptr) *samples = timed;
  } else {
    group.link = fallback;
  }
  // Best of three trials on fresh buffers: one trial here can land at half the usual rate.
  group.link.gamma_s_per_byte = measure_reduce_s_per_byte(comm, local_bytes, std::max(3, repeats / 4));
  group.copy_s_per_byte = measure_copy_s_per_byte(comm, local_bytes, std::max(3, repeats / 4));
  for (int trial = 1; trial < 3; ++trial) {
    group.link.gamma_s_per_byte =
        std::min(group.link.gamma_s_per_byte, measure_reduce_s_per_byte(comm, local_bytes, std::max(3, repeats / 4)));
    group.copy_s_per_byte =
        std::min(group.copy_s_per_byte, measure_copy_s_per_byte(comm, local_bytes, std::max(3, repeats / 4)));
  }
  return group;
}

}  // namespace loom::comm
