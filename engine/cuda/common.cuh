// common.cuh — what every .cu file of the engine shares: error checks, the stream, library handles,
// launch geometry, a scratch workspace and the warp sum. Only .cu files (and a few .cpp: the device part is
// behind __CUDACC__) include it.
#pragma once

#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#ifdef DRU_HAVE_CUDNN
#include <cudnn.h>
#endif

namespace dru::cuda {

// Throws dru::Error "CUDA error ... in <call> (file:line)"; defined in cuda_runtime.cpp.
[[noreturn]] void fail_call(const char* lib, int code, const char* text, const char* call, const char* file, int line);

cudaStream_t stream();      // the engine's stream (created on first use)
cublasHandle_t cublas();    // bound to stream(); math mode follows tf32()
#ifdef DRU_HAVE_CUDNN
cudnnHandle_t cudnn();      // bound to stream()
#endif
int sm_count();             // multiprocessors of the current device
// A device buffer of at least `bytes`, valid until the next call (stream-ordered reuse is safe
// because everything runs on stream()). For library workspaces and reductions' partial sums.
void* workspace(size_t bytes);

constexpr int kThreads = 256;
constexpr int kWarp = 32;
// Blocks for a grid-stride loop over n elements: enough to fill the device a few times over.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  int64_t cap = int64_t(sm_count()) * 16;
  if (b > cap) b = cap;
  return unsigned(b < 1 ? 1 : b);
}

#ifdef __CUDACC__
// Sum over the 32 lanes of a warp by a butterfly: every lane ends with the same total, added in a fixed
// order (a + b == b + a exactly, so the lanes agree bit for bit). All lanes must take part.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int m = kWarp / 2; m > 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m);
  return v;
}
#endif

}  // namespace dru::cuda

#define DRU_CUDA_CHECK(call)                                                                            \
  do {                                                                                                  \
    cudaError_t e_ = (call);                                                                            \
    if (e_ != cudaSuccess) ::dru::cuda::fail_call("CUDA", int(e_), cudaGetErrorString(e_), #call, __FILE__, __LINE__); \
  } while (0)

#define DRU_CUBLAS_CHECK(call)                                                                          \
  do {                                                                                                  \
    cublasStatus_t s_ = (call);                                                                         \
    if (s_ != CUBLAS_STATUS_SUCCESS) ::dru::cuda::fail_call("cuBLAS", int(s_), cublasGetStatusString(s_), #call, __FILE__, __LINE__); \
  } while (0)

#ifdef DRU_HAVE_CUDNN
#define DRU_CUDNN_CHECK(call)                                                                           \
  do {                                                                                                  \
    cudnnStatus_t s_ = (call);                                                                          \
    if (s_ != CUDNN_STATUS_SUCCESS) ::dru::cuda::fail_call("cuDNN", int(s_), cudnnGetErrorString(s_), #call, __FILE__, __LINE__); \
  } while (0)
#endif

// Checks the last kernel launch of the calling function.
#define DRU_CUDA_LAUNCHED() DRU_CUDA_CHECK(cudaGetLastError())

// Grid-stride loop over [0, n).
#define DRU_GRID_LOOP(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)
