// conv2d.h — 2-D convolution (cross-correlation, as PyTorch), forward and backward, CPU reference.
//
// Math: y[n, o, i, j] = b[o] + sum_{c, a, e} w[o, c, a, e] * x[n, c, i*s - p + a, j*s - p + e],
// with x read as zero outside the image (zero padding p, stride s, no dilation, no groups).
// Layouts (row-major): x (N, C, H, W), w (O, C, kh, kw), b (O), y (N, O, Ho, Wo) with
// Ho = (H + 2p - kh) / s + 1, Wo = (W + 2p - kw) / s + 1.
//
// CPU version: im2col + GEMM. For one image the patches form col (K, P) with K = C*kh*kw rows and
// P = Ho*Wo columns, so y_n (O, P) = w (O, K) · col (K, P); images are grouped so each GEMM has at
// least ~1024 columns (small feature maps would otherwise give thin GEMMs). Backward:
//   dx: dcol = w^T · dy_g, then col2im adds each patch entry back to the pixel it came from;
//   dw: dw = sum over groups of dy_g · col_g^T; db = sum over n and pixels of dy.
// Groups are spread over OpenMP threads (Eigen itself runs single-threaded); the dw GEMM is split by
// fixed blocks of rows. Group sizes and GEMM shapes never depend on the thread count, so results are
// bitwise reproducible and no float atomics are needed (DESIGN decision 3). In float, 3x3 stride-1
// convolutions with enough channels take Winograd's F(2x2, 3x3) for the forward and the input
// gradient (winograd_cpu.cpp): 2.25x fewer multiplies.
#pragma once

#include <cstdint>

namespace dru::conv {

// Sizes of one convolution; Ho and Wo follow from the others.
struct Conv2dDims {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input (N, C, H, W)
  int64_t O = 0, kh = 0, kw = 0;       // weight (O, C, kh, kw)
  int64_t stride = 1, pad = 0;
  int64_t Ho() const { return (H + 2 * pad - kh) / stride + 1; }
  int64_t Wo() const { return (W + 2 * pad - kw) / stride + 1; }
};

// Requires: sizes positive, H + 2p >= kh, W + 2p >= kw, stride >= 1, pad >= 0; b may be null (no bias).
// Ensures: y (N, O, Ho, Wo) holds the convolution; every element of y is written.
template <class T> void conv2d_forward_cpu(const T* x, const T* w, const T* b, T* y, const Conv2dDims& d);

// Requires: x, w, dy as in the forward (dy has y's layout). Any of dx, dw, db may be null to skip it.
// Ensures: dx (N, C, H, W), dw (O, C, kh, kw), db (O) are overwritten (not accumulated) with the
// gradients of sum(y * dy); results are bitwise identical for any number of threads.
template <class T>
void conv2d_backward_cpu(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, const Conv2dDims& d);

// Winograd F(2x2, 3x3), float: 3x3 kernels, stride 1, padding <= 2, at least 16 channels in and out.
bool winograd_eligible(const Conv2dDims& d);
void winograd_conv3x3_forward(const float* x, const float* w, const float* b, float* y, const Conv2dDims& d);
// dx (N, C, H, W) of the convolution d from dy (N, O, Ho, Wo); overwrites dx.
void winograd_conv3x3_backward_data(const float* w, const float* dy, float* dx, const Conv2dDims& d);
// dw (O, C, 3, 3) of the convolution d from x and dy; overwrites dw; deterministic.
void winograd_conv3x3_backward_filter(const float* x, const float* dy, float* dw, const Conv2dDims& d);

}  // namespace dru::conv
