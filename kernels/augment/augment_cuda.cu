// augment_cuda.cu — the gather + augmentation kernel (contract in augment_cuda.h; per-pixel math and
// the Philox draw layout in augment.h).
#include <cmath>

#include "engine/check.h"
#include "engine/cuda/common.cuh"
#include "kernels/augment/augment.h"
#include "kernels/augment/augment_cuda.h"

namespace dru::cuda {

namespace {

constexpr int kAugmentThreads = 256;

// One block per image of the batch; its threads walk the 3 S S output values in order (coalesced
// stores; loads are row-contiguous, mirrored under a flip). Every thread makes the image's Philox draw
// itself: ten rounds of integer math are cheaper than a shared-memory broadcast and its barrier.
__global__ void __launch_bounds__(kAugmentThreads)
    augment_gather_kernel(const uint8_t* __restrict__ images, int64_t n_all, const int64_t* __restrict__ index,
                          float* __restrict__ out, int S, bool train, uint64_t seed, uint64_t step, int pad) {
  const int64_t k = blockIdx.x;
  const int plane = S * S, per = 3 * plane;
  float* o = out + k * int64_t(per);
  const int64_t src = index ? index[k] : k;
  if (src < 0 || src >= n_all) {
    for (int j = threadIdx.x; j < per; j += blockDim.x) o[j] = NAN;
    return;
  }
  const uint8_t* img = images + src * int64_t(per);
  if (!train) {
    for (int j = threadIdx.x; j < per; j += blockDim.x) o[j] = augment_normalize(img[j]);
    return;
  }
  const CropFlip d = augment_draw(seed, step, uint64_t(k), pad);
  for (int j = threadIdx.x; j < per; j += blockDim.x) {
    const int c = j / plane, r = j - c * plane, y = r / S, x = r - y * S;
    o[j] = augment_pixel(img, S, c, y, x, d, pad);
  }
}

}  // namespace

void augment_gather(const uint8_t* images, int64_t n_all, const int64_t* index, float* out, int64_t B, int S,
                    bool train, uint64_t seed, uint64_t step, int pad) {
  if (B == 0) return;
  DRU_CHECK(S > 0 && S <= 16384 && pad >= 0, "augment_images (cuda): image size {} or padding {} out of range", S,
            pad);
  DRU_CHECK(B <= int64_t(0x7fffffff), "augment_images (cuda): batch of {} exceeds the grid", B);
  augment_gather_kernel<<<unsigned(B), kAugmentThreads, 0, stream()>>>(images, n_all, index, out, S, train, seed,
                                                                       step, pad);
  DRU_CUDA_LAUNCHED();
}

}  // namespace dru::cuda
