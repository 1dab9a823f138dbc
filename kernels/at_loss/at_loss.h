// at_loss.h — the attention-transfer distance of Blindspot unlearning (docs/paper.md §3.5), fused: one pass
// gives the loss and its gradient with respect to the trained model's activation a; b is the frozen
// model's activation and gets no gradient.
//
// Layout: a and b are (m, C, S), contiguous: m samples, C channels (dim 1), S = the product of the
// remaining dims (H W for a convolution, D for a sequence, 1 for a 2-D activation). Per sample:
//   p_s   = (1/C) sum_c x[c, s]^2                      the attention map of x (a or b)
//   n     = max(||p||_2, eps),  q_s = p_s / n           eps = kAtEps = 1e-12, as l2_normalize
//   loss  = 1/(m S) sum_samples sum_s (qa_s - qb_s)^2
// Gradient (the chain through l2_normalize, whose clamped branch treats n as the constant eps):
//   gq_s  = 2 (qa_s - qb_s) / (m S)
//   gp_s  = (gq_s - qa_s (qa . gq)) / na   where ||pa|| > eps;   gq_s / eps otherwise
//   dL/da[c, s] = gp_s * 2 a[c, s] / C
// CPU sums are in double in index order; the CUDA kernel (at_loss_cuda.h) sums per sample in a fixed
// tree order, so both are deterministic.
#pragma once

#include <cstdint>

namespace dru {

constexpr double kAtEps = 1e-12;

// Returns the loss; writes dL/da (m * C * S values) where grad_a is not null. T = float, double.
template <class T>
double at_loss_forward_backward_cpu(const T* a, const T* b, T* grad_a, int64_t m, int64_t C, int64_t S);

}  // namespace dru
