// The CUDA seam with a real CUDA runtime: device discovery, memory and copies. Kernels for the
// primitives arrive with the CUDA backend; until then ops report that they have none.
#include <cuda_runtime.h>

#include <string>

#include "core/device.h"
#include "core/error.h"

namespace loom::cuda {

namespace {
void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess) {
    throw Error(std::string(call) + " failed: " + cudaGetErrorString(status));
  }
}
}  // namespace

bool is_available() { return device_count() > 0; }

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

void* allocate(size_t bytes) {
  void* pointer = nullptr;
  check(cudaMalloc(&pointer, bytes), "cudaMalloc");
  return pointer;
}

void deallocate(void* pointer) { check(cudaFree(pointer), "cudaFree"); }

void copy_to_device(void* device_dst, const void* host_src, size_t bytes) {
  check(cudaMemcpy(device_dst, host_src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy(H2D)");
}

void copy_to_host(void* host_dst, const void* device_src, size_t bytes) {
  check(cudaMemcpy(host_dst, device_src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(D2H)");
}

void unsupported(const std::string& what) {
  throw UserError(what + " has no CUDA implementation yet");
}

}  // namespace loom::cuda
