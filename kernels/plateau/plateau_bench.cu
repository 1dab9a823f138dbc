// plateau_bench.cu — bench_plateau: ReduceLROnPlateau once per epoch (plateau_cuda.h), validated step by
// step against the host rule over a metric sequence that plateaus, reduces, cools down and hits min_lr.
// Nothing here is bandwidth: what the device rule saves is the host's wait. So besides the kernel's GPU
// time (CUDA events) it reports host wall-clock medians ("clock":"host") of
//   v1-queue        queueing the one-thread kernel: what an epoch's end costs the host (it does not wait)
//   host-roundtrip  what an engine without the device rule does: copy the metric to the host (a wait for
//                   the GPU), run the rule, copy the lr back
// tools/bench_torch_cuda.py times torch's scheduler.step on a CUDA metric (which also waits) the same way.
#include <cmath>
#include <vector>

#include "kernels/common/bench.cuh"
#include "kernels/common/host_timing.h"
#include "kernels/plateau/plateau.h"
#include "kernels/plateau/plateau_cuda.h"

using namespace dru;

namespace {

// Epoch metrics: improving, a plateau long enough to reduce twice (with cooldown between), a NaN,
// then improving again.
std::vector<float> metric_sequence() {
  std::vector<float> m;
  for (int i = 0; i < 6; ++i) m.push_back(2.0f - 0.2f * float(i));
  for (int i = 0; i < 14; ++i) m.push_back(1.0f + 0.01f * float(i % 3));
  m.push_back(NAN);
  for (int i = 0; i < 6; ++i) m.push_back(0.9f - 0.1f * float(i));
  for (int i = 0; i < 10; ++i) m.push_back(0.5f);
  return m;
}

}  // namespace

int main() {
  bench::require_gpu("bench_plateau");
  PlateauConfig cfg;
  cfg.patience = 2;
  cfg.cooldown = 1;
  cfg.factor = 0.5;
  cfg.min_lr = 0.002;
  const double lr0 = 0.01;
  cudaStream_t s = cuda::stream();
  bench::DeviceBuffer state(sizeof(PlateauState)), metric(sizeof(float)), lr(sizeof(float)), reduced(sizeof(int));

  // Validation: every step's lr, reduction flag and final state equal the host rule's.
  PlateauState host = plateau_init(cfg, lr0);
  DRU_CUDA_CHECK(cudaMemcpyAsync(state.p, &host, sizeof host, cudaMemcpyHostToDevice, s));
  double mismatches = 0;
  const std::vector<float> metrics = metric_sequence();
  for (float m : metrics) {
    DRU_CUDA_CHECK(cudaMemcpyAsync(metric.p, &m, sizeof m, cudaMemcpyHostToDevice, s));
    plateau_step_cuda(state.as<PlateauState>(), cfg, metric.as<float>(), lr.as<float>(), reduced.as<int>(), s);
    float got_lr = 0;
    int got_reduced = 0;
    DRU_CUDA_CHECK(cudaMemcpyAsync(&got_lr, lr.p, sizeof got_lr, cudaMemcpyDeviceToHost, s));
    DRU_CUDA_CHECK(cudaMemcpyAsync(&got_reduced, reduced.p, sizeof got_reduced, cudaMemcpyDeviceToHost, s));
    DRU_CUDA_CHECK(cudaStreamSynchronize(s));
    const bool want_reduced = plateau_step(host, cfg, double(m));
    mismatches += (got_lr != float(host.lr)) + (got_reduced != int(want_reduced));
  }
  PlateauState dev{};
  DRU_CUDA_CHECK(cudaMemcpy(&dev, state.p, sizeof dev, cudaMemcpyDeviceToHost));
  mismatches += (dev.lr != host.lr) + (dev.best != host.best) + (dev.num_bad_epochs != host.num_bad_epochs) +
                (dev.cooldown_counter != host.cooldown_counter) + (dev.last_epoch != host.last_epoch);
  bench::validate("plateau lr, flag and state over " + std::to_string(metrics.size()) + " epochs", mismatches, 0.0);

  const float one_metric = 0.5f;
  DRU_CUDA_CHECK(cudaMemcpyAsync(metric.p, &one_metric, sizeof one_metric, cudaMemcpyHostToDevice, s));
  auto step = [&] { plateau_step_cuda(state.as<PlateauState>(), cfg, metric.as<float>(), lr.as<float>(), nullptr, s); };
  bench::row("plateau", "v1", 1, bench::median_ms(step), 0, ",\"clock\":\"gpu\"");
  bench::row("plateau", "v1-queue", 1, bench::host_median_ms(1, 20, step), 0, ",\"clock\":\"host\"");
  PlateauState rule = plateau_init(cfg, lr0);
  auto roundtrip = [&] {
    float m = 0;
    DRU_CUDA_CHECK(cudaMemcpyAsync(&m, metric.p, sizeof m, cudaMemcpyDeviceToHost, s));
    DRU_CUDA_CHECK(cudaStreamSynchronize(s));
    plateau_step(rule, cfg, double(m));
    const float next = float(rule.lr);
    DRU_CUDA_CHECK(cudaMemcpyAsync(lr.p, &next, sizeof next, cudaMemcpyHostToDevice, s));
  };
  bench::row("plateau", "host-roundtrip", 1, bench::host_median_ms(1, 20, roundtrip), 0, ",\"clock\":\"host\"");
  DRU_CUDA_CHECK(cudaStreamSynchronize(s));
  return 0;
}
