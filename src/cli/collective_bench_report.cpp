// Printing the collective benchmark: one table row per size with each algorithm's time and its
// bus-bandwidth ratio to mpi, the memory-traffic bound at the largest size, then JSON lines.
#include "cli/collective_bench_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

namespace loom::cli {

namespace {

std::string size_label(size_t bytes) {
  if (bytes >= (size_t{1} << 20) && bytes % (size_t{1} << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= (size_t{1} << 10) && bytes % (size_t{1} << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} B", bytes);
}

std::string column_name(const BenchRow& row) {
  return row.plan.empty() ? comm::algorithm_name(row.algorithm) : "plan:" + row.plan;
}

bool is_automatic(const BenchRow& row) {
  return row.plan.empty() && row.algorithm == comm::AllReduceAlgorithm::automatic;
}

// The algorithm the cost model prices for this row; none for generated plans and gentree (their
// cost depends on the plan: `loom collective sim` prices those).
std::optional<comm::AllReduceAlgorithm> modelled_algorithm(const BenchRow& row) {
  const comm::AllReduceAlgorithm algorithm = is_automatic(row) ? row.chosen : row.algorithm;
  if (!row.plan.empty() || algorithm == comm::AllReduceAlgorithm::gentree) return std::nullopt;
  return algorithm;
}

}  // namespace

double bus_bandwidth_gbps(size_t bytes, double time_us, int ranks) {
  if (time_us <= 0.0 || ranks < 2) return 0.0;
  return double(bytes) / (time_us * 1e-6) * 2.0 * double(ranks - 1) / double(ranks) / 1e9;
}

void print_bench_report(const BenchReport& report) {
  // rows by size, then by algorithm in the order they ran
  std::map<size_t, std::vector<const BenchRow*>> by_size;
  std::vector<std::string> columns;
  for (const BenchRow& row : report.rows) {
    by_size[row.bytes].push_back(&row);
    if (std::find(columns.begin(), columns.end(), column_name(row)) == columns.end())
      columns.push_back(column_name(row));
  }
  const auto mpi_time = [&](size_t bytes) {
    for (const BenchRow* row : by_size[bytes])
      if (row->plan.empty() && row->algorithm == comm::AllReduceAlgorithm::mpi) return row->time_us;
    return 0.0;
  };

  fmt::print(
      "loom collective bench: all-reduce, fp32 sum, {} ranks on {} node{} ({} transport){}, median of >= {} runs "
      "after {} warm-up\n",
      report.ranks, report.nodes, report.nodes == 1 ? "" : "s", report.transport,
      report.shared_buffers ? ", buffers in the shared segment" : "", report.iterations, report.warmup);
  if (report.ranks == 1)
    fmt::print("one rank has nothing to all-reduce: run it as `mpirun -np N loom collective bench`\n");
  fmt::print("time in us (bus bandwidth ratio to mpi; auto: the algorithm it ran)\n");
  fmt::print("{:>8}", "bytes");
  for (const std::string& column : columns) fmt::print(" {:>22}", column);
  fmt::print("\n");
  for (const auto& [bytes, rows] : by_size) {
    fmt::print("{:>8}", size_label(bytes));
    const double mpi_us = mpi_time(bytes);
    for (const BenchRow* row : rows) {
      std::string cell = fmt::format("{:.1f}", row->time_us);
      if (mpi_us > 0.0) cell += fmt::format(" ({:.2f}x)", mpi_us / row->time_us);
      if (is_automatic(*row)) cell = fmt::format("{}={}", comm::algorithm_name(row->chosen).substr(0, 4), cell);
      fmt::print(" {:>22}", cell);
    }
    fmt::print("\n");
  }

  // auto against the best measured algorithm at each size
  fmt::print("auto vs the best measured algorithm\n");
  for (const auto& [bytes, rows] : by_size) {
    const BenchRow* best = nullptr;
    const BenchRow* automatic = nullptr;
    for (const BenchRow* row : rows) {
      if (is_automatic(*row)) {
        automatic = row;
      } else if (best == nullptr || row->time_us < best->time_us) {
        best = row;
      }
    }
    if (best == nullptr || automatic == nullptr) continue;
    fmt::print("{:>8}  best {:<20} {:>10.1f} us   auto ran {:<20} {:>10.1f} us   auto/best {:.2f}\n", size_label(bytes),
               column_name(*best), best->time_us, comm::algorithm_name(automatic->chosen), automatic->time_us,
               automatic->time_us / best->time_us);
  }

  // the memory-traffic bound at the largest size
  if (!by_size.empty() && report.copy_bytes_per_s > 0.0) {
    const size_t bytes = by_size.rbegin()->first;
    // A copy of n bytes moves 2n (read + write): the traffic rate is twice the copy bandwidth.
    const double traffic_per_s = 2.0 * report.copy_bytes_per_s;
    fmt::print("memory-traffic bound at {}: copy bandwidth {:.2f} GB/s per rank with all {} ranks copying\n",
               size_label(bytes), report.copy_bytes_per_s / 1e9, report.ranks);
    fmt::print("{:>22} {:>14} {:>12} {:>12} {:>10}\n", "algorithm", "traffic MiB", "bound us", "measured us",
               "fraction");
    for (const BenchRow* row : by_size.rbegin()->second) {
      const std::optional<comm::AllReduceAlgorithm> algorithm = modelled_algorithm(*row);
      if (!algorithm) continue;
      const double traffic =
          comm::all_reduce_memory_traffic_bytes(*algorithm, report.ranks, double(bytes), report.shared_buffers);
      const double bound_us = traffic / traffic_per_s * 1e6;
      fmt::print("{:>22} {:>14.1f} {:>12.1f} {:>12.1f} {:>10.2f}\n", column_name(*row), traffic / double(1 << 20),
                 bound_us, row->time_us, bound_us / row->time_us);
    }
  }

  for (const BenchRow& row : report.rows) {
    nlohmann::json line = {{"algorithm", column_name(row)},
                           {"ranks", report.ranks},
                           {"ranks_per_node", report.shape.ranks_per_node},
                           {"bytes", row.bytes},
                           {"time_us", row.time_us},
                           {"busbw_gbps", bus_bandwidth_gbps(row.bytes, row.time_us, report.ranks)}};
    const double mpi_us = mpi_time(row.bytes);
    if (mpi_us > 0.0) line["ratio_to_mpi"] = mpi_us / row.time_us;
    if (is_automatic(row)) line["chosen"] = comm::algorithm_name(row.chosen);
    if (report.shared_buffers) line["shared_buffers"] = true;
    const std::optional<comm::AllReduceAlgorithm> modelled = modelled_algorithm(row);
    if (report.profile != nullptr && report.ranks > 1 && modelled) {
      line["predicted_us"] =
          comm::all_reduce_time_s(*modelled, report.shape, row.bytes, *report.profile, report.shared_buffers) * 1e6;
    }
    fmt::print("{}\n", line.dump());
  }
}

}  // namespace loom::cli
