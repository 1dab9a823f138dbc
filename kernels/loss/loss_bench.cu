// loss_bench.cu — bench_loss: the fused L1 loss (value + gradient, deterministic two-pass reduction;
// loss_cuda.h) at a batch's size (n = 256: launch-bound) and at n = 2^20 (bandwidth-bound), validated
// against the CPU pass; 12 bytes move per element (pred, target read; grad written).
#include <cmath>
#include <vector>

#include "engine/rng.h"
#include "kernels/common/bench.cuh"
#include "kernels/loss/loss.h"
#include "kernels/loss/loss_cuda.h"

using namespace dru;

int main() {
  bench::require_gpu("bench_loss");
  for (int64_t n : {int64_t(256), int64_t(1) << 20}) {
    const size_t count = static_cast<size_t>(n);
    std::vector<float> p(count), t(count), grad(count), out(count);
    Generator gen(static_cast<uint64_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      p[size_t(i)] = float(gen.normal());
      t[size_t(i)] = float(gen.normal());
    }
    const double want = l1_loss_forward_backward_cpu(p.data(), t.data(), grad.data(), n);
    bench::DeviceBuffer dp(size_t(n) * 4), dt(size_t(n) * 4), dg(size_t(n) * 4), dl(4);
    cudaStream_t s = cuda::stream();
    DRU_CUDA_CHECK(cudaMemcpyAsync(dp.p, p.data(), size_t(n) * 4, cudaMemcpyHostToDevice, s));
    DRU_CUDA_CHECK(cudaMemcpyAsync(dt.p, t.data(), size_t(n) * 4, cudaMemcpyHostToDevice, s));
    cuda::l1_loss_fused(dp.as<float>(), dt.as<float>(), dg.as<float>(), dl.as<float>(), n);
    float loss = 0;
    DRU_CUDA_CHECK(cudaMemcpyAsync(&loss, dl.p, 4, cudaMemcpyDeviceToHost, s));
    DRU_CUDA_CHECK(cudaMemcpyAsync(out.data(), dg.p, size_t(n) * 4, cudaMemcpyDeviceToHost, s));
    DRU_CUDA_CHECK(cudaStreamSynchronize(s));
    double gerr = 0;
    for (int64_t i = 0; i < n; ++i) gerr = std::max(gerr, std::fabs(double(out[size_t(i)]) - double(grad[size_t(i)])));
    bench::validate("l1 n=" + std::to_string(n) + " loss", std::fabs(double(loss) - want) / std::fabs(want), 1e-6);
    bench::validate("l1 n=" + std::to_string(n) + " grad", gerr, 0.0);
    double ms = bench::median_ms(
        [&] { cuda::l1_loss_fused(dp.as<float>(), dt.as<float>(), dg.as<float>(), dl.as<float>(), n); });
    bench::row("l1_loss", "v1", n, ms, 12.0 * double(n));
  }
  return 0;
}
