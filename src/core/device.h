// Devices. The CPU is always present; CUDA is provided by backend/cuda when built with
// LOOM_CUDA, otherwise by backend/no_cuda, whose functions throw "... has no CUDA implementation".
#pragma once

#include <cstddef>
#include <string>

namespace loom {

enum class Device { cpu, cuda };

std::string device_name(Device device);

// The seam to the accelerator backend (backend/cuda or backend/no_cuda).
namespace cuda {
bool is_available();
int device_count();
void* allocate(size_t bytes);
void deallocate(void* pointer);
void copy_to_device(void* device_dst, const void* host_src, size_t bytes);
void copy_to_host(void* host_dst, const void* device_src, size_t bytes);
// Throws "<what> has no CUDA implementation" (used by ops that have only CPU kernels).
[[noreturn]] void unsupported(const std::string& what);
}  // namespace cuda

}  // namespace loom
