// What `loom collective bench` measured and how it is printed: the human table (time and ratio to
// mpi per size), the memory-traffic bound at the largest size, and the JSON lines.
#pragma once

#include <string>
#include <vector>

#include "comm/comm_profile.h"
#include "comm/cost_model.h"

namespace loom::cli {

struct BenchRow {
  comm::AllReduceAlgorithm algorithm = comm::AllReduceAlgorithm::ring;
  comm::AllReduceAlgorithm chosen = comm::AllReduceAlgorithm::ring;  // what `auto` ran
  std::string plan;  // a generated plan's generator (the row is "plan:NAME"); empty: `algorithm`
  size_t bytes = 0;
  double time_us = 0.0;
};

struct BenchReport {
  int ranks = 1;
  int nodes = 1;
  std::string transport;
  int iterations = 0;
  int warmup = 0;
  bool shared_buffers = false;
  comm::GroupShape shape;
  const comm::CommProfile* profile = nullptr;  // for the model's predictions
  double copy_bytes_per_s = 0.0;               // per rank, every rank copying at once
  std::vector<BenchRow> rows;
};

// nccl-tests convention: bytes / time * 2(p-1)/p, in GB/s.
double bus_bandwidth_gbps(size_t bytes, double time_us, int ranks);

// Prints the table, the bound and the JSON lines to stdout.
void print_bench_report(const BenchReport& report);

}  // namespace loom::cli
