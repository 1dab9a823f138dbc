// test_gpu_adam.cpp — the CUDA Adam kernel against the CPU reference (the same adam_update).
#include <doctest/doctest.h>

#include <cmath>
#include <cuda_runtime_api.h>

#include "engine/rng.h"
#include "kernels/adam/adam.h"
#include "kernels/adam/adam_cuda.h"

using namespace dru;

TEST_CASE("gpu adam: matches the CPU reference over 10 steps") {
  const int64_t n = 100'003;  // not a multiple of the block size
  Generator gen(5);
  Tensor p = Tensor::empty(Shape{n}), g = Tensor::empty(Shape{n});
  gen.fill_uniform(p, -1, 1);
  Tensor m = Tensor::zeros(Shape{n}), v = Tensor::zeros(Shape{n});
  Tensor dp = p.to(Device::cuda), dg = g.to(Device::cuda), dm = m.to(Device::cuda), dv = v.to(Device::cuda);
  Tensor lr = Tensor::full(Shape{1}, 0.01).to(Device::cuda);
  for (int step = 1; step <= 10; ++step) {
    gen.fill_uniform(g, -1, 1);
    dg.copy_(g);
    adam_step_cpu(p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), n, 0.01, 0.9, 0.999, 1e-8,
                  0.01, step);
    adam_step_cuda(dp.data<float>(), dg.data<float>(), dm.data<float>(), dv.data<float>(), n, lr.data<float>(), 0.9,
                   0.999, 1e-8, 0.01, step, nullptr);
  }
  std::vector<double> a = p.to_vector(), b = dp.to_vector();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(1.0, std::fabs(a[i])));
  MESSAGE("gpu adam: worst relative error " << worst << " (tolerance 1e-6)");
  CHECK(worst <= 1e-6);
}
