// adam.h — the Adam update, written once for the CPU loop and the CUDA kernel (DESIGN decision 1).
//
// Matches torch.optim.Adam (amsgrad=False, maximize=False; PyTorch 1.13's _single_tensor_adam), with
// L2 weight decay added to the gradient, at step t = 1, 2, ...:
//   g  += wd * p
//   m   = b1 m + (1 - b1) g               v = b2 v + (1 - b2) g g
//   bias_c1 = 1 - b1^t                    bias_c2 = 1 - b2^t
//   p  -= (lr / bias_c1) m / (sqrt(v) / sqrt(bias_c2) + eps)
// Layout: p, g, m, v are the flat (P) parameter arena, its gradients and the two moment buffers.
//
// Rounding follows PyTorch so float32 results agree to the last bit or two: the per-step scalars
// (1 - b1, lr / bias_c1, sqrt(bias_c2), ...) are computed in double as Python does and cast to T once,
// and each element's arithmetic happens in T in the same order as PyTorch's tensor ops
// (m * b1 then + (1 - b1) g; v * b2 then + ((1 - b2) g) g; p + ((-step_size) m) / denom).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"

namespace dru {

// Per-step constants, already in the element type. Built once per step (on the host, or by one
// thread on the device when the learning rate lives in device memory).
template <class T> struct AdamScalars {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, neg_step_size, bias_c2_sqrt;
};

template <class T>
DRU_HD AdamScalars<T> adam_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                                   double bias_c1, double bias_c2) {
  AdamScalars<T> s;
  s.beta1 = T(beta1);
  s.one_minus_beta1 = T(1.0 - beta1);
  s.beta2 = T(beta2);
  s.one_minus_beta2 = T(1.0 - beta2);
  s.eps = T(eps);
  s.weight_decay = T(weight_decay);
  s.neg_step_size = T(-(lr / bias_c1));
  s.bias_c2_sqrt = T(std::sqrt(bias_c2));
  return s;
}

// Bias corrections for step t (1-based). PyTorch evaluates beta ** step in double with a float step.
DRU_HD double adam_bias_correction(double beta, int64_t step) { return 1.0 - std::pow(beta, double(step)); }

// One element's update with precomputed scalars. kDecay is a compile-time switch so the CPU loop can
// test weight_decay once, outside the loop: a branch inside keeps the compiler from vectorising.
template <class T, bool kDecay> DRU_HD void adam_update_with(T& p, T g, T& m, T& v, const AdamScalars<T>& s) {
  if constexpr (kDecay) g = g + s.weight_decay * p;
  m = m * s.beta1 + s.one_minus_beta1 * g;
  v = v * s.beta2 + s.one_minus_beta2 * g * g;
  T denom = std::sqrt(v) / s.bias_c2_sqrt + s.eps;
  p = p + s.neg_step_size * m / denom;
}

// The form the GPU kernel uses: weight decay only where it is non-zero, as PyTorch.
template <class T> DRU_HD void adam_update(T& p, T g, T& m, T& v, const AdamScalars<T>& s) {
  if (s.weight_decay != T(0))
    adam_update_with<T, true>(p, g, m, v, s);
  else
    adam_update_with<T, false>(p, g, m, v, s);
}

// One element's update from the raw hyperparameters. Hyperparameters are double (floats convert
// implicitly) so the scalars round exactly as PyTorch's do.
template <class T>
DRU_HD void adam_update(T& p, T g, T& m, T& v, double lr, double beta1, double beta2, double eps, double weight_decay,
                        double bias_c1, double bias_c2) {
  adam_update(p, g, m, v, adam_scalars<T>(lr, beta1, beta2, eps, weight_decay, bias_c1, bias_c2));
}

// The CPU reference over the whole arena (kernels/adam/adam_cpu.cpp): n elements, step t >= 1.
// OpenMP-parallel; element-wise, so results do not depend on the thread count. T = float, double.
template <class T>
void adam_step_cpu(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                   double weight_decay, int64_t step);

}  // namespace dru
