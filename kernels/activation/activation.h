// activation.h — element-wise activation math shared by the CPU reference and the CUDA kernels.
//
// Each activation is a pair: f(x) and its derivative written in terms of x and y = f(x) (whichever is
// cheaper), so a backward pass needs only the saved input or output. Templated on the float type.
//   relu       y = max(x, 0)                      dy/dx = [x > 0]
//   elu        y = x > 0 ? x : a (e^x - 1)        dy/dx = x > 0 ? 1 : y + a
//   sigmoid    y = 1 / (1 + e^-x)                 dy/dx = y (1 - y)
//   tanh       y = tanh x                         dy/dx = 1 - y^2
//   gelu       y = x Phi(x), Phi the normal CDF   dy/dx = Phi(x) + x phi(x)   (exact, PyTorch default)
//   hardswish  y = x relu6(x + 3) / 6             dy/dx = 0 (x < -3), 1 (x > 3), (2x + 3) / 6 between
//              (PyTorch's gradient at exactly x = ±3 uses the middle branch at -3 and 1 at 3.)
#pragma once

#include <cmath>

#include "kernels/common/hd.h"

namespace dru::act {

template <class T> DRU_HD T relu(T x) { return x > T(0) ? x : T(0); }
template <class T> DRU_HD T relu_grad(T x) { return x > T(0) ? T(1) : T(0); }

template <class T> DRU_HD T elu(T x, T a) { return x > T(0) ? x : a * (std::exp(x) - T(1)); }
template <class T> DRU_HD T elu_grad(T x, T y, T a) { return x > T(0) ? T(1) : y + a; }

template <class T> DRU_HD T sigmoid(T x) {
  // Two branches keep exp from overflowing for large |x|.
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}
template <class T> DRU_HD T sigmoid_grad_from_y(T y) { return y * (T(1) - y); }

template <class T> DRU_HD T tanh_grad_from_y(T y) { return T(1) - y * y; }

template <class T> DRU_HD T gelu(T x) { return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440))); }
template <class T> DRU_HD T gelu_grad(T x) {
  T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
  T pdf = T(0.39894228040143267794) * std::exp(T(-0.5) * x * x);
  return cdf + x * pdf;
}

template <class T> DRU_HD T hardswish(T x) {
  if (x <= T(-3)) return T(0);
  if (x >= T(3)) return x;
  return x * (x + T(3)) / T(6);
}
template <class T> DRU_HD T hardswish_grad(T x) {
  if (x < T(-3)) return T(0);
  if (x <= T(3)) return (T(2) * x + T(3)) / T(6);
  return T(1);
}

}  // namespace dru::act
