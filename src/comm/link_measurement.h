// Measuring the cost model's parameters on a group (what `loom profile` runs): alpha and beta by
// timing a ring exchange at several sizes and fitting a line, gamma by timing reduce_into, and
// the copy cost by timing memcpy, each with every rank of the group active at once (ranks that
// share a memory bus slow each other down, and the algorithms run them all at once too).
#pragma once

#include <cstddef>
#include <vector>

#include "comm/comm_profile.h"
#include "comm/communicator.h"

namespace loom::comm {

struct TimedSample {
  double bytes = 0.0;
  double seconds = 0.0;
};

// Weighted least-squares fit of seconds = alpha + bytes * beta, weights 1 / seconds: between
// absolute error (which lets the largest message decide everything, alpha even turning negative)
// and relative error (which lets the small messages bend beta, while the large ones are where
// beta matters). A negative alpha is refitted through the origin; beta stays positive.
LinkParameters fit_alpha_beta(const std::vector<TimedSample>& samples);

// The largest value over the group's ranks, known to every rank (point-to-point, via rank 0).
double max_over_ranks(Communicator& comm, double value);

// Median time (max over ranks) of one exchange step: every rank sends `bytes` to rank + 1 and
// receives as many from rank - 1 at once.
double measure_exchange_s(Communicator& comm, size_t bytes, int repeats);
// Median time per byte (max over ranks) of a local fp32 sum dst += src over `bytes`, every rank at once.
double measure_reduce_s_per_byte(Communicator& comm, size_t bytes, int repeats);
// Median time per byte copied (max over ranks) of memcpy of `bytes`, every rank at once.
double measure_copy_s_per_byte(Communicator& comm, size_t bytes, int repeats);

// Default exchange sizes of the fit: 8 bytes to 4 MiB.
std::vector<size_t> default_exchange_sizes();

// All four parameters for this group (collective). gamma and the copy cost are timed over
// `local_bytes` (out of cache by default), best of three trials on fresh buffers. A group of one rank measures only
// those local parts and returns `fallback`'s alpha and beta. `samples`, when given, receives the exchange timings.
GroupParameters measure_group(Communicator& comm, const std::vector<size_t>& exchange_sizes, int repeats,
                              const LinkParameters& fallback, size_t local_bytes = size_t{32} << 20,
                              std::vector<TimedSample>* samples = nullptr);

}  // namespace loom::comm
