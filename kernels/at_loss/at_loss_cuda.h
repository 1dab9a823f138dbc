// at_loss_cuda.h — the attention-transfer distance of at_loss.h on the GPU: (version 1) one kernel per layer with a
// block per sample (its two attention maps, their norms, its share of the loss and its rows of dL/da in
// one pass), then a one-block kernel that adds the per-sample shares in a fixed order and writes the
// mean as one float in device memory. No float atomics and no host synchronisation. The attention maps
// and the per-sample shares live in dru::cuda::workspace(). Launches are queued on the engine's stream.
#pragma once

#include <cstdint>

#include "engine/cuda/api.h"

namespace dru::cuda {

// a, b: (m, C, S) f32 device arrays; grad_a: (m, C, S) or null (forward only); loss: one float.
DRU_CUDA_API(void at_loss_fused(const float* a, const float* b, float* grad_a, float* loss, int64_t m, int64_t C,
                                int64_t S))
// One named version, for the bench and the tests: 1 = a block per sample (what at_loss_fused runs),
// 2 = a block per (sample, 32 positions), then a block per sample, then a grid over the elements for
// dL/da (at_loss_cuda.cu says why). Both keep a fixed order of additions: deterministic.
DRU_CUDA_API(void at_loss_fused_version(int version, const float* a, const float* b, float* grad_a, float* loss,
                                        int64_t m, int64_t C, int64_t S))

}  // namespace dru::cuda
