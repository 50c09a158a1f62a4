// MPI transport: requests over MPI point-to-point, splits, MPI_Allreduce and shared windows.
// Messages larger than MPI's int count travel as several pieces with the same tag, which MPI
// keeps in order between one pair of ranks.
#include "comm/mpi_transport.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

namespace loom::comm {

void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = std::snprintf(text, sizeof(text), "code %d", code);
  const std::string_view name(call, std::strcspn(call, "("));
  throw CommError(fmt::format("{} failed: {}", name, std::string_view(text, static_cast<size_t>(length))), {});
}

namespace {

constexpr size_t kMaxPieceBytes = size_t{1} << 30;

bool mpi_finalized() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}

// One send or receive, possibly in several pieces.
class MpiRequest : public Request {
 public:
  MpiRequest(std::vector<MPI_Request> requests, bool is_receive)
      : requests_(std::move(requests)), is_receive_(is_receive) {}
  ~MpiRequest() override {
    // Only an abandoned request (an error path) is still active here; never block on it.
    if (done_ || mpi_finalized()) return;
    for (MPI_Request& request : requests_) {
      if (request == MPI_REQUEST_NULL) continue;
      if (is_receive_) MPI_Cancel(&request);
      MPI_Request_free(&request);
    }
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    LOOM_MPI_CALL(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag, MPI_STATUSES_IGNORE));
    done_ = flag != 0;
    return done_;
  }

 private:
  std::vector<MPI_Request> requests_;
  bool is_receive_;
  bool done_ = false;
};

class MpiSharedSegment : public SharedSegment {
 public:
  MpiSharedSegment(const Transport* group, int rank, std::vector<char*> bases, size_t bytes_per_rank, MPI_Win window)
      : SharedSegment(group, rank, std::move(bases), bytes_per_rank), window_(window) {}
  ~MpiSharedSegment() override {
    if (mpi_finalized()) return;
    MPI_Win_unlock_all(window_);
    MPI_Win_free(&window_);  // collective: every rank releases its segment in the same order
  }

 private:
  MPI_Win window_;
};

MPI_Datatype mpi_datatype(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return MPI_FLOAT;
    case DType::f64:
      return MPI_DOUBLE;
    case DType::i32:
      return MPI_INT32_T;
    case DType::i64:
      return MPI_INT64_T;
    default:
      throw_user_error("all-reduce of {} is not supported (valid: f32, bf16, f64, i32, i64)", dtype_name(dtype));
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg:
      return MPI_SUM;
    case ReduceOp::max:
      return MPI_MAX;
    case ReduceOp::min:
      return MPI_MIN;
  }
  LOOM_CHECK(false, "unknown reduce op {}", static_cast<int>(op));
}

template <typename T>
void divide_all(void* data, size_t count, int divisor) {
  T* values = static_cast<T*>(data);
  const T d = static_cast<T>(divisor);
  for (size_t i = 0; i < count; ++i) values[i] /= d;  // integers truncate toward zero
}

}  // namespace

MpiTransport::MpiTransport(MPI_Comm comm, int my_node, int my_host)
    : comm_(comm), my_node_(my_node), my_host_(my_host) {
  LOOM_MPI_CALL(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  LOOM_MPI_CALL(MPI_Comm_rank(comm_, &rank_));
  LOOM_MPI_CALL(MPI_Comm_size(comm_, &size_));
  const int mine[2] = {my_node_, my_host_};
  std::vector<int> all(2 * static_cast<size_t>(size_));
  LOOM_MPI_CALL(MPI_Allgather(mine, 2, MPI_INT, all.data(), 2, MPI_INT, comm_));
  for (int r = 0; r < size_; ++r) {
    node_ids_.push_back(all[2 * static_cast<size_t>(r)]);
    host_ids_.push_back(all[2 * static_cast<size_t>(r) + 1]);
  }
}

MpiTransport::~MpiTransport() {
  if (!mpi_finalized()) MPI_Comm_free(&comm_);
}

std::unique_ptr<MpiTransport> MpiTransport::world() {
  MPI_Comm comm = MPI_COMM_NULL;
  LOOM_MPI_CALL(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
  LOOM_MPI_CALL(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
  int world_rank = 0;
  LOOM_MPI_CALL(MPI_Comm_rank(comm, &world_rank));
  // A host is named by the lowest world rank that shares its memory.
  MPI_Comm shared = MPI_COMM_NULL;
  LOOM_MPI_CALL(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &shared));
  int host = world_rank;
  LOOM_MPI_CALL(MPI_Allreduce(MPI_IN_PLACE, &host, 1, MPI_INT, MPI_MIN, shared));
  LOOM_MPI_CALL(MPI_Comm_free(&shared));
  int node = host;
  if (const char* text = std::getenv("LOOM_COMM_RANKS_PER_NODE")) {
    char* end = nullptr;
    const long ranks_per_node = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || ranks_per_node < 1 || ranks_per_node > INT_MAX) {
      throw_user_error("LOOM_COMM_RANKS_PER_NODE='{}' must be a positive number of ranks", text);
    }
    node = world_rank / static_cast<int>(ranks_per_node);
  }
  return std::make_unique<MpiTransport>(comm, node, host);
}

std::unique_ptr<Request> MpiTransport::isend(int peer, int tag, const void* data, size_t bytes) {
  std::vector<MPI_Request> requests;
  const char* bytes_at = static_cast<const char*>(data);
  for (size_t offset = 0; offset < bytes || (bytes == 0 && requests.empty()); offset += kMaxPieceBytes) {
    const int piece = static_cast<int>(std::min(kMaxPieceBytes, bytes - offset));
    requests.push_back(MPI_REQUEST_NULL);
    LOOM_MPI_CALL(MPI_Isend(bytes_at + offset, piece, MPI_BYTE, peer, tag, comm_, &requests.back()));
  }
  return std::make_unique<MpiRequest>(std::move(requests), false);
}

std::unique_ptr<Request> MpiTransport::irecv(int peer, int tag, void* data, size_t bytes) {
  std::vector<MPI_Request> requests;
  char* bytes_at = static_cast<char*>(data);
  for (size_t offset = 0; offset < bytes || (bytes == 0 && requests.empty()); offset += kMaxPieceBytes) {
    const int piece = static_cast<int>(std::min(kMaxPieceBytes, bytes - offset));
    requests.push_back(MPI_REQUEST_NULL);
    LOOM_MPI_CALL(MPI_Irecv(bytes_at + offset, piece, MPI_BYTE, peer, tag, comm_, &requests.back()));
  }
  return std::make_unique<MpiRequest>(std::move(requests), true);
}

std::unique_ptr<Transport> MpiTransport::split(int color, int key) {
  MPI_Comm sub = MPI_COMM_NULL;
  LOOM_MPI_CALL(MPI_Comm_split(comm_, color < 0 ? MPI_UNDEFINED : color, key, &sub));
  if (sub == MPI_COMM_NULL) return nullptr;
  return std::make_unique<MpiTransport>(sub, my_node_, my_host_);
}

bool MpiTransport::native_all_reduce(void* data, size_t count, DType dtype, ReduceOp op) {
  if (count == 0) return true;
  if (dtype == DType::bf16) {
    std::vector<float> wide(count);
    convert_bf16_to_f32(static_cast<const BFloat16*>(data), wide.data(), count);
    native_all_reduce(wide.data(), count, DType::f32, op);
    convert_f32_to_bf16(wide.data(), static_cast<BFloat16*>(data), count);
    return true;
  }
  const MPI_Datatype type = mpi_datatype(dtype);
  const size_t element_bytes = dtype_size_bytes(dtype);
  const size_t piece_elements = kMaxPieceBytes / element_bytes;
  for (size_t offset = 0; offset < count; offset += piece_elements) {
    const int piece = static_cast<int>(std::min(piece_elements, count - offset));
    LOOM_MPI_CALL(
        MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(data) + offset * element_bytes, piece, type, mpi_op(op), comm_));
  }
  if (op == ReduceOp::avg) {
    switch (dtype) {
      case DType::f32:
        divide_all<float>(data, count, size_);
        break;
      case DType::f64:
        divide_all<double>(data, count, size_);
        break;
      case DType::i32:
        divide_all<int32_t>(data, count, size_);
        break;
      case DType::i64:
        divide_all<int64_t>(data, count, size_);
        break;
      default:
        break;
    }
  }
  return true;
}

