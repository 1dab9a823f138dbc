// at_loss_bench.cu — bench_at_loss: the fused attention-transfer loss (at_loss_cuda.h, forward and
// dL/da; version 1: one block per sample, version 2: several blocks per sample) at the activation
// shapes of AllCNN and ResNet-18 (small stem) for a batch of 64, validated against the CPU reference;
// GB/s count the 12 bytes per element any version must move (a, b read; dL/da written).
#include <cmath>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/at_loss/at_loss.h"
#include "kernels/at_loss/at_loss_cuda.h"
#include "kernels/common/bench.cuh"

using namespace dru;

namespace {

struct Layer {
  const char* name;
  int64_t m, C, H, W;
};

}  // namespace

int main() {
  bench::require_gpu("bench_at_loss");
  const Layer layers[] = {
      {"allcnn-96x32x32", 64, 96, 32, 32}, {"allcnn-192x16x16", 64, 192, 16, 16}, {"allcnn-192x8x8", 64, 192, 8, 8},
      {"resnet-64x32x32", 64, 64, 32, 32}, {"resnet-128x16x16", 64, 128, 16, 16}, {"resnet-256x8x8", 64, 256, 8, 8},
      {"resnet-512x4x4", 64, 512, 4, 4},
  };
  for (const Layer& L : layers) {
    const int64_t S = L.H * L.W, n = L.m * L.C * S;
    const size_t count = static_cast<size_t>(n);
    std::vector<float> a(count), b(count), grad(count), out(count);
    Generator gen(static_cast<uint64_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      a[size_t(i)] = float(gen.normal());
      b[size_t(i)] = float(gen.normal());
    }
    const double want = at_loss_forward_backward_cpu(a.data(), b.data(), grad.data(), L.m, L.C, S);
    bench::DeviceBuffer da(size_t(n) * 4), db(size_t(n) * 4), dg(size_t(n) * 4), dl(4);
    cudaStream_t s = cuda::stream();
    DRU_CUDA_CHECK(cudaMemcpyAsync(da.p, a.data(), size_t(n) * 4, cudaMemcpyHostToDevice, s));
    DRU_CUDA_CHECK(cudaMemcpyAsync(db.p, b.data(), size_t(n) * 4, cudaMemcpyHostToDevice, s));
    for (int version : {1, 2}) {
      auto run = [&] {
        cuda::at_loss_fused_version(version, da.as<float>(), db.as<float>(), dg.as<float>(), dl.as<float>(), L.m, L.C,
                                    S);
      };
      run();
      float loss = 0;
      DRU_CUDA_CHECK(cudaMemcpyAsync(&loss, dl.p, 4, cudaMemcpyDeviceToHost, s));
      DRU_CUDA_CHECK(cudaMemcpyAsync(out.data(), dg.p, size_t(n) * 4, cudaMemcpyDeviceToHost, s));
      DRU_CUDA_CHECK(cudaStreamSynchronize(s));
      double gerr = 0, gmag = 0;
      for (int64_t i = 0; i < n; ++i) {
        gerr = std::max(gerr, std::fabs(double(out[size_t(i)]) - double(grad[size_t(i)])));
        gmag = std::max(gmag, std::fabs(double(grad[size_t(i)])));
      }
      const std::string v = "v" + std::to_string(version);
      bench::validate("at_loss " + v + " " + L.name + " loss", std::fabs(double(loss) - want) / std::fabs(want), 1e-4);
      bench::validate("at_loss " + v + " " + L.name + " grad", gerr / gmag, 1e-4);
      double ms = bench::median_ms(run);
      // The bytes any version must move (a and b read once, dL/da written); v2 also rereads a.
      bench::row("at_loss", v, n, ms, 12.0 * double(n), std::string(",\"shape\":\"") + L.name + "\"");
    }
  }
  return 0;
}
