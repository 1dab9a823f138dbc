// adam_cuda.h — the Adam step over the parameter arena on the GPU: one launch per step (DESIGN
// decision 4), the learning rate read from device memory (decision 5: the plateau kernel writes it
// there, so no host round trip is needed between epochs). The element math is adam_update from
// adam.h, the same function the CPU reference loops over.
//
// Kernel versions (kernels/adam/adam_bench.cu times both):
//   v1  a grid-stride loop, one float per thread per iteration;
//   v2  the same loop over float4: four elements per 16-byte load and store of each array, used when
//       all four arrays are 16-byte aligned (the arena's are); the last n % 4 elements go through v1's
//       per-element path inside the same launch.
// Memory-bound: 28 bytes move per parameter (p, m, v read and written, g read).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/adam/adam.h"

namespace dru {

// p, g, m, v: (n) device arrays; lr: one float in device memory; step >= 1 (bias corrections are
// computed on the host in double, as PyTorch does). Picks v2 where the pointers allow, else v1.
void adam_step_cuda(float* p, const float* g, float* m, float* v, int64_t n, const float* lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t step, cudaStream_t stream);
// The same, queued on the engine's stream (dru::cuda::stream()), for callers without CUDA headers.
void adam_step_cuda(float* p, const float* g, float* m, float* v, int64_t n, const float* lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t step);
// One named version (1 or 2; 2 falls back to 1 for unaligned pointers) on the engine's stream, for
// the bench and the tests.
void adam_step_cuda_version(int version, float* p, const float* g, float* m, float* v, int64_t n, const float* lr,
                            double beta1, double beta2, double eps, double weight_decay, int64_t step);

// The two-kernel form Adam::step uses, safe inside a CUDA graph: adam_prepare_cuda (one thread)
// writes the step's scalars to *scalars from the number of steps taken before this one — read from
// device memory when steps_before is given (a replay counter, engine/cuda_runtime.h), else
// steps_before_value — and adam_apply_cuda (v2 where aligned, else v1) reads them. Nothing of the step
// is baked into the launch arguments of a captured step, so both replay correctly; eager and replayed
// steps run the same code and agree bit for bit. Engine stream.
void adam_prepare_cuda(AdamScalars<float>* scalars, const uint64_t* steps_before, uint64_t steps_before_value,
                       const float* lr, double beta1, double beta2, double eps, double weight_decay);
void adam_apply_cuda(float* p, const float* g, float* m, float* v, int64_t n, const AdamScalars<float>* scalars);

}  // namespace dru
