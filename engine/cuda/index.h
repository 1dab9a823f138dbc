// index.h — CUDA launchers of the data-movement ops: permute, row gathers (embedding, index_select,
// masked_select) with their deterministic scatter-add backward, and dropout's counter-based mask.
// Device pointers on the engine's stream; permute and gathers move elements of any dtype as bytes.
#pragma once

#include <cstdint>

#include "engine/cuda/api.h"

namespace dru::cuda {

// out[i_0, ..., i_{n-1}] = src[sum_k i_k * src_stride[k]] over the output's extents (row-major, contiguous).
struct PermutePlan {
  static constexpr int kDims = 5;  // = kMaxDims of tensor.h
  int ndim = 0;
  int64_t shape[kDims] = {};       // output extents
  int64_t src_stride[kDims] = {};  // input element stride of each output dimension
};

// elem_bytes: 1, 4 or 8.
DRU_CUDA_API(void permute_copy(const void* src, void* dst, const PermutePlan& plan, int elem_bytes))

// out row r (row elements) = x row idx[r] for r < n_idx; x has n_rows rows. Ids outside [0, n_rows)
// give a row of zeros (the host cannot check device ids without a sync).
DRU_CUDA_API(void gather_rows(const void* x, const int64_t* idx, void* out, int64_t n_idx, int64_t n_rows,
                              int64_t row, int elem_bytes))

// gx row v = sum of g rows r with idx[r] == v, added in increasing r (the CPU's order, so the result
// is bit-identical to it and to every other run); gx (n_rows, row) must be zero-filled by the caller.
// Out-of-range ids are skipped. A stable radix sort of the ids (CUB) groups equal ids; one thread per
// (group, column) then sums its group. Needs n_idx < 2^31 and n_rows < 2^32 - 1.
DRU_CUDA_API(void scatter_add_rows(const float* g, const int64_t* idx, float* gx, int64_t n_idx, int64_t n_rows,
                                   int64_t row))

// Inverted dropout with the CPU's draw: with c = (base ? *base : 0) + first, element i keeps when
// uniform01_f32(philox4x32(c + i, 0, seed).v[0]) >= p; mask[i] = keep ? scale : 0 and
// y[i] = x[i] * mask[i]. base is a device counter (a CUDA graph's replay counter, engine/rng.h) or null.
DRU_CUDA_API(void dropout_forward(const float* x, float* mask, float* y, int64_t n, const uint64_t* base,
                                  uint64_t first, uint64_t seed, float p, float scale))

}  // namespace dru::cuda
