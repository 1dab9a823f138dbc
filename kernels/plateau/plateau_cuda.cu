// plateau_cuda.cu — the one-thread ReduceLROnPlateau kernel (contract in plateau_cuda.h).
#include "engine/cuda/common.cuh"
#include "kernels/plateau/plateau.h"
#include "kernels/plateau/plateau_cuda.h"

namespace dru {

namespace {

// One thread: the rule is a handful of comparisons on a 32-byte state; a launch is cheaper than a
// device-to-host round trip and keeps the host free to queue the next epoch.
__global__ void plateau_step_kernel(PlateauState* state, PlateauConfig cfg, const float* metric, float* lr_out,
                                    int* reduced) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  PlateauState s = *state;
  bool r = plateau_step(s, cfg, double(*metric));
  *state = s;
  *lr_out = float(s.lr);
  if (reduced) *reduced = r ? 1 : 0;
}

}  // namespace

void plateau_step_cuda(PlateauState* state_dev, const PlateauConfig& cfg, const float* metric_dev, float* lr_out_dev,
                       int* reduced_dev_or_null, cudaStream_t stream) {
  plateau_step_kernel<<<1, 1, 0, stream>>>(state_dev, cfg, metric_dev, lr_out_dev, reduced_dev_or_null);
  DRU_CUDA_LAUNCHED();
}

void plateau_step_cuda(PlateauState* state_dev, const PlateauConfig& cfg, const float* metric_dev, float* lr_out_dev,
                       int* reduced_dev_or_null) {
  plateau_step_cuda(state_dev, cfg, metric_dev, lr_out_dev, reduced_dev_or_null, cuda::stream());
}

}  // namespace dru
