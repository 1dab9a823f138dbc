// loss_cpu.cpp — fused CPU passes of loss.h.
#include <cmath>

#include "kernels/loss/loss.h"

namespace dru {

template <class T> double l1_loss_forward_backward_cpu(const T* pred, const T* target, T* grad, int64_t n) {
  double s = 0;
  T inv_n = T(1.0 / double(n));
  for (int64_t i = 0; i < n; ++i) {
    s += std::fabs(double(pred[i]) - double(target[i]));
    grad[i] = l1_grad_elem(pred[i], target[i], inv_n);
  }
  return s / double(n);
}

template <class T> double mse_loss_forward_backward_cpu(const T* pred, const T* target, T* grad, int64_t n) {
  double s = 0;
  T two_over_n = T(2.0 / double(n));
  for (int64_t i = 0; i < n; ++i) {
    T d = pred[i] - target[i];
    s += double(d) * double(d);
    grad[i] = two_over_n * d;
  }
  return s / double(n);
}

template <class T>
double quantile_loss_forward_backward_cpu(const T* pred, const T* target, const double* quantiles, T* grad, int64_t N,
                                          int64_t Q) {
  double s = 0;
  T inv_n = T(1.0 / double(N));
  for (int64_t i = 0; i < N; ++i)
    for (int64_t q = 0; q < Q; ++q) {
      T e = target[i] - pred[i * Q + q];
      s += double(pinball(e, T(quantiles[q])));
      grad[i * Q + q] = pinball_grad_pred(e, T(quantiles[q])) * inv_n;
    }
  return s / double(N);
}

#define DRU_INSTANTIATE(T)                                                                      \
  template double l1_loss_forward_backward_cpu<T>(const T*, const T*, T*, int64_t);             \
  template double mse_loss_forward_backward_cpu<T>(const T*, const T*, T*, int64_t);            \
  template double quantile_loss_forward_backward_cpu<T>(const T*, const T*, const double*, T*, int64_t, int64_t);
DRU_INSTANTIATE(float)
DRU_INSTANTIATE(double)
#undef DRU_INSTANTIATE

}  // namespace dru
