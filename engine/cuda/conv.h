// conv.h — conv2d on the GPU: launchers for engine/ops_conv.cpp.
//
// Same math and layouts as kernels/conv2d/conv2d.h (NCHW, cross-correlation, zero padding, no
// dilation or groups); raw device pointers, f32, queued on the engine's stream. The convolutions run
// in cuDNN with one cached plan per shape (descriptors and the algorithm of each direction, chosen on
// first use); the bias and its gradient are our own kernels. In a CUDA build without cuDNN the
// convolution launchers throw "conv2d on CUDA needs cuDNN; rebuild with cuDNN".
//
// Algorithms: cuDNN's heuristics (cudnnGet*Algorithm_v7), the fastest deterministic one with at
// most 256 MiB of workspace, so the choice is the same in every process and two runs agree bit for
// bit. DRU_CUDNN_BENCHMARK=1 times the candidates instead (cudnnFind*Ex, as PyTorch's
// cudnn.benchmark): sometimes faster, but it waits for the GPU once per new shape and the choice, so
// the last bits of the results, may differ between processes. Math: FP32 FMA only unless
// dru::cuda::tf32() is on (then cuDNN may use TF32 tensor cores); the flag is part of the cache key.
#pragma once

#include <cstdint>

#include "engine/cuda/api.h"
#include "kernels/conv2d/conv2d.h"

namespace dru::cuda {

// y (N, O, Ho, Wo) = conv(x, w) + b; b may be null.
DRU_CUDA_API(void conv2d_forward(const float* x, const float* w, const float* b, float* y, const conv::Conv2dDims& d))
// dx (N, C, H, W) from w and dy; overwritten.
DRU_CUDA_API(void conv2d_backward_data(const float* w, const float* dy, float* dx, const conv::Conv2dDims& d))
// dw (O, C, kh, kw) from x and dy; overwritten.
DRU_CUDA_API(void conv2d_backward_filter(const float* x, const float* dy, float* dw, const conv::Conv2dDims& d))
// db (O) = sum of dy over N and the pixels; overwritten.
DRU_CUDA_API(void conv2d_backward_bias(const float* dy, float* db, const conv::Conv2dDims& d))

}  // namespace dru::cuda
