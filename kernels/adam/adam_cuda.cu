// adam_cuda.cu — the fused Adam kernels (contract and versions in adam_cuda.h; element math in adam.h).
#include <algorithm>
#include <cstdint>

#include "engine/check.h"
#include "engine/cuda/common.cuh"
#include "kernels/adam/adam.h"
#include "kernels/adam/adam_cuda.h"

namespace dru {

namespace {

constexpr int kAdamBlock = 256;

// The per-step scalars from the device-resident lr, in double as PyTorch computes them; each thread
// builds its own copy (a few FP64 operations, nothing next to the memory traffic).
__device__ __forceinline__ AdamScalars<float> scalars_of(const float* lr, double beta1, double beta2, double eps,
                                                         double weight_decay, double bias_c1, double bias_c2) {
  return adam_scalars<float>(double(*lr), beta1, beta2, eps, weight_decay, bias_c1, bias_c2);
}

// v1: one element per thread per iteration.
__device__ __forceinline__ void adam_v1_body(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                             float* __restrict__ v, int64_t n, const AdamScalars<float>& s) {
  DRU_GRID_LOOP(i, n) adam_update(p[i], g[i], m[i], v[i], s);
}

__global__ void __launch_bounds__(kAdamBlock)
    adam_v1_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                   int64_t n, const float* __restrict__ lr, double beta1, double beta2, double eps,
                   double weight_decay, double bias_c1, double bias_c2) {
  adam_v1_body(p, g, m, v, n, scalars_of(lr, beta1, beta2, eps, weight_decay, bias_c1, bias_c2));
}

// v2: float4 loads and stores over the first 4 * (n / 4) elements; the block-0 threads then take the
// (at most three) remaining elements one by one.
__device__ __forceinline__ void adam_v2_body(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                                             float* __restrict__ v, int64_t n, const AdamScalars<float>& s) {
  const int64_t n4 = n / 4;
  float4* p4 = reinterpret_cast<float4*>(p);
  const float4* g4 = reinterpret_cast<const float4*>(g);
  float4* m4 = reinterpret_cast<float4*>(m);
  float4* v4 = reinterpret_cast<float4*>(v);
  DRU_GRID_LOOP(i, n4) {
    float4 pp = p4[i], gg = g4[i], mm = m4[i], vv = v4[i];
    adam_update(pp.x, gg.x, mm.x, vv.x, s);
    adam_update(pp.y, gg.y, mm.y, vv.y, s);
    adam_update(pp.z, gg.z, mm.z, vv.z, s);
    adam_update(pp.w, gg.w, mm.w, vv.w, s);
    p4[i] = pp;
    m4[i] = mm;
    v4[i] = vv;
  }
  if (blockIdx.x == 0) {
    const int64_t i = 4 * n4 + threadIdx.x;
    if (i < n) adam_update(p[i], g[i], m[i], v[i], s);
  }
}

__global__ void __launch_bounds__(kAdamBlock)
    adam_v2_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                   int64_t n, const float* __restrict__ lr, double beta1, double beta2, double eps,
                   double weight_decay, double bias_c1, double bias_c2) {
  adam_v2_body(p, g, m, v, n, scalars_of(lr, beta1, beta2, eps, weight_decay, bias_c1, bias_c2));
}

// The graph-safe pair: one thread computes the step's scalars from the number of steps taken so far
// (read from device memory when given — a CUDA graph's replay counter — else the launch argument) and
// the update kernels read them, so a replayed graph takes the step the host's count says and an eager
// step computes exactly the same scalars.
__global__ void adam_prepare_kernel(AdamScalars<float>* __restrict__ out, const uint64_t* __restrict__ steps_before,
                                    uint64_t steps_before_value, const float* __restrict__ lr, double beta1,
                                    double beta2, double eps, double weight_decay) {
  const int64_t t = int64_t(steps_before ? *steps_before : steps_before_value) + 1;
  *out = adam_scalars<float>(double(*lr), beta1, beta2, eps, weight_decay, adam_bias_correction(beta1, t),
                             adam_bias_correction(beta2, t));
}

