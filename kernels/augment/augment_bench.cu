// augment_bench.cu — bench_augment: gather + crop/flip augmentation of a training batch (256 RGB 32x32
// images) from a resident set of 12,208 u8 images (augment_cuda.h), validated byte for byte against
// the CPU path; 5 bytes move per output value (1 u8 read, 1 f32 written).
#include <cstring>
#include <vector>

#include "engine/rng.h"
#include "kernels/augment/augment.h"
#include "kernels/augment/augment_cuda.h"
#include "kernels/common/bench.cuh"

using namespace dru;

int main() {
  bench::require_gpu("bench_augment");
  const int64_t n_all = 12'208, B = 256;
  const int S = 32;
  const int64_t per = 3 * S * S;
  std::vector<uint8_t> images(size_t(n_all * per));
  Generator gen(3);
  for (auto& x : images) x = uint8_t(gen.uniform() * 256);
  std::vector<int64_t> index(static_cast<size_t>(B));
  for (auto& i : index) i = int64_t(gen.uniform() * double(n_all)) % n_all;
  // CPU: gather, then the CPU augmentation.
  std::vector<uint8_t> batch(size_t(B * per));
  for (int64_t k = 0; k < B; ++k)
    std::memcpy(batch.data() + k * per, images.data() + index[size_t(k)] * per, size_t(per));
  std::vector<float> want(size_t(B * per)), got(size_t(B * per));
  const uint64_t seed = 17, step = 123;
  augment_images_cpu(batch.data(), want.data(), B, S, true, seed, step, kAugmentPad);

  bench::DeviceBuffer dimg(images.size()), didx(size_t(B) * 8), dout(size_t(B * per) * 4);
  cudaStream_t s = cuda::stream();
  DRU_CUDA_CHECK(cudaMemcpyAsync(dimg.p, images.data(), images.size(), cudaMemcpyHostToDevice, s));
  DRU_CUDA_CHECK(cudaMemcpyAsync(didx.p, index.data(), size_t(B) * 8, cudaMemcpyHostToDevice, s));
  auto run = [&] {
    cuda::augment_gather(dimg.as<uint8_t>(), n_all, didx.as<int64_t>(), dout.as<float>(), B, S, true, seed, step,
                         kAugmentPad);
  };
  run();
  DRU_CUDA_CHECK(cudaMemcpyAsync(got.data(), dout.p, got.size() * 4, cudaMemcpyDeviceToHost, s));
  DRU_CUDA_CHECK(cudaStreamSynchronize(s));
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) bad += std::memcmp(&got[i], &want[i], 4) != 0;
  bench::validate("augment B=256 from 12208 (differing values)", double(bad), 0.0);
  double ms = bench::median_ms(run);
  bench::row("augment", "v1", B * per, ms, 5.0 * double(B * per), ",\"images\":12208,\"batch\":256");
  return 0;
}
