// matmul.h — CUDA launchers of the matrix-product family: a row-major GEMM over cuBLAS, the bias
// broadcast add and a deterministic column sum (the bias gradient).
//
// All matrices are row-major, as the engine stores them. A matrix is (pointer, ld, stride): ld is the
// distance in elements between consecutive rows of the matrix as stored (its column count for a
// dense matrix, larger for the rows of one time step inside a (N, T, X) buffer), stride the distance
// between consecutive matrices of a batch. Transpose flags pick A^T or B^T of the stored matrices.
#pragma once

#include <cstdint>

#include "engine/cuda/api.h"

namespace dru::cuda {

// C[i] = alpha op(A[i]) op(B[i]) + beta C[i] for i < batch, with op(A[i]) (m, k), op(B[i]) (k, n) and
// C[i] (m, n). beta = 0 ignores C's old contents (NaN included). TF32 follows tf32().
DRU_CUDA_API(void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                       int64_t lda, int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b, float beta,
                       float* c, int64_t ldc, int64_t stride_c, int64_t batch))

// y (rows, cols) += bias (cols) on every row.
DRU_CUDA_API(void add_row_bias(float* y, const float* bias, int64_t rows, int64_t cols))

// out (cols) = sum over rows of x (rows, cols), in a fixed order (bit-identical run to run).
DRU_CUDA_API(void column_sum(const float* x, float* out, int64_t rows, int64_t cols))

}  // namespace dru::cuda
