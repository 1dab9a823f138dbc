// norm_pool.h — batch normalisation and 2-D pooling on the GPU: launchers for engine/ops_conv.cpp.
//
// Same semantics and layouts as the CPU references in kernels/batchnorm/batchnorm.h and
// kernels/pool/pool.h (read those for the math); raw device pointers, f32, queued on the engine's
// stream. Everything is deterministic: the reductions use fixed-order partial sums (no atomics) and
// the pool backwards gather, for each input element, the outputs whose windows cover it, adding in
// the order the CPU does — so the pool gradients equal the CPU's bit for bit.
#pragma once

#include <cstdint>

#include "engine/cuda/api.h"
#include "kernels/batchnorm/batchnorm.h"
#include "kernels/pool/pool.h"

namespace dru::cuda {

// Training statistics of x (N, C, S): mean (C) and invstd = 1 / sqrt(biased var + eps) (C). When
// running_mean and running_var are not null they are updated in place with momentum and the
// unbiased variance (requires N * S > 1), as batch_norm_update_running_cpu.
DRU_CUDA_API(void batch_norm_stats(const float* x, float* mean, float* invstd, float* running_mean, float* running_var,
                                   const bn::BatchNormDims& d, double momentum, double eps))
// invstd = 1 / sqrt(var + eps) for C channels (eval mode, from the running variance).
DRU_CUDA_API(void batch_norm_invstd(const float* var, float* invstd, int64_t C, double eps))
// y = (x - mean) * invstd * gamma + beta; gamma and beta may be null.
DRU_CUDA_API(void batch_norm_apply(const float* x, const float* mean, const float* invstd, const float* gamma,
                                   const float* beta, float* y, const bn::BatchNormDims& d))
// As batch_norm_backward_cpu: any of dx, dgamma, dbeta may be null; outputs are overwritten.
DRU_CUDA_API(void batch_norm_backward(const float* x, const float* dy, const float* mean, const float* invstd,
                                      const float* gamma, float* dx, float* dgamma, float* dbeta,
                                      const bn::BatchNormDims& d, bool batch_stats))

// argmax (planes, Ho, Wo) holds the winner's index h * W + w in its plane, as the CPU.
DRU_CUDA_API(void max_pool2d_forward(const float* x, float* y, int64_t* argmax, const pool::Pool2dDims& d))
DRU_CUDA_API(void max_pool2d_backward(const float* dy, const int64_t* argmax, float* dx, const pool::Pool2dDims& d))
DRU_CUDA_API(void avg_pool2d_forward(const float* x, float* y, const pool::Pool2dDims& d))
DRU_CUDA_API(void avg_pool2d_backward(const float* dy, float* dx, const pool::Pool2dDims& d))
DRU_CUDA_API(void adaptive_avg_pool2d_forward(const float* x, float* y, const pool::Pool2dDims& d))
DRU_CUDA_API(void adaptive_avg_pool2d_backward(const float* dy, float* dx, const pool::Pool2dDims& d))

}  // namespace dru::cuda
