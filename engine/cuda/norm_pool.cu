// norm_pool.cu — batch normalisation and 2-D pooling kernels (see norm_pool.h).
//
// Batch norm: statistics and gradient sums are per-channel reductions (channel_sums.cuh: fixed-order
// partials in double, then one thread per channel adds its partials and applies the CPU's per-channel
// formulas); the normalisation and dx are element-wise kernels that read per-channel constants.
// The statistics take one pass over x, summing v = x - shift and v^2 in double with shift = the
// channel's first value, so the variance E[v^2] - E[v]^2 does not cancel for inputs far from zero.
// Pools: one thread per output for the forwards, one per input element for the backwards (a gather
// over the windows that cover it: no two threads write the same element, so no atomics).
#include <cmath>

#include "engine/cuda/channel_sums.cuh"
#include "engine/cuda/common.cuh"
#include "engine/cuda/norm_pool.h"

namespace dru::cuda {

namespace {

// ---- batch norm ---------------------------------------------------------------------------------

// Sums of v and v^2 with v = x - (the channel's first value): the statistics' pass 1.
struct ShiftedMoments {
  const float* x;
  int64_t S;
  __device__ double channel(int64_t c) const { return double(x[c * S]); }  // element (n = 0, c, s = 0)
  __device__ void add(double* acc, double p, int64_t i) const {
    const double v = double(x[i]) - p;
    acc[0] += v;
    acc[1] += v * v;
  }
};

__global__ void bn_finish_stats_kernel(const double* __restrict__ part, int chunks, const float* __restrict__ x,
                                       int64_t C, int64_t S, double M, float* __restrict__ mean,
                                       float* __restrict__ invstd, float* __restrict__ running_mean,
                                       float* __restrict__ running_var, double momentum, double eps) {
  DRU_GRID_LOOP(c, C) {
    double acc[2];
    sum_partials<2>(part, c, chunks, acc);
    const double dm = acc[0] / M;  // mean of v
    double var = acc[1] / M - dm * dm;
    if (var < 0) var = 0;
    // Rounded to f32 before invstd and the running update, as the CPU path stores mean and var.
    const float mean_f = float(double(x[c * S]) + dm), var_f = float(var);
    mean[c] = mean_f;
    invstd[c] = float(1.0 / sqrt(double(var_f) + eps));
    if (running_mean) {
      const double unbias = M / (M - 1.0);
      running_mean[c] = float((1.0 - momentum) * double(running_mean[c]) + momentum * double(mean_f));
      running_var[c] = float((1.0 - momentum) * double(running_var[c]) + momentum * double(var_f) * unbias);
    }
  }
}

__global__ void bn_invstd_kernel(const float* __restrict__ var, float* __restrict__ invstd, int64_t C, double eps) {
  DRU_GRID_LOOP(c, C) invstd[c] = float(1.0 / sqrt(double(var[c]) + eps));
}

template <class I>
__global__ void bn_apply_kernel(const float* __restrict__ x, const float* __restrict__ mean,
                                const float* __restrict__ invstd, const float* __restrict__ gamma,
                                const float* __restrict__ beta, float* __restrict__ y, I n, I S, I C) {
  DRU_GRID_LOOP_T(I, i, n) {
    const I c = (i / S) % C;
    const float scale = invstd[c] * (gamma ? gamma[c] : 1.0f);
    const float shift = (beta ? beta[c] : 0.0f) - mean[c] * scale;
    y[i] = x[i] * scale + shift;
  }
}

// Sums of dy and dy * (x - mean): the backward's pass 1.
struct GradMoments {
  const float* x;
  const float* dy;
  const float* mean;
  __device__ double channel(int64_t c) const { return double(mean[c]); }
  __device__ void add(double* acc, double mu, int64_t i) const {
    const double g = double(dy[i]);
    acc[0] += g;
    acc[1] += g * (double(x[i]) - mu);
  }
};

// Per-channel constants of dx = scale * (dy - mg - xhat * mgx), xhat = (x - mu) * is.
struct BnCoef {
  double mu, is, scale, mg, mgx;
};

__global__ void bn_finish_grad_kernel(const double* __restrict__ part, int chunks, const float* __restrict__ mean,
                                      const float* __restrict__ invstd, const float* __restrict__ gamma, int64_t C,
                                      double M, bool batch_stats, float* __restrict__ dgamma,
                                      float* __restrict__ dbeta, BnCoef* __restrict__ coef) {
  DRU_GRID_LOOP(c, C) {
    double acc[2];
    sum_partials<2>(part, c, chunks, acc);
    const double is = double(invstd[c]);
    const double sg = acc[0], sgx = acc[1] * is;  // sum dy, sum dy * xhat
    if (dgamma) dgamma[c] = float(sgx);
    if (dbeta) dbeta[c] = float(sg);
    // With running statistics the mean and invstd are constants: only the dy term remains.
    coef[c] = BnCoef{double(mean[c]), is, (gamma ? double(gamma[c]) : 1.0) * is, batch_stats ? sg / M : 0.0,
                     batch_stats ? sgx / M : 0.0};
  }
}

template <class I>
__global__ void bn_dx_kernel(const float* __restrict__ x, const float* __restrict__ dy, const BnCoef* __restrict__ coef,
                             float* __restrict__ dx, I n, I S, I C) {
  DRU_GRID_LOOP_T(I, i, n) {
    const BnCoef k = coef[(i / S) % C];
    const double xhat = (double(x[i]) - k.mu) * k.is;
    dx[i] = float(k.scale * (double(dy[i]) - k.mg - xhat * k.mgx));
  }
}

// Bytes of pass-1 partials for K sums per channel of (N, C, S).
size_t partials_bytes(const bn::BatchNormDims& d, int K) {
  return size_t(d.C) * size_t(channel_chunks(d.N * d.S)) * size_t(K) * sizeof(double);
}

// ---- pools --------------------------------------------------------------------------------------

__device__ inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// One window along one axis, as pool_cpu.cpp: [lo, hi) clipped to the image; count is the divisor's
// factor (the extent before clipping to the image, padding included but never past it).
struct Span {
  int64_t lo, hi, count;
};
// Outputs [first, last] along one axis whose windows may cover input position h: exact for fixed
// windows, a superset for adaptive bins (the mean-pool backward tests each one).
struct Range {
  int64_t first, last;
};

struct FixedWindows {
  int64_t kernel, stride, pad;
  __device__ Span operator()(int64_t i, int64_t in, int64_t) const {
    const int64_t lo = i * stride - pad;
    const int64_t hi = imin(lo + kernel, in + pad);
    return {imax(lo, 0), imin(hi, in), hi - lo};
  }
  // Window i covers h when i*stride - pad <= h < i*stride - pad + kernel.
  __device__ Range covering(int64_t h, int64_t, int64_t out) const {
    const int64_t a = h + pad - kernel + 1;
    return {a <= 0 ? 0 : (a + stride - 1) / stride, imin((h + pad) / stride, out - 1)};
  }
};

struct AdaptiveBins {
  // [floor(i*in/out), ceil((i+1)*in/out))
  __device__ Span operator()(int64_t i, int64_t in, int64_t out) const {
    const int64_t lo = (i * in) / out, hi = ((i + 1) * in + out - 1) / out;
    return {lo, hi, hi - lo};
  }
  // Bins covering h lie in [floor(h*out/in), floor((h+1)*out/in)]; one more each side for safety.
  __device__ Range covering(int64_t h, int64_t in, int64_t out) const {
    return {imax((h * out) / in - 1, 0), imin(((h + 1) * out) / in + 1, out - 1)};
  }
};

__global__ void max_pool_forward_kernel(const float* __restrict__ x, float* __restrict__ y,
                                        int64_t* __restrict__ argmax, pool::Pool2dDims d) {
  const FixedWindows win{d.kernel, d.stride, d.pad};
  DRU_GRID_LOOP(o, d.planes * d.Ho * d.Wo) {
    const int64_t j = o % d.Wo, i = (o / d.Wo) % d.Ho, p = o / (d.Wo * d.Ho);
    const Span r = win(i, d.H, d.Ho), c = win(j, d.W, d.Wo);
    const float* xp = x + p * d.H * d.W;
    float best = -INFINITY;
    int64_t at = r.lo * d.W + c.lo;  // PyTorch's start index when every value is -inf
    for (int64_t h = r.lo; h < r.hi; ++h)
      for (int64_t w = c.lo; w < c.hi; ++w) {
        const float v = xp[h * d.W + w];
        if (v > best || isnan(v)) {  // first maximum wins ties; a NaN wins (PyTorch)
          best = v;
          at = h * d.W + w;
        }
      }
    y[o] = best;
    argmax[o] = at;
  }
}

// dx[e] = sum of dy over the outputs that chose e, in increasing output order (the CPU's order).
__global__ void max_pool_backward_kernel(const float* __restrict__ dy, const int64_t* __restrict__ argmax,
                                         float* __restrict__ dx, pool::Pool2dDims d) {
  const FixedWindows win{d.kernel, d.stride, d.pad};
  DRU_GRID_LOOP(e, d.planes * d.H * d.W) {
    const int64_t w = e % d.W, h = (e / d.W) % d.H, p = e / (d.W * d.H);
    const Range ri = win.covering(h, d.H, d.Ho), rj = win.covering(w, d.W, d.Wo);
    const int64_t at = h * d.W + w, base = p * d.Ho * d.Wo;
    float acc = 0.0f;
    for (int64_t i = ri.first; i <= ri.last; ++i)
      for (int64_t j = rj.first; j <= rj.last; ++j) {
        const int64_t o = base + i * d.Wo + j;
        if (argmax[o] == at) acc += dy[o];
      }
    dx[e] = acc;
  }
}

template <class Spans>
__global__ void mean_pool_forward_kernel(const float* __restrict__ x, float* __restrict__ y, pool::Pool2dDims d,
                                         Spans span) {
  DRU_GRID_LOOP(o, d.planes * d.Ho * d.Wo) {
    const int64_t j = o % d.Wo, i = (o / d.Wo) % d.Ho, p = o / (d.Wo * d.Ho);
    const Span r = span(i, d.H, d.Ho), c = span(j, d.W, d.Wo);
    const float* xp = x + p * d.H * d.W;
    float s = 0.0f;
    for (int64_t h = r.lo; h < r.hi; ++h)
      for (int64_t w = c.lo; w < c.hi; ++w) s += xp[h * d.W + w];
    y[o] = s / float(r.count * c.count);
  }
}

// dx[e] = sum over the windows covering e of dy / divisor, in increasing output order (the CPU's).
template <class Spans>
__global__ void mean_pool_backward_kernel(const float* __restrict__ dy, float* __restrict__ dx, pool::Pool2dDims d,
                                          Spans span) {
  DRU_GRID_LOOP(e, d.planes * d.H * d.W) {
    const int64_t w = e % d.W, h = (e / d.W) % d.H, p = e / (d.W * d.H);
    const Range ri = span.covering(h, d.H, d.Ho), rj = span.covering(w, d.W, d.Wo);
    const int64_t base = p * d.Ho * d.Wo;
    float acc = 0.0f;
    for (int64_t i = ri.first; i <= ri.last; ++i) {
      const Span r = span(i, d.H, d.Ho);
      if (h < r.lo || h >= r.hi) continue;
      for (int64_t j = rj.first; j <= rj.last; ++j) {
        const Span c = span(j, d.W, d.Wo);
        if (w < c.lo || w >= c.hi) continue;
        acc += dy[base + i * d.Wo + j] / float(r.count * c.count);
      }
    }
    dx[e] = acc;
  }
}

}  // namespace

void batch_norm_stats(const float* x, float* mean, float* invstd, float* running_mean, float* running_var,
                      const bn::BatchNormDims& d, double momentum, double eps) {
  if (d.C == 0) return;
  double* part = static_cast<double*>(workspace(partials_bytes(d, 2)));
  channel_partials<2>(ShiftedMoments{x, d.S}, d.N, d.C, d.S, part);
  bn_finish_stats_kernel<<<grid_for(d.C), kThreads, 0, stream()>>>(part, channel_chunks(d.N * d.S), x, d.C, d.S,
                                                                    double(d.N * d.S), mean, invstd, running_mean,
                                                                    running_var, momentum, eps);
  DRU_CUDA_LAUNCHED();
}

void batch_norm_invstd(const float* var, float* invstd, int64_t C, double eps) {
  if (C == 0) return;
  bn_invstd_kernel<<<grid_for(C), kThreads, 0, stream()>>>(var, invstd, C, eps);
  DRU_CUDA_LAUNCHED();
}

void batch_norm_apply(const float* x, const float* mean, const float* invstd, const float* gamma, const float* beta,
                      float* y, const bn::BatchNormDims& d) {
  const int64_t n = d.N * d.C * d.S;
  if (n == 0) return;
  with_index_type(n, [&](auto tag) {
    using I = decltype(tag);
    bn_apply_kernel<I><<<grid_for(n), kThreads, 0, stream()>>>(x, mean, invstd, gamma, beta, y, I(n), I(d.S), I(d.C));
  });
  DRU_CUDA_LAUNCHED();
}

void batch_norm_backward(const float* x, const float* dy, const float* mean, const float* invstd, const float* gamma,
                         float* dx, float* dgamma, float* dbeta, const bn::BatchNormDims& d, bool batch_stats) {
  if (d.C == 0) return;
  // One workspace holds the partials, then the per-channel coefficients (8-byte aligned after them).
  const size_t part_bytes = partials_bytes(d, 2);
  char* ws = static_cast<char*>(workspace(part_bytes + size_t(d.C) * sizeof(BnCoef)));
  double* part = reinterpret_cast<double*>(ws);
  BnCoef* coef = reinterpret_cast<BnCoef*>(ws + part_bytes);
  channel_partials<2>(GradMoments{x, dy, mean}, d.N, d.C, d.S, part);
  bn_finish_grad_kernel<<<grid_for(d.C), kThreads, 0, stream()>>>(part, channel_chunks(d.N * d.S), mean, invstd,
                                                                   gamma, d.C, double(d.N * d.S), batch_stats,
                                                                   dgamma, dbeta, coef);
  DRU_CUDA_LAUNCHED();
  const int64_t n = d.N * d.C * d.S;
  if (!dx || n == 0) return;
  with_index_type(n, [&](auto tag) {
    using I = decltype(tag);
    bn_dx_kernel<I><<<grid_for(n), kThreads, 0, stream()>>>(x, dy, coef, dx, I(n), I(d.S), I(d.C));
  });
  DRU_CUDA_LAUNCHED();
}

void max_pool2d_forward(const float* x, float* y, int64_t* argmax, const pool::Pool2dDims& d) {
  const int64_t n = d.planes * d.Ho * d.Wo;
  if (n == 0) return;
  max_pool_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, y, argmax, d);
  DRU_CUDA_LAUNCHED();
}

