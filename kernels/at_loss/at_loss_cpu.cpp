// at_loss_cpu.cpp — the CPU reference of the attention-transfer distance (contract in at_loss.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/at_loss/at_loss.h"

namespace dru {

namespace {

// p = mean over channels of x^2 for one sample (C, S); returns ||p||_2 (unclamped).
template <class T> double attention_map(const T* x, int64_t C, int64_t S, double* p) {
  for (int64_t s = 0; s < S; ++s) p[s] = 0;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t s = 0; s < S; ++s) p[s] += double(x[c * S + s]) * double(x[c * S + s]);
  double ss = 0;
  for (int64_t s = 0; s < S; ++s) {
    p[s] /= double(C);
    ss += p[s] * p[s];
  }
  return std::sqrt(ss);
}

}  // namespace

template <class T>
double at_loss_forward_backward_cpu(const T* a, const T* b, T* grad_a, int64_t m, int64_t C, int64_t S) {
  const double inv_total = 1.0 / double(m * S);
  const size_t n_pos = static_cast<size_t>(S);
  std::vector<double> pa(n_pos), pb(n_pos), gp(n_pos);
  double total = 0;
  for (int64_t i = 0; i < m; ++i) {
    const T* ai = a + i * C * S;
    const double norm_a = attention_map(ai, C, S, pa.data());
    const double norm_b = attention_map(b + i * C * S, C, S, pb.data());
    const double na = std::max(norm_a, kAtEps), nb = std::max(norm_b, kAtEps);
    double dot = 0;  // qa . gq
    for (int64_t s = 0; s < S; ++s) {
      const double qa = pa[size_t(s)] / na, d = qa - pb[size_t(s)] / nb;
      total += d * d;
      gp[size_t(s)] = 2 * d * inv_total;  // gq for now
      dot += qa * gp[size_t(s)];
    }
    if (!grad_a) continue;
    const bool clamped = norm_a <= kAtEps;
    for (int64_t s = 0; s < S; ++s) {
      const double g = gp[size_t(s)];
      gp[size_t(s)] = clamped ? g / na : (g - pa[size_t(s)] / na * dot) / na;
    }
    T* gi = grad_a + i * C * S;
    const double two_over_c = 2.0 / double(C);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) gi[c * S + s] = T(gp[size_t(s)] * two_over_c * double(ai[c * S + s]));
  }
  return total * inv_total;
}

template double at_loss_forward_backward_cpu<float>(const float*, const float*, float*, int64_t, int64_t, int64_t);
template double at_loss_forward_backward_cpu<double>(const double*, const double*, double*, int64_t, int64_t,
                                                     int64_t);

}  // namespace dru
