// bench.cuh — what the CUDA kernel benches (kernels/*/*_bench.cu, `make bench`) share: the GPU check
// (exit 77 without one), CUDA-event timing of the median of ~20 runs with the L2 cache flushed before
// each, the device-to-device copy bandwidth the rows are compared with, and one JSON line per row:
//   {"bench":"adam","version":"v2","gpu":"NVIDIA H100 80GB HBM3","n":11169345,"ms":0.11,"gbps":2800,"pct_copy":93}
// Everything is queued on the engine's stream (dru::cuda::stream()), where the launchers run.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "engine/cuda/common.cuh"
#include "engine/cuda_runtime.h"

namespace dru::bench {

// Exits 77 (the skip code of ctest and tools/bench.sh) with a message where no GPU is visible.
inline void require_gpu(const char* name) {
  if (dru::cuda::device_count() == 0) {
    std::printf("%s: skipped — no GPU is visible\n", name);
    std::exit(77);
  }
}

inline std::string gpu_name() {
  int dev = 0;
  cudaDeviceProp prop{};
  DRU_CUDA_CHECK(cudaGetDevice(&dev));
  DRU_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  return prop.name;
}

// A device buffer that lives for the whole program (benches may allocate directly; the engine's ops
// may not).
struct DeviceBuffer {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t b) : bytes(b) { DRU_CUDA_CHECK(cudaMalloc(&p, b)); }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T> T* as() const { return static_cast<T*>(p); }
};

// Writing 256 MiB (more than any L2 so far: 50 MiB on H100) evicts the previous run's data, so every
// timed run reads its inputs from DRAM as a training step does.
inline void flush_l2() {
  static DeviceBuffer junk(size_t(256) << 20);
  static int round = 0;
  DRU_CUDA_CHECK(cudaMemsetAsync(junk.p, ++round & 0xff, junk.bytes, dru::cuda::stream()));
}

// Median milliseconds of `runs` calls of f, each timed alone with CUDA events after an L2 flush.
template <class F> double median_ms(F&& f, int runs = 20) {
  cudaStream_t s = dru::cuda::stream();
  cudaEvent_t start, stop;
  DRU_CUDA_CHECK(cudaEventCreate(&start));
  DRU_CUDA_CHECK(cudaEventCreate(&stop));
  f();  // warm-up: first-launch costs (module load, pool growth) stay out of the numbers
  std::vector<float> ms;
  for (int r = 0; r < runs; ++r) {
    flush_l2();
    DRU_CUDA_CHECK(cudaEventRecord(start, s));
    f();
    DRU_CUDA_CHECK(cudaEventRecord(stop, s));
    DRU_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    DRU_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  DRU_CUDA_CHECK(cudaEventDestroy(start));
  DRU_CUDA_CHECK(cudaEventDestroy(stop));
  std::sort(ms.begin(), ms.end());
  return double(ms[ms.size() / 2]);
}

// GB/s of a device-to-device cudaMemcpyAsync of 256 MiB, counting the bytes read and written: the
// practical ceiling a memory-bound kernel is measured against.
inline double copy_gbps() {
  static double gbps = [] {
    const size_t bytes = size_t(256) << 20;
    DeviceBuffer a(bytes), b(bytes);
    DRU_CUDA_CHECK(cudaMemsetAsync(a.p, 1, bytes, dru::cuda::stream()));
    double ms = median_ms([&] {
      DRU_CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, dru::cuda::stream()));
    });
    return 2.0 * double(bytes) / (ms * 1e6);
  }();
  return gbps;
}

// Prints one JSON row: bytes is the traffic the kernel must move at least (for GB/s and % of copy).
inline void row(const std::string& bench, const std::string& version, long long n, double ms, double bytes,
                const std::string& extra = "") {
  const double gbps = bytes / (ms * 1e6);
  std::printf("{\"bench\":\"%s\",\"version\":\"%s\",\"gpu\":\"%s\",\"n\":%lld,\"ms\":%.5f,\"gbps\":%.1f,"
              "\"pct_copy\":%.1f%s}\n",
              bench.c_str(), version.c_str(), gpu_name().c_str(), n, ms, gbps, 100.0 * gbps / copy_gbps(),
              extra.c_str());
  std::fflush(stdout);
}

// Prints a validation line and exits 1 on failure: a bench never times a kernel that is wrong.
inline void validate(const std::string& what, double err, double tol) {
  std::printf("validate %-40s err %.2e tol %.0e %s\n", what.c_str(), err, tol, err <= tol ? "ok" : "FAIL");
  if (!(err <= tol)) std::exit(1);
}

}  // namespace dru::bench