template <int kVersion>
__global__ void __launch_bounds__(kAdamBlock)
    adam_apply_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                      int64_t n, const AdamScalars<float>* __restrict__ scalars) {
  const AdamScalars<float> s = *scalars;
  if constexpr (kVersion == 2)
    adam_v2_body(p, g, m, v, n, s);
  else
    adam_v1_body(p, g, m, v, n, s);
}

bool aligned16(const void* x) { return reinterpret_cast<uintptr_t>(x) % 16 == 0; }

// Whether the float4 body (v2) may run: every array on a 16-byte boundary.
bool vec4_ok(const float* p, const float* g, const float* m, const float* v) {
  return aligned16(p) && aligned16(g) && aligned16(m) && aligned16(v);
}

// Blocks for n elements taken four (vec4) or one at a time per thread: enough for the work, at most 8
// resident blocks of 256 per SM (the grid-stride loops take the rest).
unsigned adam_blocks(int64_t n, bool vec4) {
  const int64_t work = vec4 ? n / 4 : n;
  const int64_t cap = int64_t(std::max(cuda::sm_count(), 1)) * 8;
  return unsigned(std::clamp<int64_t>((work + kAdamBlock - 1) / kAdamBlock, 1, cap));
}

void launch_adam(int version, float* p, const float* g, float* m, float* v, int64_t n, const float* lr, double beta1,
                 double beta2, double eps, double weight_decay, int64_t step, cudaStream_t stream) {
  DRU_CHECK(version == 1 || version == 2, "adam_step_cuda: no kernel version {} (1 or 2)", version);
  DRU_CHECK(step >= 1, "adam_step_cuda: step {} must be >= 1", step);
  if (n <= 0) return;
  const double c1 = adam_bias_correction(beta1, step), c2 = adam_bias_correction(beta2, step);
  const bool vec4 = version == 2 && vec4_ok(p, g, m, v);
  const unsigned blocks = adam_blocks(n, vec4);
  if (vec4)
    adam_v2_kernel<<<blocks, kAdamBlock, 0, stream>>>(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, c1, c2);
  else
    adam_v1_kernel<<<blocks, kAdamBlock, 0, stream>>>(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, c1, c2);
  DRU_CUDA_LAUNCHED();
}

}  // namespace

void adam_step_cuda_version(int version, float* p, const float* g, float* m, float* v, int64_t n, const float* lr,
                            double beta1, double beta2, double eps, double weight_decay, int64_t step) {
  launch_adam(version, p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, step, cuda::stream());
}

void adam_step_cuda(float* p, const float* g, float* m, float* v, int64_t n, const float* lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t step, cudaStream_t stream) {
  launch_adam(2, p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, step, stream);
}

void adam_step_cuda(float* p, const float* g, float* m, float* v, int64_t n, const float* lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t step) {
  adam_step_cuda(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, step, cuda::stream());
}

void adam_prepare_cuda(AdamScalars<float>* scalars, const uint64_t* steps_before, uint64_t steps_before_value,
                       const float* lr, double beta1, double beta2, double eps, double weight_decay) {
  adam_prepare_kernel<<<1, 1, 0, cuda::stream()>>>(scalars, steps_before, steps_before_value, lr, beta1, beta2, eps,
                                                   weight_decay);
  DRU_CUDA_LAUNCHED();
}

void adam_apply_cuda(float* p, const float* g, float* m, float* v, int64_t n, const AdamScalars<float>* scalars) {
  if (n <= 0) return;
  const bool vec4 = vec4_ok(p, g, m, v);
  const unsigned blocks = adam_blocks(n, vec4);
  if (vec4)
    adam_apply_kernel<2><<<blocks, kAdamBlock, 0, cuda::stream()>>>(p, g, m, v, n, scalars);
  else
    adam_apply_kernel<1><<<blocks, kAdamBlock, 0, cuda::stream()>>>(p, g, m, v, n, scalars);
  DRU_CUDA_LAUNCHED();
}

}  // namespace dru
