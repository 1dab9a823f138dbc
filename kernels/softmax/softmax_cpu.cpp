// softmax_cpu.cpp — CPU references of softmax and layer_norm, forward and backward (see softmax.h).
//
// Plain loops: one row (softmax: n entries strided by inner; layer_norm: D contiguous entries) at a
// time, two passes for the statistics so the variance never suffers from E[x^2] - E[x]^2 cancellation.
// Weight and bias gradients of layer_norm are summed over rows in a fixed order (deterministic).
#include "kernels/softmax/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dru::cpu {

template <class T> void softmax_forward(const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t r = 0; r < inner; ++r) {
      const T* xr = x + o * n * inner + r;
      T* yr = y + o * n * inner + r;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t k = 0; k < n; ++k) m = std::max(m, xr[k * inner]);
      if (m == -std::numeric_limits<T>::infinity()) {  // all masked: zeros, not exp(-inf + inf) = NaN
        for (int64_t k = 0; k < n; ++k) yr[k * inner] = T(0);
        continue;
      }
      T sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        T e = std::exp(xr[k * inner] - m);
        yr[k * inner] = e;
        sum += e;
      }
      T inv = T(1) / sum;
      for (int64_t k = 0; k < n; ++k) yr[k * inner] *= inv;
    }
}

template <class T> void softmax_backward(const T* y, const T* dy, T* dx, int64_t outer, int64_t n, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t r = 0; r < inner; ++r) {
      const int64_t base = o * n * inner + r;
      T dot = 0;
      for (int64_t k = 0; k < n; ++k) dot += y[base + k * inner] * dy[base + k * inner];
      for (int64_t k = 0; k < n; ++k) dx[base + k * inner] = y[base + k * inner] * (dy[base + k * inner] - dot);
    }
}

template <class T>
void layernorm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t m, int64_t d, T eps) {
  for (int64_t row = 0; row < m; ++row) {
    const T* xr = x + row * d;
    T* yr = y + row * d;
    T mu = 0;
    for (int64_t j = 0; j < d; ++j) mu += xr[j];
    mu /= T(d);
    T var = 0;
    for (int64_t j = 0; j < d; ++j) var += (xr[j] - mu) * (xr[j] - mu);
    var /= T(d);
    T rs = T(1) / std::sqrt(var + eps);
    for (int64_t j = 0; j < d; ++j) {
      T xhat = (xr[j] - mu) * rs;
      yr[j] = xhat * (w ? w[j] : T(1)) + (b ? b[j] : T(0));
    }
    mean[row] = mu;
    rstd[row] = rs;
  }
}

template <class T>
void layernorm_backward(const T* x, const T* w, const T* mean, const T* rstd, const T* dy, T* dx, T* dw, T* db,
                        int64_t m, int64_t d) {
  if (dw) std::fill(dw, dw + d, T(0));
  if (db) std::fill(db, db + d, T(0));
  for (int64_t row = 0; row < m; ++row) {
    const T* xr = x + row * d;
    const T* dyr = dy + row * d;
    T* dxr = dx + row * d;
    const T mu = mean[row], rs = rstd[row];
    T mean_dxhat = 0, mean_dxhat_xhat = 0;
    for (int64_t j = 0; j < d; ++j) {
      T xhat = (xr[j] - mu) * rs;
      T dxhat = dyr[j] * (w ? w[j] : T(1));
      mean_dxhat += dxhat;
      mean_dxhat_xhat += dxhat * xhat;
      if (dw) dw[j] += dyr[j] * xhat;
      if (db) db[j] += dyr[j];
    }
    mean_dxhat /= T(d);
    mean_dxhat_xhat /= T(d);
    for (int64_t j = 0; j < d; ++j) {
      T xhat = (xr[j] - mu) * rs;
      T dxhat = dyr[j] * (w ? w[j] : T(1));
      dxr[j] = rs * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat);
    }
  }
}

#define DRU_SOFTMAX_INSTANTIATE(T)                                                                         \
  template void softmax_forward<T>(const T*, T*, int64_t, int64_t, int64_t);                               \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t);                    \
  template void layernorm_forward<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, T);       \
  template void layernorm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t, \
                                      int64_t);
DRU_SOFTMAX_INSTANTIATE(float)
DRU_SOFTMAX_INSTANTIATE(double)
#undef DRU_SOFTMAX_INSTANTIATE

}  // namespace dru::cpu
