// cuda_runtime.cpp — see cuda_runtime.h. Built with or without the CUDA toolkit.
#include "engine/cuda_runtime.h"

#ifdef DRU_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace dru::cuda {

#ifdef DRU_HAVE_CUDA

#define CUDA_CHECK(call)                                                                      \
  do {                                                                                        \
    cudaError_t err_ = (call);                                                                \
    DRU_CHECK(err_ == cudaSuccess, "CUDA error {} ({}) in {}", int(err_), cudaGetErrorString(err_), #call); \
  } while (0)

bool compiled() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later calls report their own
    return 0;
  }
  return n;
}

std::string device_name(int index) {
  cudaDeviceProp p{};
  CUDA_CHECK(cudaGetDeviceProperties(&p, index));
  return fmt::format("{} (sm_{}{}, {:.1f} GiB)", p.name, p.major, p.minor, double(p.totalGlobalMem) / (1 << 30));
}

void* malloc_device(size_t bytes) {
  DRU_CHECK(device_count() > 0, "cannot allocate {} bytes on CUDA: no GPU is visible (check the driver and "
                            "CUDA_VISIBLE_DEVICES)", bytes);
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, bytes ? bytes : 1));
  return p;
}

void free_device(void* p) { cudaFree(p); }

void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  cudaMemcpyKind kind = src_dev == Device::cpu ? (dst_dev == Device::cpu ? cudaMemcpyHostToHost : cudaMemcpyHostToDevice)
                                               : (dst_dev == Device::cpu ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice);
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
}

#else

bool compiled() { return false; }
int device_count() { return 0; }
std::string device_name(int) { DRU_FAIL("this build of dru has no CUDA backend; rebuild where the CUDA toolkit exists"); }
void* malloc_device(size_t) { DRU_FAIL("cannot allocate on CUDA: this build of dru has no CUDA backend"); }
void free_device(void*) {}
void copy(void*, Device, const void*, Device, size_t) {
  DRU_FAIL("cannot copy to or from CUDA: this build of dru has no CUDA backend");
}

#endif

}  // namespace dru::cuda
