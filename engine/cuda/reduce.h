// reduce.h — CUDA launchers of the reductions: sum (and mean) over any set of dimensions, and L2
// normalisation along one dimension with its backward. Deterministic: every sum runs in a fixed order
// (per-thread loops, fixed-shape shuffle trees, and a second pass over per-block partial sums), never
// with atomics, so two runs give bit-identical results. Raw f32 device pointers on the engine's stream.
#pragma once

#include <cstdint>

#include "engine/cuda/api.h"

namespace dru::cuda {

// A contiguous input's extents and which dimensions are summed away.
struct ReduceShape {
  static constexpr int kDims = 5;  // = kMaxDims of tensor.h
  int ndim = 0;
  int64_t extent[kDims] = {};
  bool reduced[kDims] = {};
};

// out (the kept dimensions, in order) = sum over the reduced dimensions of x, divided by divisor
// (1 for sum, the count for mean). Uses workspace() for partial sums of long reductions.
DRU_CUDA_API(void reduce_sum(const float* x, float* out, const ReduceShape& shape, float divisor))

// x viewed as (outer, n, inner), normalised along n: denom (outer * inner) = max(||x||, eps), y = x / denom.
DRU_CUDA_API(void l2_normalize_forward(const float* x, float* y, float* denom, int64_t outer, int64_t n, int64_t inner,
                                       float eps))
// gx = g / d where d <= eps, else (g - y (y . g)) / d; dot is caller-owned scratch of outer * inner floats.
DRU_CUDA_API(void l2_normalize_backward(const float* g, const float* y, const float* denom, float* dot, float* gx,
                                        int64_t outer, int64_t n, int64_t inner, float eps))

}  // namespace dru::cuda
