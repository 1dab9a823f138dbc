// adam_bench.cu — bench_adam: the Adam kernel versions (adam_cuda.h) at ResNet-18's (small stem)
// parameter count, validated against the CPU reference, then timed; 28 bytes move per parameter.
#include <cmath>
#include <vector>

#include "engine/rng.h"
#include "kernels/adam/adam.h"
#include "kernels/adam/adam_cuda.h"
#include "kernels/common/bench.cuh"

using namespace dru;

namespace {

constexpr int64_t kN = 11'169'345;
constexpr double kLr = 1e-3, kB1 = 0.9, kB2 = 0.999, kEps = 1e-8, kWd = 1e-4;

struct Arrays {
  bench::DeviceBuffer p{kN * 4}, g{kN * 4}, m{kN * 4}, v{kN * 4}, lr{4};
};

void upload(const Arrays& d, const std::vector<float>& p, const std::vector<float>& g) {
  cudaStream_t s = cuda::stream();
  DRU_CUDA_CHECK(cudaMemcpyAsync(d.p.p, p.data(), kN * 4, cudaMemcpyHostToDevice, s));
  DRU_CUDA_CHECK(cudaMemcpyAsync(d.g.p, g.data(), kN * 4, cudaMemcpyHostToDevice, s));
  DRU_CUDA_CHECK(cudaMemsetAsync(d.m.p, 0, kN * 4, s));
  DRU_CUDA_CHECK(cudaMemsetAsync(d.v.p, 0, kN * 4, s));
  const float lr = float(kLr);
  DRU_CUDA_CHECK(cudaMemcpyAsync(d.lr.p, &lr, 4, cudaMemcpyHostToDevice, s));
  DRU_CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace

int main() {
  bench::require_gpu("bench_adam");
  std::vector<float> p(kN), g(kN);
  Generator gen(1);
  for (int64_t i = 0; i < kN; ++i) {
    p[size_t(i)] = float(gen.normal() * 0.05);
    g[size_t(i)] = float(gen.normal() * 1e-3);
  }
  // CPU reference: two steps (the second has non-zero moments).
  std::vector<float> rp = p, rm(kN, 0.0f), rv(kN, 0.0f);
  for (int step = 1; step <= 2; ++step)
    adam_step_cpu(rp.data(), g.data(), rm.data(), rv.data(), kN, float(kLr), kB1, kB2, kEps, kWd, step);
  Arrays d;
  std::vector<float> out(kN);
  for (int version : {1, 2}) {
    upload(d, p, g);
    for (int step = 1; step <= 2; ++step)
      adam_step_cuda_version(version, d.p.as<float>(), d.g.as<float>(), d.m.as<float>(), d.v.as<float>(), kN,
                             d.lr.as<float>(), kB1, kB2, kEps, kWd, step);
    DRU_CUDA_CHECK(cudaMemcpyAsync(out.data(), d.p.p, kN * 4, cudaMemcpyDeviceToHost, cuda::stream()));
    DRU_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
    double err = 0;
    for (int64_t i = 0; i < kN; ++i)
      err = std::max(err, std::fabs(double(out[size_t(i)]) - double(rp[size_t(i)])) /
                              std::max(1.0, std::fabs(double(rp[size_t(i)]))));
    bench::validate("adam v" + std::to_string(version) + " vs CPU, 2 steps", err, 1e-6);
  }
  for (int version : {1, 2}) {
    int64_t step = 10;
    double ms = bench::median_ms([&] {
      adam_step_cuda_version(version, d.p.as<float>(), d.g.as<float>(), d.m.as<float>(), d.v.as<float>(), kN,
                             d.lr.as<float>(), kB1, kB2, kEps, kWd, step++);
    });
    bench::row("adam", "v" + std::to_string(version), kN, ms, 28.0 * double(kN));
  }
  return 0;
}
