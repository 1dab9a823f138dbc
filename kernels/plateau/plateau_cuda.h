// plateau_cuda.h — ReduceLROnPlateau on the GPU: the rule of plateau.h (the same DRU_HD function the
// host runs) in a one-thread kernel, once per epoch. The state lives in device memory and the new
// learning rate is written as one float where the Adam kernel reads it (adam_cuda.h), so an epoch's
// validation loss never travels to the host to decide the next lr.
#pragma once

#include <cuda_runtime_api.h>

#include "kernels/plateau/plateau.h"

namespace dru {

// One step of the rule: reads the metric (one float in device memory), updates *state_dev, writes
// float(state.lr) to *lr_out_dev and, where reduced_dev_or_null is not null, 1 or 0 there (whether this
// step reduced the lr). The metric is widened to double first, as the host rule takes it. Queued on
// `stream`; nothing waits.
void plateau_step_cuda(PlateauState* state_dev, const PlateauConfig& cfg, const float* metric_dev, float* lr_out_dev,
                       int* reduced_dev_or_null, cudaStream_t stream);
// The same, queued on the engine's stream (dru::cuda::stream()), for callers without CUDA headers.
void plateau_step_cuda(PlateauState* state_dev, const PlateauConfig& cfg, const float* metric_dev, float* lr_out_dev,
                       int* reduced_dev_or_null);

}  // namespace dru
