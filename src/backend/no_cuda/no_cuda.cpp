// The CUDA seam in a build without CUDA: every entry point reports that CUDA is absent.
#include "core/device.h"
#include "core/error.h"

namespace loom::cuda {

namespace {
[[noreturn]] void absent(const std::string& what) {
  throw UserError(what + " has no CUDA implementation (this Loom was built without LOOM_CUDA)");
}
}  // namespace

bool is_available() { return false; }
int device_count() { return 0; }
void* allocate(size_t) { absent("memory allocation"); }
void deallocate(void*) { absent("memory deallocation"); }
void copy_to_device(void*, const void*, size_t) { absent("copy to device"); }
void copy_to_host(void*, const void*, size_t) { absent("copy to host"); }
void unsupported(const std::string& what) { absent(what); }

}  // namespace loom::cuda
