// loss_cuda.h — the fused regression losses of loss.h on the GPU, and the scaling of a saved gradient
// by a scalar that lives in device memory (the fused nodes' backward).
//
// Each loss is one pass over pred and target that writes d loss / d pred (the same per-element
// functions as the CPU reference) and one partial sum per block into dru::cuda::workspace(); a second
// one-block kernel adds the partials in a fixed order and writes the loss as one float in device
// memory. No float atomics, so two runs give the same bits; no host synchronisation, so the loss stays
// on the device until someone reads it. Sums are in double, as the CPU reference's. With a single block
// (small n) the first kernel writes the loss itself.
// All pointers are f32 device pointers; launches are queued on the engine's stream.
#pragma once

#include <cstdint>

#include "engine/cuda/api.h"

namespace dru::cuda {

// quantile_loss_fused takes at most this many quantiles (passed by value to the kernel).
constexpr int kMaxLossQuantiles = 16;

// loss[0] = mean |pred - target|, grad = sign(pred - target) / n.
DRU_CUDA_API(void l1_loss_fused(const float* pred, const float* target, float* grad, float* loss, int64_t n))
// loss[0] = mean (pred - target)^2, grad = 2 (pred - target) / n.
DRU_CUDA_API(void mse_loss_fused(const float* pred, const float* target, float* grad, float* loss, int64_t n))
// pred (N, Q), target (N), quantiles: Q host values (Q <= kMaxLossQuantiles); pinball loss of loss.h.
DRU_CUDA_API(void quantile_loss_fused(const float* pred, const float* target, const double* quantiles, int Q,
                                      float* grad, float* loss, int64_t N))
// y = s[0] * x and, where neg_y is not null, neg_y = -y; s is one float in device memory (never read
// on the host).
DRU_CUDA_API(void scale_by_device_scalar(const float* x, const float* s, float* y, float* neg_y, int64_t n))

}  // namespace dru::cuda
