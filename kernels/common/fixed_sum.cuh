// fixed_sum.cuh — a block-wide sum in a fixed tree order, for the deterministic reductions of the fused
// kernels (no float atomics: the same inputs give the same bits on every run).
#pragma once

#include <cstdint>

namespace dru {

// Sums v over the block; every thread gets the total. blockDim.x must be a power of two and sh must
// hold blockDim.x values. Safe to call several times in a row with the same sh.
template <class T> __device__ __forceinline__ T fixed_block_sum(T v, T* sh) {
  __syncthreads();  // an earlier call's readers are done with sh
  sh[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  return sh[0];
}

// Sums x[0, n) with one block, in a fixed order: thread t adds x[t], x[t + blockDim.x], ... in turn,
// then fixed_block_sum. The second pass of the two-pass reductions (their per-block partials).
template <class T> __device__ __forceinline__ T fixed_array_sum(const T* __restrict__ x, int64_t n, T* sh) {
  T s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
  return fixed_block_sum(s, sh);
}

}  // namespace dru
