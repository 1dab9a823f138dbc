// loss.h — regression losses: per-element math shared by the CPU reference and CUDA kernels, and the
// fused CPU passes.
//
// Each fused pass reads pred and target once and writes the loss value and d loss / d pred together
// (one tape node, no intermediate tensors). Reductions are deterministic: the CPU sums in double in
// index order.
//   l1:        loss = mean |p - t|              dL/dp = sign(p - t) / n   (sign(0) = 0, as PyTorch)
//   mse:       loss = mean (p - t)^2            dL/dp = 2 (p - t) / n
//   quantile:  loss = (1/N) sum_i sum_q max((q - 1) e, q e), e = t_i - p_iq
//              dL/dp_iq = (e > 0 ? -q : (e < 0 ? 1 - q : 0)) / N   (the subgradient 0 at e = 0)
#pragma once

#include <cstdint>

#include "kernels/common/hd.h"

namespace dru {

template <class T> DRU_HD T l1_grad_elem(T p, T t, T inv_n) {
  T d = p - t;
  return d > T(0) ? inv_n : (d < T(0) ? -inv_n : T(0));
}

template <class T> DRU_HD T pinball(T e, T q) { return e >= T(0) ? q * e : (q - T(1)) * e; }
template <class T> DRU_HD T pinball_grad_pred(T e, T q) { return e > T(0) ? -q : (e < T(0) ? T(1) - q : T(0)); }

// Fused passes: return the loss and write the gradient with respect to pred into grad (length n).
template <class T> double l1_loss_forward_backward_cpu(const T* pred, const T* target, T* grad, int64_t n);
template <class T> double mse_loss_forward_backward_cpu(const T* pred, const T* target, T* grad, int64_t n);
// pred (N, Q), target (N), quantiles (Q).
template <class T>
double quantile_loss_forward_backward_cpu(const T* pred, const T* target, const double* quantiles, T* grad, int64_t N,
                                          int64_t Q);

}  // namespace dru