std::shared_ptr<SharedSegment> MpiTransport::allocate_shared(size_t bytes_per_rank) {
  // Every rank sees the same host ids, so all agree when the group spans hosts.
  if (std::any_of(host_ids_.begin(), host_ids_.end(), [&](int host) { return host != host_ids_[0]; })) {
    return nullptr;
  }
  MPI_Info info = MPI_INFO_NULL;
  LOOM_MPI_CALL(MPI_Info_create(&info));
  // Each slice in its own pages (first touched by its owner) rather than one contiguous block.
  LOOM_MPI_CALL(MPI_Info_set(info, "alloc_shared_noncontig", "true"));
  void* mine = nullptr;
  MPI_Win window = MPI_WIN_NULL;
  // Open MPI puts a small header before the first slice: allocate a page more and align up.
  const size_t slice = SharedSegment::slice_bytes(bytes_per_rank) + SharedSegment::kAlignment;
  auto aligned = [](void* base) {
    const uintptr_t at = reinterpret_cast<uintptr_t>(base);
    return reinterpret_cast<char*>((at + SharedSegment::kAlignment - 1) / SharedSegment::kAlignment *
                                   SharedSegment::kAlignment);
  };
  LOOM_MPI_CALL(MPI_Win_allocate_shared(static_cast<MPI_Aint>(slice), 1, info, comm_, &mine, &window));
  LOOM_MPI_CALL(MPI_Info_free(&info));
  LOOM_MPI_CALL(MPI_Win_set_errhandler(window, MPI_ERRORS_RETURN));
  std::vector<char*> bases(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) {
    MPI_Aint size = 0;
    int displacement_unit = 0;
    void* base = nullptr;
    LOOM_MPI_CALL(MPI_Win_shared_query(window, r, &size, &displacement_unit, &base));
    LOOM_CHECK(static_cast<size_t>(size) >= slice, "shared slice of rank {} has {} bytes, expected {}", r, size, slice);
    bases[static_cast<size_t>(r)] = aligned(base);
  }
  // Passive-target epoch for the window's life: ranks then load and store directly, ordered by
  // the atomics in the control blocks.
  LOOM_MPI_CALL(MPI_Win_lock_all(MPI_MODE_NOCHECK, window));
  std::memset(aligned(mine), 0, SharedSegment::kControlBytes);
  LOOM_MPI_CALL(MPI_Win_sync(window));
  LOOM_MPI_CALL(MPI_Barrier(comm_));
  LOOM_MPI_CALL(MPI_Win_sync(window));
  return std::make_shared<MpiSharedSegment>(this, rank_, std::move(bases), bytes_per_rank, window);
}

void MpiTransport::abort_job(const CommError& error) {
  int world_rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  std::fprintf(stderr, "loom: rank %d: %s\n", world_rank, error.what());
  std::fflush(stderr);
  // Peers whose deadlines expire a moment later report too before MPI_Abort takes them down:
  // in a ring, only the rank next to the missing one can name it.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  MPI_Abort(MPI_COMM_WORLD, 3);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] honest
}

}  // namespace loom::comm
