// host_timing.h — the host wall-clock median the benches share (tools/bench_cpu.cpp for CPU kernels,
// kernels/plateau/plateau_bench.cu for what a GPU rule costs the host): plain C++, no CUDA headers.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace dru::bench {

// Median milliseconds of reps calls of f, after warmup untimed calls.
template <class F> double host_median_ms(int warmup, int reps, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace dru::bench
