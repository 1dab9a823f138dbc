// index.cu — permute, row gathers and their scatter-add, dropout.
//
// Permute and gathers copy elements as opaque words: where rows (or the permutation's innermost run)
// are a multiple of 16 bytes and both pointers are aligned, they move uint4 words, else 8-, 4- or
// 1-byte words. The scatter-add of a gather's backward is deterministic without atomics: ids are
// stably sorted (cub::DeviceRadixSort keeps equal keys in input order), and the first thread of each
// run of equal ids sums the run's gradient rows in that order.
#include <cub/device/device_radix_sort.cuh>

#include <cstdint>
#include <initializer_list>

#include "engine/check.h"
#include "engine/cuda/common.cuh"
#include "engine/cuda/index.h"
#include "kernels/rng/philox.h"

namespace dru::cuda {

namespace {

constexpr int kRank = PermutePlan::kDims;
constexpr int64_t k31 = int64_t(1) << 31;

bool aligned(const void* p, int bytes) { return reinterpret_cast<uintptr_t>(p) % uintptr_t(bytes) == 0; }

// ---- permute --------------------------------------------------------------------------------------

template <class E, class I>
__global__ void permute_kernel(const E* __restrict__ src, E* __restrict__ dst, PermutePlan p, I n) {
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += step) {
    I rem = i, off = 0;
#pragma unroll
    for (int d = kRank - 1; d >= 1; --d) {
      if (d < p.ndim) {
        I e = I(p.shape[d]);
        off += (rem % e) * I(p.src_stride[d]);
        rem /= e;
      }
    }
    dst[i] = src[off + rem * I(p.src_stride[0])];
  }
}

// Drops extent-1 dimensions and merges output neighbours that are also neighbours in the input.
PermutePlan collapse(const PermutePlan& p) {
  PermutePlan q;
  for (int d = 0; d < p.ndim; ++d) {
    if (p.shape[d] == 1) continue;
    int k = q.ndim - 1;
    if (k >= 0 && q.src_stride[k] == p.src_stride[d] * p.shape[d]) {
      q.shape[k] *= p.shape[d];
      q.src_stride[k] = p.src_stride[d];
      continue;
    }
    q.shape[q.ndim] = p.shape[d];
    q.src_stride[q.ndim] = p.src_stride[d];
    ++q.ndim;
  }
  if (q.ndim == 0) {
    q.ndim = 1;
    q.shape[0] = 1;
    q.src_stride[0] = 1;
  }
  return q;
}

// Views the innermost run as words of `bytes` (> es) where its length, every other stride and both
// pointers allow it; returns false (plan untouched) otherwise.
bool widen(PermutePlan& q, int& es, int bytes, const void* src, const void* dst) {
  if (bytes <= es || bytes % es != 0 || !aligned(src, bytes) || !aligned(dst, bytes)) return false;
  const int64_t f = bytes / es;
  const int last = q.ndim - 1;
  if (q.src_stride[last] != 1 || q.shape[last] % f != 0) return false;
  for (int k = 0; k < last; ++k)
    if (q.src_stride[k] % f != 0) return false;
  q.shape[last] /= f;
  for (int k = 0; k < last; ++k) q.src_stride[k] /= f;
  es = bytes;
  return true;
}

template <class E> void launch_permute(const void* src, void* dst, const PermutePlan& q, int64_t n) {
  unsigned g = grid_for(n);
  if (n < k31)
    permute_kernel<E, uint32_t><<<g, kThreads, 0, stream()>>>(static_cast<const E*>(src), static_cast<E*>(dst), q,
                                                                uint32_t(n));
  else
    permute_kernel<E, uint64_t><<<g, kThreads, 0, stream()>>>(static_cast<const E*>(src), static_cast<E*>(dst), q,
                                                                uint64_t(n));
  DRU_CUDA_LAUNCHED();
}

// ---- gathers --------------------------------------------------------------------------------------

template <class E, class I>
__global__ void gather_kernel(const E* __restrict__ x, const int64_t* __restrict__ idx, E* __restrict__ out, I total,
                              I row, int64_t n_rows) {
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); t < total; t += step) {
    const I r = t / row, j = t % row;
    const int64_t id = idx[r];
    E v{};  // zeros for an id outside [0, n_rows)
    if (id >= 0 && id < n_rows) v = x[I(id) * row + j];
    out[t] = v;
  }
}

