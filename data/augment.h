// augment.h — turns a batch of resident uint8 face images into the model's f32 input: the paper's
// training augmentation (random 16-pixel-padded crop, horizontal flip) or plain normalisation.
//
// The per-pixel math and the exact layout of the Philox draws are in kernels/augment/augment.h, so a
// CUDA kernel can reproduce the CPU bytes. The paper's code also augments while it computes metrics
// (docs/paper.md §6.4); a caller that wants that quirk passes train = true at evaluation.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "kernels/augment/augment.h"

namespace dru {

// batch (N, 3, S, S) u8 -> (N, 3, S, S) f32 in [-1, 1] on the batch's device. train: per image a crop
// offset and a flip drawn from (seed, step, index in batch); the same arguments give the same output,
// bit for bit on the CPU and on CUDA. pad: the zero padding of the random crop (the paper's 16).
Tensor augment_images(const Tensor& batch, bool train, uint64_t seed, uint64_t step, int pad = kAugmentPad);

// The same for the images index[0..B) of a resident set images (N_all, 3, S, S) u8: equal to
// augment_images(index_select(images, index), ...) without the intermediate u8 batch. On CUDA (images
// and index both there) one kernel gathers and augments; it cannot check the indices without waiting
// for the GPU, so an index outside [0, N_all) gives an all-NaN image there (the CPU path throws).
Tensor augment_gather_images(const Tensor& images, const Tensor& index, bool train, uint64_t seed, uint64_t step,
                             int pad = kAugmentPad);

}  // namespace dru
