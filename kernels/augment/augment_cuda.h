// augment_cuda.h — the training augmentation of augment.h on the GPU, fused with the batch gather: the
// whole image set stays resident on the device as u8 and each step reads only its batch's images
// through a device index list, so no image crosses the PCIe bus during training. Per image of the
// batch the crop offsets and the flip come from the same Philox draw as on the CPU (augment_draw, keyed
// by the image's position in the batch), and every pixel from augment_pixel: the output bytes equal the
// CPU path's for the same (seed, step).
#pragma once

#include <cstdint>

#include "engine/cuda/api.h"

namespace dru::cuda {

// images: (n_all, 3, S, S) u8; index: (B) i64 rows of images, or null for rows 0..B-1; out: (B, 3, S, S)
// f32 in [-1, 1]. train: crop with `pad` zero padding and flip; otherwise normalise only. An index
// outside [0, n_all) cannot be reported without a host sync: that image's output is all NaN.
DRU_CUDA_API(void augment_gather(const uint8_t* images, int64_t n_all, const int64_t* index, float* out, int64_t B,
                                 int S, bool train, uint64_t seed, uint64_t step, int pad))

}  // namespace dru::cuda
