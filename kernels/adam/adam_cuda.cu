// adam_cuda.cu — v1 of the fused Adam kernel: a grid-stride loop, one element per thread per
// iteration; memory-bound (28 bytes per parameter), so the grid is sized to fill the device once.
#include <algorithm>

#include "engine/check.h"
#include "kernels/adam/adam.h"
#include "kernels/adam/adam_cuda.h"

namespace dru {

constexpr int kAdamBlock = 256;

__global__ void adam_step_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                 float* __restrict__ v, int64_t n, const float* __restrict__ lr, double beta1,
                                 double beta2, double eps, double weight_decay, double bias_c1, double bias_c2) {
  const AdamScalars<float> s = adam_scalars<float>(double(*lr), beta1, beta2, eps, weight_decay, bias_c1, bias_c2);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    adam_update(p[i], g[i], m[i], v[i], s);
}

void adam_step_cuda(float* p, const float* g, float* m, float* v, int64_t n, const float* lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t step, cudaStream_t stream) {
  if (n == 0) return;
  int device = 0, sms = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  int64_t blocks = std::min<int64_t>((n + kAdamBlock - 1) / kAdamBlock, int64_t(std::max(sms, 1)) * 8);
  adam_step_kernel<<<unsigned(blocks), kAdamBlock, 0, stream>>>(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay,
                                                                 adam_bias_correction(beta1, step),
                                                                 adam_bias_correction(beta2, step));
  cudaError_t err = cudaGetLastError();
  DRU_CHECK(err == cudaSuccess, "adam_step_cuda: kernel launch failed: {}", cudaGetErrorString(err));
}

}  // namespace dru
