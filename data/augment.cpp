// augment.cpp — see augment.h.
#include "data/augment.h"

namespace dru {

Tensor augment_images(const Tensor& batch, bool train, uint64_t seed, uint64_t step, int pad) {
  DRU_CHECK(batch.defined(), "augment_images: the batch is undefined");
  DRU_CHECK(batch.dtype() == DType::u8, "augment_images: the batch has dtype {}, expected u8 images",
            dtype_name(batch.dtype()));
  DRU_CHECK(batch.ndim() == 4 && batch.size(1) == 3 && batch.size(2) == batch.size(3),
            "augment_images: the batch has shape {}, expected (N, 3, S, S)", batch.shape().str());
  DRU_CHECK(pad >= 0, "augment_images: padding {} is negative", pad);
  check_cpu("augment_images", batch);
  Tensor out = Tensor::empty(batch.shape(), DType::f32);
  augment_images_cpu(batch.data<uint8_t>(), out.data<float>(), batch.size(0), int(batch.size(2)), train, seed, step,
                     pad);
  return out;
}

}  // namespace dru
