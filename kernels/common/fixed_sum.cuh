// fixed_sum.cuh — a block-wide sum in a fixed tree order, for the deterministic reductions of the fused
// kernels (no float atomics: the same inputs give the same bits on every run).
#pragma once

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

}  // namespace dru