template <class E> void launch_gather(const void* x, const int64_t* idx, void* out, int64_t n_idx, int64_t n_rows,
                                      int64_t row) {
  const int64_t total = n_idx * row;
  unsigned g = grid_for(total);
  if (total < k31 && n_rows * row < k31)
    gather_kernel<E, uint32_t><<<g, kThreads, 0, stream()>>>(static_cast<const E*>(x), idx, static_cast<E*>(out),
                                                               uint32_t(total), uint32_t(row), n_rows);
  else
    gather_kernel<E, uint64_t><<<g, kThreads, 0, stream()>>>(static_cast<const E*>(x), idx, static_cast<E*>(out),
                                                               uint64_t(total), uint64_t(row), n_rows);
  DRU_CUDA_LAUNCHED();
}

// ---- scatter-add ----------------------------------------------------------------------------------

// Sort keys: the id, or n_rows (a sentinel sorted last and skipped) for an id out of range; values: i.
__global__ void sort_keys_kernel(const int64_t* __restrict__ idx, uint32_t* __restrict__ keys,
                                 int32_t* __restrict__ pos, int64_t n, int64_t n_rows) {
  DRU_GRID_LOOP(i, n) {
    const int64_t id = idx[i];
    keys[i] = uint32_t(id >= 0 && id < n_rows ? id : n_rows);
    pos[i] = int32_t(i);
  }
}

// Thread (i, j): if sorted position i starts a run of equal ids, gx[id, j] = sum over the run of
// g[pos, j], in run order (= increasing pos, since the sort is stable).
template <class I>
__global__ void segment_sum_kernel(const float* __restrict__ g, const uint32_t* __restrict__ keys,
                                   const int32_t* __restrict__ pos, float* __restrict__ gx, I n, I row,
                                   uint32_t sentinel) {
  const I total = n * row, step = I(gridDim.x) * I(blockDim.x);
  for (I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); t < total; t += step) {
    const I i = t / row, j = t % row;
    const uint32_t key = keys[i];
    if (key == sentinel || (i > 0 && keys[i - 1] == key)) continue;
    I e = i + 1;
    while (e < n && keys[e] == key) ++e;
    float acc = 0.0f;
    I k = i;
    for (; k + 3 < e; k += 4) {  // four loads in flight, added in order
      float v0 = g[I(pos[k]) * row + j];
      float v1 = g[I(pos[k + 1]) * row + j];
      float v2 = g[I(pos[k + 2]) * row + j];
      float v3 = g[I(pos[k + 3]) * row + j];
      acc += v0;
      acc += v1;
      acc += v2;
      acc += v3;
    }
    for (; k < e; ++k) acc += g[I(pos[k]) * row + j];
    gx[I(key) * row + j] = acc;
  }
}

size_t round256(size_t b) { return (b + 255) / 256 * 256; }

// ---- dropout --------------------------------------------------------------------------------------

