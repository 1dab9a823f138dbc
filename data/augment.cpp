// augment.cpp — see augment.h. The CPU path loops over kernels/augment/augment_cpu.cpp; images on CUDA
// go through kernels/augment/augment_cuda.cu, which computes the same bytes.
#include "data/augment.h"

#include <cstring>

#include "kernels/augment/augment_cuda.h"

namespace dru {

namespace {

void check_images(const char* op, const Tensor& x, int pad) {
  DRU_CHECK(x.defined(), "{}: the images are undefined", op);
  DRU_CHECK(x.dtype() == DType::u8, "{}: the images have dtype {}, expected u8 images", op, dtype_name(x.dtype()));
  DRU_CHECK(x.ndim() == 4 && x.size(1) == 3 && x.size(2) == x.size(3), "{}: the images have shape {}, expected (N, 3, S, S)",
            op, x.shape().str());
  DRU_CHECK(pad >= 0, "{}: padding {} is negative", op, pad);
}

}  // namespace

Tensor augment_images(const Tensor& batch, bool train, uint64_t seed, uint64_t step, int pad) {
  check_images("augment_images", batch, pad);
  Tensor out = Tensor::empty(batch.shape(), DType::f32, batch.device());
  if (on_cuda(batch)) {
    cuda::augment_gather(batch.data<uint8_t>(), batch.size(0), nullptr, out.data<float>(), batch.size(0),
                         int(batch.size(2)), train, seed, step, pad);
    return out;
  }
  augment_images_cpu(batch.data<uint8_t>(), out.data<float>(), batch.size(0), int(batch.size(2)), train, seed, step,
                     pad);
  return out;
}

Tensor augment_gather_images(const Tensor& images, const Tensor& index, bool train, uint64_t seed, uint64_t step,
                             int pad) {
  const char* op = "augment_gather_images";
  check_images(op, images, pad);
  DRU_CHECK(index.defined() && index.dtype() == DType::i64 && index.ndim() == 1,
            "{}: the index must be a 1-D i64 tensor, got {}", op,
            index.defined() ? index.shape().str() + " " + dtype_name(index.dtype()) : std::string("undefined"));
  DRU_CHECK(index.device() == images.device(), "{}: images are on {} but the index is on {}", op,
            device_name(images.device()), device_name(index.device()));
  const int64_t B = index.size(0), n_all = images.size(0), S = images.size(2);
  if (on_cuda(images)) {
    Tensor out = Tensor::empty(Shape{B, 3, S, S}, DType::f32, Device::cuda);
    cuda::augment_gather(images.data<uint8_t>(), n_all, index.data<int64_t>(), out.data<float>(), B, int(S), train,
                         seed, step, pad);
    return out;
  }
  const int64_t per = 3 * S * S;
  Tensor batch = Tensor::empty(Shape{B, 3, S, S}, DType::u8);
  const int64_t* idx = index.data<int64_t>();
  for (int64_t k = 0; k < B; ++k) {
    DRU_CHECK(idx[k] >= 0 && idx[k] < n_all, "{}: index {} at position {} is outside [0, {})", op, idx[k], k, n_all);
    std::memcpy(batch.data<uint8_t>() + k * per, images.data<uint8_t>() + idx[k] * per, size_t(per));
  }
  return augment_images(batch, train, seed, step, pad);
}

}  // namespace dru