void max_pool2d_backward(const float* dy, const int64_t* argmax, float* dx, const pool::Pool2dDims& d) {
  const int64_t n = d.planes * d.H * d.W;
  if (n == 0) return;
  max_pool_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dy, argmax, dx, d);
  DRU_CUDA_LAUNCHED();
}

void avg_pool2d_forward(const float* x, float* y, const pool::Pool2dDims& d) {
  const int64_t n = d.planes * d.Ho * d.Wo;
  if (n == 0) return;
  mean_pool_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, y, d, FixedWindows{d.kernel, d.stride, d.pad});
  DRU_CUDA_LAUNCHED();
}

void avg_pool2d_backward(const float* dy, float* dx, const pool::Pool2dDims& d) {
  const int64_t n = d.planes * d.H * d.W;
  if (n == 0) return;
  mean_pool_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dy, dx, d, FixedWindows{d.kernel, d.stride, d.pad});
  DRU_CUDA_LAUNCHED();
}

void adaptive_avg_pool2d_forward(const float* x, float* y, const pool::Pool2dDims& d) {
  const int64_t n = d.planes * d.Ho * d.Wo;
  if (n == 0) return;
  mean_pool_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, y, d, AdaptiveBins{});
  DRU_CUDA_LAUNCHED();
}

void adaptive_avg_pool2d_backward(const float* dy, float* dx, const pool::Pool2dDims& d) {
  const int64_t n = d.planes * d.H * d.W;
  if (n == 0) return;
  mean_pool_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dy, dx, d, AdaptiveBins{});
  DRU_CUDA_LAUNCHED();
}

}  // namespace dru::cuda
