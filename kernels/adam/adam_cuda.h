// adam_cuda.h — the Adam step over the parameter arena on the GPU: one launch per step (DESIGN
// decision 4), the learning rate read from device memory (decision 5: the plateau kernel writes it
// there, so no host round trip is needed between epochs). The element math is adam_update from
// adam.h, the same function the CPU reference loops over.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace dru {

// p, g, m, v: (n) device arrays; lr: one float in device memory; step >= 1 (bias corrections are
// computed on the host in double, as PyTorch does).
void adam_step_cuda(float* p, const float* g, float* m, float* v, int64_t n, const float* lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t step, cudaStream_t stream);

}  // namespace dru