__global__ void dropout_kernel(const float* __restrict__ x, float* __restrict__ mask, float* __restrict__ y, int64_t n,
                               const uint64_t* __restrict__ base, uint64_t first, uint64_t seed, float p,
                               float scale) {
  if (base) first += *base;
  DRU_GRID_LOOP(i, n) {
    const float u = uniform01_f32(philox4x32(first + uint64_t(i), 0, seed).v[0]);
    const float m = u >= p ? scale : 0.0f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

}  // namespace

void permute_copy(const void* src, void* dst, const PermutePlan& plan, int elem_bytes) {
  int64_t n = 1;
  for (int d = 0; d < plan.ndim; ++d) n *= plan.shape[d];
  if (n == 0) return;
  PermutePlan q = collapse(plan);
  if (q.ndim == 1 && q.src_stride[0] == 1) {  // the order is unchanged: one copy
    DRU_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * size_t(elem_bytes), cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  int es = elem_bytes;
  for (int w : {16, 8, 4})  // the widest word the innermost run allows
    if (widen(q, es, w, src, dst)) break;
  const int64_t words = n * elem_bytes / es;
  switch (es) {
    case 1: launch_permute<uint8_t>(src, dst, q, words); break;
    case 4: launch_permute<uint32_t>(src, dst, q, words); break;
    case 8: launch_permute<uint2>(src, dst, q, words); break;
    case 16: launch_permute<uint4>(src, dst, q, words); break;
    default: DRU_FAIL("permute: unsupported element size {} bytes", es);
  }
}

void gather_rows(const void* x, const int64_t* idx, void* out, int64_t n_idx, int64_t n_rows, int64_t row,
                 int elem_bytes) {
  if (n_idx == 0 || row == 0) return;
  const int64_t bytes = row * elem_bytes;
  for (int w : {16, 8, 4}) {  // the widest word that divides a row and suits both pointers
    if (w > elem_bytes && bytes % w == 0 && aligned(x, w) && aligned(out, w)) {
      const int64_t words = bytes / w;
      if (w == 16) launch_gather<uint4>(x, idx, out, n_idx, n_rows, words);
      if (w == 8) launch_gather<uint2>(x, idx, out, n_idx, n_rows, words);
      if (w == 4) launch_gather<uint32_t>(x, idx, out, n_idx, n_rows, words);
      return;
    }
  }
  switch (elem_bytes) {
    case 1: launch_gather<uint8_t>(x, idx, out, n_idx, n_rows, row); break;
    case 4: launch_gather<uint32_t>(x, idx, out, n_idx, n_rows, row); break;
    case 8: launch_gather<uint2>(x, idx, out, n_idx, n_rows, row); break;
    default: DRU_FAIL("gather_rows: unsupported element size {} bytes", elem_bytes);
  }
}

void scatter_add_rows(const float* g, const int64_t* idx, float* gx, int64_t n_idx, int64_t n_rows, int64_t row) {
  if (n_idx == 0 || row == 0 || n_rows == 0) return;
  DRU_CHECK(n_idx < k31, "scatter_add_rows: {} indices; at most 2^31 - 1 are supported", n_idx);
  DRU_CHECK(n_rows < (int64_t(1) << 32) - 1, "scatter_add_rows: {} rows; fewer than 2^32 - 1 are supported", n_rows);
  int bits = 1;  // enough for every id and the sentinel n_rows
  while (bits < 32 && (int64_t(1) << bits) <= n_rows) ++bits;
  const int n = int(n_idx);
  size_t temp_bytes = 0;
  DRU_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, static_cast<const uint32_t*>(nullptr),
                                                 static_cast<uint32_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                                 static_cast<int32_t*>(nullptr), n, 0, bits, stream()));
  // One workspace: keys in/out, positions in/out, then CUB's scratch; each piece 256-byte aligned.
  const size_t kb = round256(size_t(n) * sizeof(uint32_t)), pb = round256(size_t(n) * sizeof(int32_t));
  char* ws = static_cast<char*>(workspace(2 * kb + 2 * pb + temp_bytes));
  uint32_t* keys_in = reinterpret_cast<uint32_t*>(ws);
  uint32_t* keys = reinterpret_cast<uint32_t*>(ws + kb);
  int32_t* pos_in = reinterpret_cast<int32_t*>(ws + 2 * kb);
  int32_t* pos = reinterpret_cast<int32_t*>(ws + 2 * kb + pb);
  void* temp = ws + 2 * kb + 2 * pb;
  sort_keys_kernel<<<grid_for(n_idx), kThreads, 0, stream()>>>(idx, keys_in, pos_in, n_idx, n_rows);
  DRU_CUDA_LAUNCHED();
  DRU_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys_in, keys, pos_in, pos, n, 0, bits, stream()));
  const int64_t total = n_idx * row;
  const uint32_t sentinel = uint32_t(n_rows);
  if (total < k31 && n_rows * row < k31)
    segment_sum_kernel<uint32_t><<<grid_for(total), kThreads, 0, stream()>>>(g, keys, pos, gx, uint32_t(n_idx),
                                                                             uint32_t(row), sentinel);
  else
    segment_sum_kernel<uint64_t><<<grid_for(total), kThreads, 0, stream()>>>(g, keys, pos, gx, uint64_t(n_idx),
                                                                             uint64_t(row), sentinel);
  DRU_CUDA_LAUNCHED();
}

void dropout_forward(const float* x, float* mask, float* y, int64_t n, const uint64_t* base, uint64_t first,
                     uint64_t seed, float p, float scale) {
  if (n == 0) return;
  dropout_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, mask, y, n, base, first, seed, p, scale);
  DRU_CUDA_LAUNCHED();
}

}  // namespace dru::cuda
