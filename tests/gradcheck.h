// gradcheck.h — finite-difference gradient checks in double precision.
//
// gradcheck(f, inputs) evaluates the scalar L = sum(f(inputs) * W) for a fixed random W, takes the
// analytic gradient of L with respect to every input that requires a gradient, and compares each
// entry with the central difference (L(x + h) - L(x - h)) / 2h. It prints the worst relative error
// against its tolerance, so creeping tolerances show in the test log.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace dru::test {

// A fresh f64 tensor with values uniform in [lo, hi), seeded.
inline Tensor randn64(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = Tensor::empty(s, DType::f64);
  Generator g(seed);
  g.fill_uniform(t, lo, hi);
  return t;
}

inline Tensor param64(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor t = randn64(s, seed, lo, hi);
  t.requires_grad_(true);
  return t;
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Returns the worst error max|analytic - numeric| / max(1, |numeric|) over all checked entries.
inline double gradcheck(const std::string& name, const Fn& f, std::vector<Tensor> inputs, double h = 1e-6,
                        double tol = 1e-6) {
  Tensor probe = f(inputs);
  Tensor w = randn64(probe.shape(), 12345);
  auto loss_of = [&](const std::vector<Tensor>& in) {
    NoGradGuard ng;
    Tensor y = f(in);
    double s = 0;
    std::vector<double> yv = y.to_vector(), wv = w.to_vector();
    for (size_t i = 0; i < yv.size(); ++i) s += yv[i] * wv[i];
    return s;
  };
  for (auto& t : inputs)
    if (t.requires_grad()) t.impl->grad = Tensor();
  Tensor y = f(inputs);
  sum(mul(y, w)).backward();

  double worst = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    REQUIRE_MESSAGE(x.grad().defined(), name << ": input " << k << " received no gradient");
    std::vector<double> ga = x.grad().to_vector();
    double* p = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double orig = p[i];
      p[i] = orig + h;
      double lp = loss_of(inputs);
      p[i] = orig - h;
      double lm = loss_of(inputs);
      p[i] = orig;
      double num = (lp - lm) / (2 * h);
      double err = std::fabs(ga[size_t(i)] - num) / std::max(1.0, std::fabs(num));
      worst = std::max(worst, err);
    }
  }
  MESSAGE(name << ": worst gradient error " << worst << " (tolerance " << tol << ")");
  CHECK_MESSAGE(worst <= tol, name << ": gradient error " << worst << " exceeds " << tol);
  return worst;
}

}  // namespace dru::test
