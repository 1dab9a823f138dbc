// reduce.cu — deterministic sums over dimensions, and L2 normalisation built on them.
//
// The input's dimensions are merged into runs of kept and reduced dimensions (extent-1 dimensions
// dropped), so an output index and a reduction index each map to an input offset through at most
// three extents. One of three kernels then sums each output, always in a fixed order:
//   column  the innermost run is kept (or the reduction is short): one thread per output walks its
//           reduction serially; neighbouring threads read neighbouring addresses. Few outputs with a
//           long reduction split it into G chunks, one thread each.
//   warp    the innermost run is reduced and short enough, or outputs are many: one warp per output,
//           lanes stride over the contiguous run, then a shuffle tree.
//   block   the innermost run is reduced and long (a whole-tensor sum): 256 threads per (output, chunk),
//           then a shuffle-and-shared-memory tree.
// Chunked kernels write per-chunk partial sums to workspace(); a second pass (the warp kernel over the
// (outputs, G) partials) adds them in chunk order. No atomics anywhere: results are bit-identical run
// to run.
#include <algorithm>
#include <cstdint>

#include "engine/cuda/common.cuh"
#include "engine/cuda/reduce.h"

namespace dru::cuda {

namespace {

constexpr int kRank = ReduceShape::kDims;

// Kept and reduced runs: extents (row-major) and input element strides; out_n and R are their products.
struct RPlan {
  int nk = 0, nr = 0;
  int64_t kext[kRank] = {}, kstr[kRank] = {};
  int64_t rext[kRank] = {}, rstr[kRank] = {};
  int64_t out_n = 1, R = 1;
  bool inner_reduced = false;  // host only: whether the innermost run is a reduced one
};

RPlan plan_of(const ReduceShape& s) {
  int n = 0;
  int64_t ext[kRank] = {};
  bool red[kRank] = {};
  for (int d = 0; d < s.ndim; ++d) {
    if (s.extent[d] == 1) continue;
    if (n > 0 && red[n - 1] == s.reduced[d]) {
      ext[n - 1] *= s.extent[d];
    } else {
      ext[n] = s.extent[d];
      red[n] = s.reduced[d];
      ++n;
    }
  }
  int64_t str[kRank] = {};
  int64_t st = 1;
  for (int d = n - 1; d >= 0; --d) {
    str[d] = st;
    st *= ext[d];
  }
  RPlan p;
  for (int d = 0; d < n; ++d) {
    if (red[d]) {
      p.rext[p.nr] = ext[d];
      p.rstr[p.nr++] = str[d];
      p.R *= ext[d];
    } else {
      p.kext[p.nk] = ext[d];
      p.kstr[p.nk++] = str[d];
      p.out_n *= ext[d];
    }
  }
  p.inner_reduced = n > 0 && red[n - 1];
  return p;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Input offset of flat index idx over n row-major extents with strides str (n == 0: offset 0, since
// the unused str[0] is 0).
template <class I>
__device__ __forceinline__ I offset_of(I idx, int n, const int64_t (&ext)[kRank], const int64_t (&str)[kRank]) {
  if (n <= 1) return idx * I(str[0]);
  I off = 0;
#pragma unroll
  for (int d = kRank - 1; d >= 1; --d) {
    if (d < n) {
      I e = I(ext[d]);
      off += (idx % e) * I(str[d]);
      idx /= e;
    }
  }
  return off + idx * I(str[0]);
}

// What is summed: x, x^2, or a * b (the dot product of l2_normalize's backward).
struct LoadX {
  const float* x;
  template <class I> __device__ __forceinline__ float operator()(I i) const { return x[i]; }
};
struct LoadSq {
  const float* x;
  template <class I> __device__ __forceinline__ float operator()(I i) const {
    float v = x[i];
    return v * v;
  }
};
struct LoadDot {
  const float* a;
  const float* b;
  template <class I> __device__ __forceinline__ float operator()(I i) const { return a[i] * b[i]; }
};

// Sum over a block of kThreads threads; the result is valid in thread 0.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float part[kThreads / kWarp];
  v = warp_sum(v);
  const int lane = int(threadIdx.x) % kWarp, w = int(threadIdx.x) / kWarp;
  if (lane == 0) part[w] = v;
  __syncthreads();
  float t = 0.0f;
  if (w == 0) t = warp_sum(lane < kThreads / kWarp ? part[lane] : 0.0f);
  __syncthreads();  // part is reused by the block's next output
  return t;
}

// Sum of load(base + offset of r) over r = first, first + kStride, ... below end, in that order, with
// four loads in flight (their adds stay in index order). kStride is 1 for the column kernel (a thread
// walks its chunk), kWarp for the warp kernel (lanes interleave) and kThreads for the block kernel.
template <int kStride, class L, class I>
__device__ __forceinline__ float strided_sum(const L& load, const RPlan& p, I base, I r, I end) {
  float acc = 0.0f;
  for (; r + 3 * kStride < end; r += 4 * kStride) {
    float v0 = load(base + offset_of(r, p.nr, p.rext, p.rstr));
    float v1 = load(base + offset_of(I(r + kStride), p.nr, p.rext, p.rstr));
    float v2 = load(base + offset_of(I(r + 2 * kStride), p.nr, p.rext, p.rstr));
    float v3 = load(base + offset_of(I(r + 3 * kStride), p.nr, p.rext, p.rstr));
    acc += v0;
    acc += v1;
    acc += v2;
    acc += v3;
  }
  for (; r < end; r += kStride) acc += load(base + offset_of(r, p.nr, p.rext, p.rstr));
  return acc;
}

template <class L, class I>
__global__ void column_reduce_kernel(L load, RPlan p, I G, I chunk, float* __restrict__ dst, float divisor) {
  const I R = I(p.R), out_n = I(p.out_n), total = out_n * G;
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I t = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); t < total; t += step) {
    const I o = t % out_n, g = t / out_n;  // o fastest: neighbouring threads, neighbouring outputs
    const I base = offset_of(o, p.nk, p.kext, p.kstr);
    const I begin = g * chunk;
    const I end = begin + chunk < R ? begin + chunk : R;
    dst[o * G + g] = strided_sum<1>(load, p, base, begin, end) / divisor;
  }
}

template <class L, class I>
__global__ void warp_reduce_kernel(L load, RPlan p, float* __restrict__ dst, float divisor) {
  const I R = I(p.R), out_n = I(p.out_n);
  const I lane = I(threadIdx.x) % kWarp;
  const I warps_per_block = I(blockDim.x) / kWarp;
  const I warps = I(gridDim.x) * warps_per_block;
  // The loop bound is the same for every lane of a warp, so the shuffles see all 32 lanes.
  for (I o = I(blockIdx.x) * warps_per_block + I(threadIdx.x) / kWarp; o < out_n; o += warps) {
    const I base = offset_of(o, p.nk, p.kext, p.kstr);
    const float acc = warp_sum(strided_sum<kWarp>(load, p, base, lane, R));
    if (lane == 0) dst[o] = acc / divisor;
  }
}

template <class L, class I>
__global__ void __launch_bounds__(kThreads) block_reduce_kernel(L load, RPlan p, I G, I chunk, float* __restrict__ dst,
                                                                float divisor) {
  const I R = I(p.R), total = I(p.out_n) * G;
  for (I bid = blockIdx.x; bid < total; bid += gridDim.x) {  // uniform per block: block_sum is safe
    const I o = bid / G, g = bid % G;
    const I base = offset_of(o, p.nk, p.kext, p.kstr);
    const I begin = g * chunk;
    const I end = begin + chunk < R ? begin + chunk : R;
    const float acc = block_sum(strided_sum<kThreads>(load, p, base, I(begin + I(threadIdx.x)), end));
    if (threadIdx.x == 0) dst[bid] = acc / divisor;
  }
}

// Second pass: out[o] = sum over g of partial[o * G + g], in g order.
template <class I> void finish_partials(const float* partial, int64_t out_n, int64_t G, float* out, float divisor) {
  RPlan q;
  q.nk = 1;
  q.kext[0] = out_n;
  q.kstr[0] = G;
  q.nr = 1;
  q.rext[0] = G;
  q.rstr[0] = 1;
  q.out_n = out_n;
  q.R = G;
  warp_reduce_kernel<LoadX, I><<<grid_for(out_n * kWarp), kThreads, 0, stream()>>>(LoadX{partial}, q, out, divisor);
  DRU_CUDA_LAUNCHED();
}

template <class L, class I> void run_reduce_typed(L load, const RPlan& p, float* out, float divisor) {
  const int64_t sms = std::max(sm_count(), 1), out_n = p.out_n, R = p.R;
  if (!p.inner_reduced || R <= kWarp) {
    int64_t G = 1;
    const int64_t target = sms * 2048;  // threads that fill the device
    if (R > kWarp && out_n < target) G = std::min({ceil_div(target, out_n), ceil_div(R, kWarp), int64_t(1024)});
    const int64_t chunk = ceil_div(R, G);
    G = ceil_div(R, chunk);
    float* dst = G == 1 ? out : static_cast<float*>(workspace(size_t(out_n * G) * sizeof(float)));
    column_reduce_kernel<L, I><<<grid_for(out_n * G), kThreads, 0, stream()>>>(load, p, I(G), I(chunk), dst,
                                                                                G == 1 ? divisor : 1.0f);
    DRU_CUDA_LAUNCHED();
    if (G > 1) finish_partials<I>(dst, out_n, G, out, divisor);
  } else if (R <= 1024 || out_n >= sms * 64) {
    warp_reduce_kernel<L, I><<<grid_for(out_n * kWarp), kThreads, 0, stream()>>>(load, p, out, divisor);
    DRU_CUDA_LAUNCHED();
  } else {
    int64_t G = std::max<int64_t>(1, std::min({ceil_div(sms * 8, out_n), ceil_div(R, 4096), int64_t(1024)}));
    const int64_t chunk = ceil_div(R, G);
    G = ceil_div(R, chunk);
    float* dst = G == 1 ? out : static_cast<float*>(workspace(size_t(out_n * G) * sizeof(float)));
    const int64_t blocks = std::min<int64_t>(out_n * G, sms * 64);
    block_reduce_kernel<L, I><<<unsigned(blocks), kThreads, 0, stream()>>>(load, p, I(G), I(chunk), dst,
                                                                            G == 1 ? divisor : 1.0f);
    DRU_CUDA_LAUNCHED();
    if (G > 1) finish_partials<I>(dst, out_n, G, out, divisor);
  }
}

template <class L> void run_reduce(L load, const RPlan& p, float* out, float divisor) {
  if (p.out_n == 0) return;
  if (p.R == 0) {  // an empty sum is 0
    DRU_CUDA_CHECK(cudaMemsetAsync(out, 0, size_t(p.out_n) * sizeof(float), stream()));
    return;
  }
  // 32-bit index arithmetic where every input offset fits (and R + chunk cannot wrap).
  if (p.out_n * p.R < (int64_t(1) << 31))
    run_reduce_typed<L, uint32_t>(load, p, out, divisor);
  else
    run_reduce_typed<L, uint64_t>(load, p, out, divisor);
}

RPlan middle_plan(int64_t outer, int64_t n, int64_t inner) {
  ReduceShape s;
  s.ndim = 3;
  s.extent[0] = outer;
  s.extent[1] = n;
  s.extent[2] = inner;
  s.reduced[1] = true;
  return plan_of(s);
}

// d = max(sqrt(ss), eps) in place, with std::max's NaN behaviour (a NaN norm stays NaN), as on the CPU.
__global__ void l2_denom_kernel(float* d, int64_t m, float eps) {
  DRU_GRID_LOOP(i, m) {
    float s = std::sqrt(d[i]);
    d[i] = s < eps ? eps : s;
  }
}

// Element i of (outer, n, inner) belongs to norm j = (i / (n * inner)) * inner + i % inner.
template <class I> __device__ __forceinline__ I norm_index(I i, I n_inner, I inner) {
  return (i / n_inner) * inner + i % inner;
}

template <class I>
__global__ void l2_divide_kernel(const float* __restrict__ x, const float* __restrict__ denom, float* __restrict__ y,
                                 I total, I n_inner, I inner) {
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < total; i += step)
    y[i] = x[i] / denom[norm_index(i, n_inner, inner)];
}

