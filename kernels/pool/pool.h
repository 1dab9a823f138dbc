// pool.h — 2-D max, average and adaptive average pooling, forward and backward, CPU reference.
//
// Layout: x (N, C, H, W) and y (N, C, Ho, Wo), seen here as `planes` = N*C independent images.
// Semantics are PyTorch's (ceil_mode=False, dilation 1):
//   max_pool2d  y = max over the window [i*s - p, i*s - p + k) x [j*s - p, j*s - p + k) clipped to
//               the image (padding never wins). argmax holds the winner's index h*W + w in its plane;
//               ties keep the first in row-major order and a NaN wins (PyTorch's `v > max || isnan(v)`),
//               so the backward routes each gradient to exactly one input.
//   avg_pool2d  y = window sum / k*k: padded zeros count (count_include_pad=True).
//   adaptive    bins rows [floor(i*H/Ho), ceil((i+1)*H/Ho)) and the same for columns; y = bin mean.
// Ho = (H + 2p - k) / s + 1 for the fixed-window pools. Planes are spread over OpenMP threads; no
// two threads write the same element, so backward results are deterministic.
#pragma once

#include <cstdint>

namespace dru::pool {

struct Pool2dDims {
  int64_t planes = 0, H = 0, W = 0;  // input (planes, H, W)
  int64_t Ho = 0, Wo = 0;            // output (planes, Ho, Wo)
  int64_t kernel = 1, stride = 1, pad = 0;  // unused by the adaptive pool
};

// Output extent of a fixed-window pool: (H + 2p - k) / s + 1 (floor).
inline int64_t pool_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

// Requires pad <= kernel / 2 (every window then holds a real pixel). Writes y and argmax (planes, Ho, Wo).
template <class T> void max_pool2d_forward_cpu(const T* x, T* y, int64_t* argmax, const Pool2dDims& d);
// dx (planes, H, W) is overwritten: dx[argmax] gets the sum of the dy routed to it, 0 elsewhere.
template <class T> void max_pool2d_backward_cpu(const T* dy, const int64_t* argmax, T* dx, const Pool2dDims& d);

template <class T> void avg_pool2d_forward_cpu(const T* x, T* y, const Pool2dDims& d);
// dx is overwritten: each window spreads dy / (its divisor) over the pixels it covers.
template <class T> void avg_pool2d_backward_cpu(const T* dy, T* dx, const Pool2dDims& d);

// Uses planes, H, W, Ho, Wo only.
template <class T> void adaptive_avg_pool2d_forward_cpu(const T* x, T* y, const Pool2dDims& d);
template <class T> void adaptive_avg_pool2d_backward_cpu(const T* dy, T* dx, const Pool2dDims& d);

}  // namespace dru::pool
