// pool_cpu.cpp — CPU max, average and adaptive average pooling (see pool.h for the semantics).
//
// Plain loops, one OpenMP task per plane: pooling is memory-bound and each plane is independent.
// Instantiated for float and double.
#include "kernels/pool/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dru::pool {

namespace {

// One window's extent along one axis: [lo, hi) clipped to the image, and count, its factor of the
// average's divisor: the extent before clipping, because PyTorch's avg_pool2d counts padded positions
// (count_include_pad) though never past the padding.
struct Span {
  int64_t lo, hi, count;
};
Span window(int64_t i, int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  int64_t lo = i * stride - pad;
  int64_t hi = std::min(lo + kernel, in + pad);
  int64_t count = hi - lo;
  return {std::max(lo, int64_t(0)), std::min(hi, in), count};
}

// Adaptive bin [floor(i*in/out), ceil((i+1)*in/out)).
Span adaptive_bin(int64_t i, int64_t in, int64_t out) {
  int64_t lo = (i * in) / out;
  int64_t hi = ((i + 1) * in + out - 1) / out;
  return {lo, hi, hi - lo};
}

}  // namespace

template <class T> void max_pool2d_forward_cpu(const T* x, T* y, int64_t* argmax, const Pool2dDims& d) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < d.planes; ++p) {
    const T* xp = x + p * d.H * d.W;
    for (int64_t i = 0; i < d.Ho; ++i) {
      const Span r = window(i, d.H, d.kernel, d.stride, d.pad);
      for (int64_t j = 0; j < d.Wo; ++j) {
        const Span c = window(j, d.W, d.kernel, d.stride, d.pad);
        T best = -std::numeric_limits<T>::infinity();
        int64_t at = r.lo * d.W + c.lo;  // PyTorch's start index when every value is -inf
        for (int64_t h = r.lo; h < r.hi; ++h)
          for (int64_t w = c.lo; w < c.hi; ++w) {
            const T v = xp[h * d.W + w];
            if (v > best || std::isnan(v)) {
              best = v;
              at = h * d.W + w;
            }
          }
        const int64_t o = (p * d.Ho + i) * d.Wo + j;
        y[o] = best;
        argmax[o] = at;
      }
    }
  }
}

template <class T> void max_pool2d_backward_cpu(const T* dy, const int64_t* argmax, T* dx, const Pool2dDims& d) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < d.planes; ++p) {
    T* dxp = dx + p * d.H * d.W;
    std::fill(dxp, dxp + d.H * d.W, T(0));
    const int64_t o0 = p * d.Ho * d.Wo;
    for (int64_t o = o0; o < o0 + d.Ho * d.Wo; ++o) dxp[argmax[o]] += dy[o];
  }
}

// Mean pooling over windows given per axis by span(i, in, out) -> Span: avg_pool2d's fixed windows
// and adaptive_avg_pool2d's bins differ only there. The divisor is r.count * c.count.
template <class T, class SpanFn> void mean_pool_forward(const T* x, T* y, const Pool2dDims& d, SpanFn span) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < d.planes; ++p) {
    const T* xp = x + p * d.H * d.W;
    for (int64_t i = 0; i < d.Ho; ++i) {
      const Span r = span(i, d.H, d.Ho);
      for (int64_t j = 0; j < d.Wo; ++j) {
        const Span c = span(j, d.W, d.Wo);
        T s = 0;
        for (int64_t h = r.lo; h < r.hi; ++h)
          for (int64_t w = c.lo; w < c.hi; ++w) s += xp[h * d.W + w];
        y[(p * d.Ho + i) * d.Wo + j] = s / T(r.count * c.count);
      }
    }
  }
}

template <class T, class SpanFn> void mean_pool_backward(const T* dy, T* dx, const Pool2dDims& d, SpanFn span) {
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < d.planes; ++p) {
    T* dxp = dx + p * d.H * d.W;
    std::fill(dxp, dxp + d.H * d.W, T(0));
    for (int64_t i = 0; i < d.Ho; ++i) {
      const Span r = span(i, d.H, d.Ho);
      for (int64_t j = 0; j < d.Wo; ++j) {
        const Span c = span(j, d.W, d.Wo);
        const T g = dy[(p * d.Ho + i) * d.Wo + j] / T(r.count * c.count);
        for (int64_t h = r.lo; h < r.hi; ++h)
          for (int64_t w = c.lo; w < c.hi; ++w) dxp[h * d.W + w] += g;
      }
    }
  }
}

template <class T> void avg_pool2d_forward_cpu(const T* x, T* y, const Pool2dDims& d) {
  mean_pool_forward(x, y, d, [&d](int64_t i, int64_t in, int64_t) { return window(i, in, d.kernel, d.stride, d.pad); });
}

template <class T> void avg_pool2d_backward_cpu(const T* dy, T* dx, const Pool2dDims& d) {
  mean_pool_backward(dy, dx, d, [&d](int64_t i, int64_t in, int64_t) { return window(i, in, d.kernel, d.stride, d.pad); });
}

template <class T> void adaptive_avg_pool2d_forward_cpu(const T* x, T* y, const Pool2dDims& d) {
  mean_pool_forward(x, y, d, adaptive_bin);
}

template <class T> void adaptive_avg_pool2d_backward_cpu(const T* dy, T* dx, const Pool2dDims& d) {
  mean_pool_backward(dy, dx, d, adaptive_bin);
}

#define DRU_POOL_INSTANTIATE(T)                                                                  \
  template void max_pool2d_forward_cpu<T>(const T*, T*, int64_t*, const Pool2dDims&);           \
  template void max_pool2d_backward_cpu<T>(const T*, const int64_t*, T*, const Pool2dDims&);    \
  template void avg_pool2d_forward_cpu<T>(const T*, T*, const Pool2dDims&);                     \
  template void avg_pool2d_backward_cpu<T>(const T*, T*, const Pool2dDims&);                    \
  template void adaptive_avg_pool2d_forward_cpu<T>(const T*, T*, const Pool2dDims&);            \
  template void adaptive_avg_pool2d_backward_cpu<T>(const T*, T*, const Pool2dDims&);
DRU_POOL_INSTANTIATE(float)
DRU_POOL_INSTANTIATE(double)
#undef DRU_POOL_INSTANTIATE

}  // namespace dru::pool