template <class I>
__global__ void l2_backward_kernel(const float* __restrict__ g, const float* __restrict__ y,
                                   const float* __restrict__ denom, const float* __restrict__ dot,
                                   float* __restrict__ gx, I total, I n_inner, I inner, float eps) {
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < total; i += step) {
    const I j = norm_index(i, n_inner, inner);
    const float d = denom[j];
    gx[i] = d <= eps ? g[i] / d : (g[i] - y[i] * dot[j]) / d;
  }
}

}  // namespace

void reduce_sum(const float* x, float* out, const ReduceShape& shape, float divisor) {
  run_reduce(LoadX{x}, plan_of(shape), out, divisor);
}

void l2_normalize_forward(const float* x, float* y, float* denom, int64_t outer, int64_t n, int64_t inner, float eps) {
  const int64_t m = outer * inner, total = m * n;
  if (m == 0) return;
  run_reduce(LoadSq{x}, middle_plan(outer, n, inner), denom, 1.0f);
  l2_denom_kernel<<<grid_for(m), kThreads, 0, stream()>>>(denom, m, eps);
  DRU_CUDA_LAUNCHED();
  if (total == 0) return;
  if (total < (int64_t(1) << 31))
    l2_divide_kernel<uint32_t><<<grid_for(total), kThreads, 0, stream()>>>(x, denom, y, uint32_t(total),
                                                                           uint32_t(n * inner), uint32_t(inner));
  else
    l2_divide_kernel<uint64_t><<<grid_for(total), kThreads, 0, stream()>>>(x, denom, y, uint64_t(total),
                                                                           uint64_t(n * inner), uint64_t(inner));
  DRU_CUDA_LAUNCHED();
}

void l2_normalize_backward(const float* g, const float* y, const float* denom, float* dot, float* gx, int64_t outer,
                           int64_t n, int64_t inner, float eps) {
  const int64_t m = outer * inner, total = m * n;
  if (total == 0) return;
  run_reduce(LoadDot{y, g}, middle_plan(outer, n, inner), dot, 1.0f);
  if (total < (int64_t(1) << 31))
    l2_backward_kernel<uint32_t><<<grid_for(total), kThreads, 0, stream()>>>(
        g, y, denom, dot, gx, uint32_t(total), uint32_t(n * inner), uint32_t(inner), eps);
  else
    l2_backward_kernel<uint64_t><<<grid_for(total), kThreads, 0, stream()>>>(
        g, y, denom, dot, gx, uint64_t(total), uint64_t(n * inner), uint64_t(inner), eps);
  DRU_CUDA_LAUNCHED();
}

}  // namespace dru::cuda
