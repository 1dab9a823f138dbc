// matmul.cu — the matrix-product family on CUDA: row-major GEMMs through cuBLAS, the bias broadcast
// add, and the column sum that gives a bias its gradient.
//
// cuBLAS is column-major. A row-major (m, n) matrix with row stride ld is, read column-major, its
// transpose (n, m) with leading dimension ld. So the row-major product C = op(A) op(B) is computed as
// the column-major product C^T = op(B)^T op(A)^T: B goes first, A second, the sizes swap to (n, m),
// and each transpose flag passes through unchanged (a stored row-major matrix already reads as its
// own transpose, so op(B)^T of it is "no transpose" exactly when op(B) is B).
//
// The column sum runs in two passes with a fixed summation order (no atomics, column_sums.cuh), so
// results are bit-identical from run to run.
#include <algorithm>
#include <climits>

#include "engine/check.h"
#include "engine/cuda/column_sums.cuh"
#include "engine/cuda/common.cuh"
#include "engine/cuda/matmul.h"

namespace dru::cuda {

namespace {

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

// The column sum's term: row r's value in column col.
struct ColumnOf {
  const float* x;
  int64_t cols;
  __device__ void add(float* acc, int64_t r, int64_t col) const { acc[0] += x[r * cols + col]; }
};

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
  column_sums<1>(ColumnOf{x, cols}, rows, cols, ColumnOutputs<1>{{out}});
}

}  // namespace dru::cuda
