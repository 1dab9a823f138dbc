// gpu_util.h — helpers of the GPU parity tests: seeded inputs, CPU-vs-CUDA comparison, a printed line
// per check with its error and tolerance (so a GPU run's log shows how close each op came).
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace dru::gpu_test {

// Normal(0, scale) values in f32 on the CPU, from a fixed seed.
inline Tensor randn(const Shape& s, uint64_t seed, double scale = 1.0) {
  Generator g(seed);
  Tensor t = Tensor::empty(s, DType::f32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = float(g.normal() * scale);
  return t;
}

// Uniform [lo, hi) values in f32 on the CPU.
inline Tensor uniform(const Shape& s, uint64_t seed, double lo, double hi) {
  Generator g(seed);
  Tensor t = Tensor::empty(s, DType::f32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = float(lo + (hi - lo) * g.uniform());
  return t;
}

inline Tensor cuda(const Tensor& t) { return t.detach().to(Device::cuda); }

// max |a - b| / max(1, max |b|): absolute for small values, relative for large ones.
inline double scaled_err(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  double err = 0, mag = 1;
  for (size_t i = 0; i < x.size(); ++i) {
    err = std::max(err, std::abs(x[i] - y[i]));
    mag = std::max(mag, std::abs(y[i]));
    if (std::isnan(x[i]) != std::isnan(y[i])) err = INFINITY;
  }
  return err / mag;
}

// Prints "name  err (tol)" and checks err <= tol.
inline void expect_close(const std::string& name, const Tensor& got_cuda, const Tensor& want_cpu, double tol) {
  REQUIRE(got_cuda.defined());
  REQUIRE(want_cpu.defined());
  CHECK(got_cuda.device() == Device::cuda);
  double err = scaled_err(got_cuda, want_cpu);
  fmt::print("  {:<48} err {:9.2e}  tol {:.0e}  {}\n", name, err, tol, err <= tol ? "ok" : "FAIL");
  CHECK_MESSAGE(err <= tol, name << ": error " << err << " > tolerance " << tol);
}

}  // namespace dru::gpu_test
