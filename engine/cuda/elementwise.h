// elementwise.h — CUDA launchers of the element-wise ops: broadcasting arithmetic, unary math and
// activations with their derivatives, in-place accumulation and the broadcast copy behind the
// backward of sum and mean. Raw f32 device pointers, queued on the engine's stream (engine/cuda/api.h).
#pragma once

#include <cstdint>

#include "engine/cuda/api.h"

namespace dru::cuda {

// The output's extents and each operand's element strides viewed at the output's rank (0 along a
// broadcast dimension). Passed to the kernels by value; the launcher first merges dimensions that
// are contiguous for every operand, so (N, C, H, W) * (1, C, 1, 1) runs as a 3-D walk (N, C, H*W).
struct BroadcastPlan {
  static constexpr int kDims = 5;  // = kMaxDims of tensor.h
  int ndim = 0;
  int64_t shape[kDims] = {};
  int64_t a[kDims] = {};
  int64_t b[kDims] = {};
};

enum class BinaryOp : int { add, sub, mul, div };

// Element maps y = f(x) (alpha: the scalar of add/mul by a scalar, the exponent of pow, elu's alpha).
enum class UnaryOp : int { add_scalar, mul_scalar, pow, exp, log, sqrt, relu, elu, sigmoid, tanh, gelu, hardswish };

// out[i] = a[.] op b[.] over the plan's output.
DRU_CUDA_API(void binary(BinaryOp op, const float* a, const float* b, float* out, const BroadcastPlan& plan))
// out[i] = a[.] * scale over the plan's output (plan.b is unused): the expand of sum/mean backward.
DRU_CUDA_API(void broadcast_scale(const float* a, float* out, const BroadcastPlan& plan, float scale))
DRU_CUDA_API(void unary(UnaryOp op, const float* x, float* y, int64_t n, float alpha))
// gx[i] = g[i] * f'(x[i], y[i]) for the ops with a derivative (not add_scalar/mul_scalar, whose
// backward is a plain map); x or y may be null where the derivative does not read it.
DRU_CUDA_API(void unary_backward(UnaryOp op, const float* g, const float* x, const float* y, float* gx, int64_t n,
                                 float alpha))
// acc[i] += g[i].
DRU_CUDA_API(void accumulate(float* acc, const float* g, int64_t n))

}  // namespace dru::cuda
