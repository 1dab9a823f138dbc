// column_sums.cuh — deterministic sums down the rows of a (rows, cols) layout, for .cu files only: a
// bias gradient (the column sum of dy, matmul.cu) and layer norm's two parameter gradients (seq.cu).
//
// No float atomics (two runs must agree bit for bit), so two passes with a fixed order of additions:
//   pass 1  blocks of kColTile columns x kRowLanes row lanes; block (x, chunk) walks the chunk's rows,
//           lane y taking rows y, y + kRowLanes, ...; lane 0 then adds the other lanes in order and
//           writes the chunk's K partial sums to part[(k * chunks + chunk) * cols + col];
//   pass 2  one thread per column adds its chunks in chunk order.
// The chunking depends on the row count alone, never on the device. A Term functor says what is
// summed: term.add(acc, r, col) adds row r's K contributions to column col into acc[0..K).
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/cuda/common.cuh"

namespace dru::cuda {

constexpr int kColTile = 32;         // columns per block (one warp wide: coalesced rows)
constexpr int kRowLanes = 8;         // row lanes per block
constexpr int64_t kChunkRows = 128;  // rows per chunk in the first pass
constexpr int64_t kMaxChunks = 1024;

template <int K, class Term>
__global__ void column_partials_kernel(Term term, int64_t rows, int64_t cols, int64_t chunk_rows,
                                       float* __restrict__ part) {
  __shared__ float sh[K][kRowLanes][kColTile + 1];
  const int64_t col = int64_t(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * chunk_rows;
  const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  float acc[K];
  for (int k = 0; k < K; ++k) acc[k] = 0.f;
  if (col < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) term.add(acc, r, col);
  for (int k = 0; k < K; ++k) sh[k][threadIdx.y][threadIdx.x] = acc[k];
  __syncthreads();
  if (threadIdx.y != 0 || col >= cols) return;
  const int64_t chunks = gridDim.y;
  for (int k = 0; k < K; ++k) {
    for (int lane = 1; lane < kRowLanes; ++lane) acc[k] += sh[k][lane][threadIdx.x];
    part[(k * chunks + int64_t(blockIdx.y)) * cols + col] = acc[k];
  }
}

// out[k][col] = sum over the chunks of part, in chunk order; a null out[k] is skipped.
template <int K> struct ColumnOutputs {
  float* out[K];
};

template <int K>
__global__ void column_chunks_kernel(const float* __restrict__ part, int64_t chunks, int64_t cols, ColumnOutputs<K> o) {
  DRU_GRID_LOOP(col, cols) {
    for (int k = 0; k < K; ++k) {
      if (!o.out[k]) continue;
      float s = 0.f;
      for (int64_t c = 0; c < chunks; ++c) s += part[(k * chunks + c) * cols + col];
      o.out[k][col] = s;
    }
  }
}

// Queues both passes: out[k][col] = sum over rows r of term's k-th contribution of (r, col). With no
// rows every output is zero. The partial sums live in workspace().
template <int K, class Term> void column_sums(const Term& term, int64_t rows, int64_t cols, ColumnOutputs<K> out) {
  if (cols == 0) return;
  const int64_t chunks = rows == 0 ? 1 : std::min((rows + kChunkRows - 1) / kChunkRows, kMaxChunks);
  const int64_t chunk_rows = rows == 0 ? 1 : (rows + chunks - 1) / chunks;
  float* part = static_cast<float*>(workspace(size_t(K * chunks * cols) * sizeof(float)));
  const dim3 grid(unsigned((cols + kColTile - 1) / kColTile), unsigned(chunks));
  column_partials_kernel<K><<<grid, dim3(kColTile, kRowLanes), 0, stream()>>>(term, rows, cols, chunk_rows, part);
  DRU_CUDA_LAUNCHED();
  column_chunks_kernel<K><<<grid_for(cols), kThreads, 0, stream()>>>(part, chunks, cols, out);
  DRU_CUDA_LAUNCHED();
}

}  // namespace dru::cuda
