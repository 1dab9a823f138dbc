// augment_cpu.cpp — the CPU loop over augment.h's per-pixel function, parallel over images.
#include "kernels/augment/augment.h"

namespace dru {

void augment_images_cpu(const uint8_t* in, float* out, int64_t N, int S, bool train, uint64_t seed, uint64_t step,
                        int pad) {
  const int64_t per = int64_t(3) * S * S;
#pragma omp parallel for schedule(static) if (N * per >= (int64_t(1) << 16))
  for (int64_t i = 0; i < N; ++i) {
    const uint8_t* img = in + i * per;
    float* o = out + i * per;
    if (!train) {
      for (int64_t k = 0; k < per; ++k) o[k] = augment_normalize(img[k]);
      continue;
    }
    const CropFlip d = augment_draw(seed, step, uint64_t(i), pad);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x) o[(int64_t(c) * S + y) * S + x] = augment_pixel(img, S, c, y, x, d, pad);
  }
}

}  // namespace dru
