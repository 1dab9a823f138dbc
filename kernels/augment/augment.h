// augment.h — the paper's training augmentation for face images, per pixel, shared by the CPU loop and
// a future CUDA kernel.
//
// PyTorch semantic matched (docs/paper.md §1.2, datasets.AgeDB): RandomCrop(S, padding=16) with zero padding,
// then RandomHorizontalFlip(p=0.5), then ToTensor and Normalize(0.5, 0.5), i.e.
//   out(c, y, x) = norm(in(c, y + top - P, xs + left - P)),  xs = flip ? S - 1 - x : x,
//   norm(v) = (v / 255 - 0.5) / 0.5  in [-1, 1],
// where top, left are uniform in [0, 2P] (torchvision's randint over the padded (S+2P)^2 image) and a
// source pixel outside the image is a padding zero, so it becomes -1 (Normalize runs after the pad).
// Evaluation is norm(in(c, y, x)) alone.
//
// Random draws (Philox4x32-10, kernels/rng/philox.h), one block per image:
//   r = philox4x32(counter_lo = i, counter_hi = (kAugmentStream << 40) | step, key = seed)
//   top = r[0] % (2P + 1),  left = r[1] % (2P + 1),  flip = r[2] >> 31
// where i is the image's index in the batch and step the caller's batch counter (< 2^40; give every
// batch of a run its own step). The stream tag in the high counter word keeps these draws apart from
// the engine Generator's (which uses counter_hi = 0) even when both use the same seed. The modulo bias
// is at most 33 / 2^32. Layouts: in (N, 3, S, S) u8, out (N, 3, S, S) f32.
#pragma once

#include <cstdint>

#include "kernels/common/hd.h"
#include "kernels/rng/philox.h"

namespace dru {

constexpr int kAugmentPad = 16;                  // RandomCrop(padding=16) in the paper's code
constexpr uint64_t kAugmentStream = 0x617567;    // "aug"
constexpr uint64_t kAugmentStepMask = (uint64_t(1) << 40) - 1;

struct CropFlip {
  int top;   // crop row in the padded image, [0, 2P]
  int left;  // crop column in the padded image, [0, 2P]
  int flip;  // 1: mirror left-right after the crop
};

DRU_HD CropFlip augment_draw(uint64_t seed, uint64_t step, uint64_t i, int pad) {
  Philox4 r = philox4x32(i, (kAugmentStream << 40) | (step & kAugmentStepMask), seed);
  uint32_t span = uint32_t(2 * pad + 1);
  CropFlip d;
  d.top = int(r.v[0] % span);
  d.left = int(r.v[1] % span);
  d.flip = int(r.v[2] >> 31);
  return d;
}

// ToTensor then Normalize(0.5, 0.5) in f32, in PyTorch's order of operations.
DRU_HD float augment_normalize(uint8_t v) { return (float(v) / 255.0f - 0.5f) / 0.5f; }

// One output pixel of the augmented image; img is that image's (3, S, S) bytes.
DRU_HD float augment_pixel(const uint8_t* img, int S, int c, int y, int x, CropFlip d, int pad) {
  int xs = d.flip ? S - 1 - x : x;
  int sy = y + d.top - pad, sx = xs + d.left - pad;
  if (sy < 0 || sy >= S || sx < 0 || sx >= S) return augment_normalize(0);
  return augment_normalize(img[(int64_t(c) * S + sy) * S + sx]);
}

// in (N, 3, S, S) u8 -> out (N, 3, S, S) f32. train: crop and flip as above; otherwise normalise only.
void augment_images_cpu(const uint8_t* in, float* out, int64_t N, int S, bool train, uint64_t seed, uint64_t step,
                        int pad);

}  // namespace dru
