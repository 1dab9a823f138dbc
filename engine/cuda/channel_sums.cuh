// channel_sums.cuh — deterministic per-channel sums over an (N, C, S) tensor, for .cu files only.
//
// Batch-norm statistics, batch-norm gradients and the conv2d bias gradient all reduce over every
// dimension except the channel. No float atomics (DESIGN: two runs must agree bit for bit), so:
//   pass 1  channel_partials: block b sums chunk b % chunks of channel b / chunks (its M = N*S values
//           in flat order split into equal runs), each thread in a fixed order, then a fixed shared-
//           memory tree; the block's K sums go to part[(c * chunks + k) * K + j], in double.
//   pass 2  the caller's per-channel kernel adds a channel's `chunks` partials in order (sum_partials).
// The chunk count depends only on M, never on the device, so results repeat across runs and GPUs.
// A Term functor says what is summed: term.channel(c) gives a per-channel constant p (a shift or a
// mean), term.add(acc, p, i) adds element i's K contributions.
#pragma once

#include <cstdint>

#include "engine/cuda/common.cuh"

namespace dru::cuda {

// Chunks per channel: about 4096 values each, at most 64 (enough blocks to fill the device even
// for few channels; each block then does 16+ values per thread).
inline int channel_chunks(int64_t M) {
  int64_t c = (M + 4095) / 4096;
  return int(c < 1 ? 1 : (c > 64 ? 64 : c));
}

// Block size of channel_partials: a power of two for the tree.
constexpr int kSumThreads = 256;

template <int K, class Term>
__global__ void channel_partials_kernel(Term term, int64_t C, int64_t S, int64_t M, int64_t chunk, int chunks,
                                        double* __restrict__ part) {
  __shared__ double sh[K][kSumThreads];
  const int64_t c = int64_t(blockIdx.x) / chunks;
  const int k = int(int64_t(blockIdx.x) % chunks);
  const int64_t m_end = (int64_t(k) + 1) * chunk < M ? (int64_t(k) + 1) * chunk : M;
  double acc[K];
  for (int j = 0; j < K; ++j) acc[j] = 0.0;
  int64_t m = int64_t(k) * chunk + threadIdx.x;
  if (m < m_end) {
    const double p = term.channel(c);
    // Walk m in steps of blockDim.x while tracking (n, s) = (m / S, m % S) without dividing.
    int64_t n = m / S, s = m % S;
    const int64_t dn = int64_t(blockDim.x) / S, ds = int64_t(blockDim.x) % S;
    for (; m < m_end; m += blockDim.x) {
      term.add(acc, p, (n * C + c) * S + s);
      n += dn;
      s += ds;
      if (s >= S) {
        s -= S;
        ++n;
      }
    }
  }
  for (int j = 0; j < K; ++j) sh[j][threadIdx.x] = acc[j];
  __syncthreads();
  for (int half = kSumThreads / 2; half > 0; half >>= 1) {
    if (int(threadIdx.x) < half)
      for (int j = 0; j < K; ++j) sh[j][threadIdx.x] += sh[j][threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int j = 0; j < K; ++j) part[(c * chunks + k) * K + j] = sh[j][0];
}

// Queues pass 1 for x viewed as (N, C, S); part must hold C * channel_chunks(N * S) * K doubles.
template <int K, class Term> void channel_partials(const Term& term, int64_t N, int64_t C, int64_t S, double* part) {
  if (C == 0) return;
  const int64_t M = N * S;
  const int chunks = channel_chunks(M);
  const int64_t chunk = (M + chunks - 1) / chunks;
  channel_partials_kernel<K><<<unsigned(C * chunks), kSumThreads, 0, stream()>>>(term, C, S, M, chunk, chunks, part);
  DRU_CUDA_LAUNCHED();
}

// Pass 2 for one channel: acc[j] = sum over its chunks, in chunk order.
template <int K> __device__ inline void sum_partials(const double* part, int64_t c, int chunks, double* acc) {
  for (int j = 0; j < K; ++j) acc[j] = 0.0;
  for (int k = 0; k < chunks; ++k)
    for (int j = 0; j < K; ++j) acc[j] += part[(c * chunks + k) * K + j];
}

// Runs f(I{}) with I = uint32_t when n elements can be indexed in 31 bits (32-bit division is several
// times cheaper than 64-bit in the element-wise kernels), else int64_t.
template <class F> void with_index_type(int64_t n, F&& f) {
  if (n < (int64_t(1) << 31))
    f(uint32_t{});
  else
    f(int64_t{});
}

// Grid-stride loop over [0, n) in index type I (n < 2^31 when I is 32-bit, so i + stride never wraps).
#define DRU_GRID_LOOP_T(I, i, n) \
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < (n); i += I(gridDim.x) * I(blockDim.x))

}  // namespace dru::cuda
