// test_gpu_adam.cpp — the CUDA Adam kernels (v1 scalar, v2 float4) against the CPU reference (the same
// adam_update), on aligned and unaligned arrays, with the lr read from device memory.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "engine/rng.h"
#include "kernels/adam/adam.h"
#include "kernels/adam/adam_cuda.h"

using namespace dru;

namespace {

// Runs 10 steps on the CPU and with kernel `version` on elements [offset, offset + n) of device buffers
// (offset 1 makes the pointers 4 mod 16 bytes: v2 must fall back to v1); returns the worst relative error.
double adam_parity(int version, int64_t n, int64_t offset, double weight_decay) {
  Generator gen(5);
  Tensor p = Tensor::empty(Shape{n}), g = Tensor::empty(Shape{n});
  gen.fill_uniform(p, -1, 1);
  Tensor m = Tensor::zeros(Shape{n}), v = Tensor::zeros(Shape{n});
  Tensor big = Tensor::zeros(Shape{n + offset}, DType::f32, Device::cuda);
  Tensor dp = big.slice(0, offset, offset + n);
  dp.copy_(p);
  Tensor dg = Tensor::zeros(Shape{n + offset}, DType::f32, Device::cuda).slice(0, offset, offset + n);
  Tensor dm = Tensor::zeros(Shape{n + offset}, DType::f32, Device::cuda).slice(0, offset, offset + n);
  Tensor dv = Tensor::zeros(Shape{n + offset}, DType::f32, Device::cuda).slice(0, offset, offset + n);
  Tensor lr = Tensor::full(Shape{1}, 0.01).to(Device::cuda);
  for (int step = 1; step <= 10; ++step) {
    gen.fill_uniform(g, -1, 1);
    dg.copy_(g);
    adam_step_cpu(p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), n, 0.01, 0.9, 0.999, 1e-8,
                  weight_decay, step);
    if (version == 0)
      adam_step_cuda(dp.data<float>(), dg.data<float>(), dm.data<float>(), dv.data<float>(), n, lr.data<float>(), 0.9,
                     0.999, 1e-8, weight_decay, step);
    else
      adam_step_cuda_version(version, dp.data<float>(), dg.data<float>(), dm.data<float>(), dv.data<float>(), n,
                             lr.data<float>(), 0.9, 0.999, 1e-8, weight_decay, step);
  }
  std::vector<double> a = p.to_vector(), b = dp.to_vector();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(1.0, std::fabs(a[i])));
  return worst;
}

}  // namespace

TEST_CASE("gpu: adam matches the CPU reference over 10 steps") {
  // n = 100003 is not a multiple of the block size nor of 4 (v2's tail path runs).
  for (int version : {0, 1, 2})
    for (double wd : {0.0, 0.01}) {
      double worst = adam_parity(version, 100'003, 0, wd);
      MESSAGE("gpu adam: version " << version << " wd " << wd << " worst relative error " << worst
                                   << " (tolerance 1e-6)");
      CHECK(worst <= 1e-6);
    }
}

TEST_CASE("gpu: adam with unaligned arrays and tiny sizes") {
  for (int64_t n : {1, 3, 4, 7, 1029})
    for (int64_t offset : {0, 1}) {
      double worst = adam_parity(2, n, offset, 0.01);
      MESSAGE("gpu adam: n " << n << " offset " << offset << " worst relative error " << worst);
      CHECK(worst <= 1e-6);
    }
}
