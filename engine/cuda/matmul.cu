// matmul.cu — the matrix-product family on CUDA: row-major GEMMs through cuBLAS, the bias broadcast
// add, and the column sum that gives a bias its gradient.
//
// cuBLAS is column-major. A row-major (m, n) matrix with row stride ld is, read column-major, its
// transpose (n, m) with leading dimension ld. So the row-major product C = op(A) op(B) is computed as
// the column-major product C^T = op(B)^T op(A)^T: B goes first, A second, the sizes swap to (n, m),
// and each transpose flag passes through unchanged (a stored row-major matrix already reads as its
// own transpose, so op(B)^T of it is "no transpose" exactly when op(B) is B).
//
// The column sum runs in two passes with a fixed summation order (no atomics): blocks of 32 columns x
// 8 row lanes sum chunks of rows into a (chunks, cols) buffer, then the same kernel sums the chunks.
// The chunking depends on the shape only, so results are bit-identical from run to run.
#include <algorithm>
#include <climits>

#include "engine/check.h"
#include "engine/cuda/common.cuh"
#include "engine/cuda/matmul.h"

namespace dru::cuda {

namespace {

constexpr int kColTile = 32;         // columns per block (one warp wide: coalesced rows)
constexpr int kRowLanes = 8;         // row lanes per block
constexpr int64_t kChunkRows = 128;  // rows per chunk in the first pass
constexpr int64_t kMaxChunks = 1024;

int as_int(int64_t v, const char* what) {
  DRU_CHECK(v >= 0 && v <= INT_MAX, "gemm: {} = {} does not fit cuBLAS's 32-bit sizes", what, v);
  return int(v);
}

// C[i] (m, n) = 0 for every i: a product over an empty inner dimension.
__global__ void zero_matrices_kernel(float* c, int64_t m, int64_t n, int64_t ldc, int64_t stride_c, int64_t batch) {
  DRU_GRID_LOOP(idx, batch * m * n) {
    int64_t i = idx / (m * n), r = (idx / n) % m, col = idx % n;
    c[i * stride_c + r * ldc + col] = 0.f;
  }
}

__global__ void add_row_bias_kernel(float* y, const float* __restrict__ bias, int64_t rows, int64_t cols) {
  DRU_GRID_LOOP(i, rows * cols) y[i] += bias[i % cols];
}

// out[chunk][col] = sum of x[r][col] over the rows r of the chunk (blockIdx.y); block (kColTile, kRowLanes).
__global__ void column_partial_kernel(const float* __restrict__ x, float* __restrict__ out, int64_t rows, int64_t cols,
                                      int64_t chunk_rows) {
  __shared__ float part[kRowLanes][kColTile + 1];
  const int64_t col = int64_t(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * chunk_rows;
  const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  float s = 0.f;
  if (col < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) s += x[r * cols + col];
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    for (int k = 1; k < kRowLanes; ++k) s += part[k][threadIdx.x];
    out[int64_t(blockIdx.y) * cols + col] = s;
  }
}

void column_pass(const float* x, float* out, int64_t rows, int64_t cols, int64_t chunks, int64_t chunk_rows) {
  dim3 grid(unsigned((cols + kColTile - 1) / kColTile), unsigned(chunks));
  column_partial_kernel<<<grid, dim3(kColTile, kRowLanes), 0, stream()>>>(x, out, rows, cols, chunk_rows);
  DRU_CUDA_LAUNCHED();
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b, float beta, float* c, int64_t ldc,
          int64_t stride_c, int64_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {  // op(A) op(B) is all zeros; cuBLAS would reject the zero leading dimensions
    DRU_CHECK(beta == 0.f || beta == 1.f, "gemm: an empty inner dimension with beta = {} is not supported", beta);
    if (beta == 0.f) {
      zero_matrices_kernel<<<grid_for(batch * m * n), kThreads, 0, stream()>>>(c, m, n, ldc, stride_c, batch);
      DRU_CUDA_LAUNCHED();
    }
    return;
  }
  // Column-major view: C^T (n, m) = op(B)^T (n, k) op(A)^T (k, m).
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int cm = as_int(n, "n"), cn = as_int(m, "m"), ck = as_int(k, "k");
  const int ld_b = as_int(ldb, "ldb"), ld_a = as_int(lda, "lda"), ld_c = as_int(ldc, "ldc");
  if (batch == 1) {
    DRU_CUBLAS_CHECK(cublasSgemm(cublas(), op_b, op_a, cm, cn, ck, &alpha, b, ld_b, a, ld_a, &beta, c, ld_c));
  } else {
    DRU_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas(), op_b, op_a, cm, cn, ck, &alpha, b, ld_b, (long long)stride_b,
                                               a, ld_a, (long long)stride_a, &beta, c, ld_c, (long long)stride_c,
                                               as_int(batch, "batch")));
  }
}

void add_row_bias(float* y, const float* bias, int64_t rows, int64_t cols) {
  if (rows == 0 || cols == 0) return;
  add_row_bias_kernel<<<grid_for(rows * cols), kThreads, 0, stream()>>>(y, bias, rows, cols);
  DRU_CUDA_LAUNCHED();
}

void column_sum(const float* x, float* out, int64_t rows, int64_t cols) {
  if (cols == 0) return;
  if (rows <= kChunkRows) {  // rows == 0 too: the kernel writes zeros
    column_pass(x, out, rows, cols, 1, std::max<int64_t>(rows, 1));
    return;
  }
  const int64_t chunks = std::min((rows + kChunkRows - 1) / kChunkRows, kMaxChunks);
  const int64_t chunk_rows = (rows + chunks - 1) / chunks;
  float* partial = static_cast<float*>(workspace(size_t(chunks * cols) * sizeof(float)));
  column_pass(x, partial, rows, cols, chunks, chunk_rows);
  column_pass(partial, out, chunks, cols, 1, chunks);
}

}  // namespace dru::cuda
