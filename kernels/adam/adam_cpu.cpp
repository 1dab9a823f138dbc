// adam_cpu.cpp — the CPU reference Adam step over the flat parameter arena (contract in adam.h).
#include "kernels/adam/adam.h"

namespace dru {

// Below this many elements the thread start-up costs more than the loop.
constexpr int64_t kAdamParallelMin = 1 << 15;

template <class T>
void adam_step_cpu(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2, double eps,
                   double weight_decay, int64_t step) {
  const AdamScalars<T> s = adam_scalars<T>(lr, beta1, beta2, eps, weight_decay, adam_bias_correction(beta1, step),
                                           adam_bias_correction(beta2, step));
  // simd: the loop has no dependences between elements, so GCC vectorises the sqrt and divide (it
  // needs -fno-math-errno, set project-wide, and no branch inside the loop).
  if (s.weight_decay != T(0)) {
#pragma omp parallel for simd schedule(static) if (n >= kAdamParallelMin)
    for (int64_t i = 0; i < n; ++i) adam_update_with<T, true>(p[i], g[i], m[i], v[i], s);
  } else {
#pragma omp parallel for simd schedule(static) if (n >= kAdamParallelMin)
    for (int64_t i = 0; i < n; ++i) adam_update_with<T, false>(p[i], g[i], m[i], v[i], s);
  }
}

template void adam_step_cpu<float>(float*, const float*, float*, float*, int64_t, double, double, double, double,
                                   double, int64_t);
template void adam_step_cpu<double>(double*, const double*, double*, double*, int64_t, double, double, double, double,
                                    double, int64_t);

}  // namespace dru
