// gpu_main.cpp — runner of the GPU test binary: exits 77 (ctest's skip code) where no GPU is visible.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "engine/tensor.h"

int main(int argc, char** argv) {
  if (!dru::cuda_compiled()) {
    std::printf("gpu_tests: skipped — this build has no CUDA backend\n");
    return 77;
  }
  if (dru::cuda_device_count() == 0) {
    std::printf("gpu_tests: skipped — no GPU is visible (no driver or no device)\n");
    return 77;
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
