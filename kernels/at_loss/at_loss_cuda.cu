// at_loss_cuda.cu — the fused attention-transfer kernels (contract in at_loss.h and at_loss_cuda.h).
#include "engine/check.h"
#include "engine/cuda/common.cuh"
#include "kernels/at_loss/at_loss.h"
#include "kernels/at_loss/at_loss_cuda.h"
#include "kernels/common/fixed_sum.cuh"

namespace dru::cuda {

namespace {

constexpr int kAtThreads = 512;  // a power of two (fixed_block_sum)

// Threads of a block are laid out as `groups` groups of `lanes` threads: lane l walks the positions
// s = l, l + lanes, ... and group g the channels c = g, g + groups, ... When S is below the block size
// (late layers: 4x4 maps; 2-D activations: S = 1) the idle lanes become extra channel groups, so the
// block still has every thread loading. Consecutive lanes read consecutive addresses (coalesced).
struct Layout {
  int lanes, groups, lane, group;
  __device__ Layout(int64_t S) {
    lanes = S >= int64_t(blockDim.x) ? int(blockDim.x) : int(S);
    groups = int(blockDim.x) / lanes;
    lane = int(threadIdx.x) % lanes;
    group = int(threadIdx.x) / lanes;
  }
};

// The per-sample middle both versions share. From sample i's attention maps pa, pb (S values each) and
// this thread's partial sums of their squares: the norms, the sample's share of the loss (written to
// share[i], or the mean itself when the batch has one sample) and qa . gq; then, when want_grad, dL/dp
// through l2_normalize (clamped: n is the constant eps) times scale written over pa. Every thread of
// the block calls it; thread t owns positions t, t + blockDim.x, ... (sh: blockDim.x floats).
__device__ void at_sample_share(float* pa, const float* pb, int64_t S, float ssa, float ssb, float inv_total,
                                float* sh, int64_t i, double* share, float* loss, bool want_grad, float scale) {
  const float norm_a = sqrtf(fixed_block_sum(ssa, sh)), norm_b = sqrtf(fixed_block_sum(ssb, sh));
  const float eps = float(kAtEps);
  const float na = fmaxf(norm_a, eps), nb = fmaxf(norm_b, eps);
  float part = 0, dot = 0;
  for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
    const float qa = pa[s] / na, d = qa - pb[s] / nb;
    part += d * d;
    dot += qa * (2.0f * d * inv_total);
  }
  part = fixed_block_sum(part, sh);
  dot = fixed_block_sum(dot, sh);
  if (threadIdx.x == 0) {
    if (gridDim.x == 1)
      *loss = float(double(part) * double(inv_total));
    else
      share[i] = double(part);
  }
  if (!want_grad) return;
  const bool clamped = norm_a <= eps;
  for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
    const float qa = pa[s] / na, d = qa - pb[s] / nb, gq = 2.0f * d * inv_total;
    pa[s] = (clamped ? gq / na : (gq - qa * dot) / na) * scale;
  }
}

// One block per sample i. pa, pb: scratch (m, S) for the two attention maps (pa is reused for dL/dp);
// share: (m) per-sample sum of (qa - qb)^2. With one sample the block writes the loss itself.
__global__ void __launch_bounds__(kAtThreads)
    at_loss_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ grad, float* pa_all,
                   float* pb_all, double* __restrict__ share, float* __restrict__ loss, int64_t C, int64_t S,
                   float inv_total) {
  __shared__ float red_a[kAtThreads], red_b[kAtThreads], sh[kAtThreads];
  const int64_t i = blockIdx.x;
  const float* ai = a + i * C * S;
  const float* bi = b + i * C * S;
  float* pa = pa_all + i * S;
  float* pb = pb_all + i * S;
  const int t = int(threadIdx.x);
  const Layout L(S);
  const float fc = float(C);

  // 1. Attention maps p = mean_c x^2 and their squared norms; each group sums its channels, then the
  // first `lanes` threads add the groups in order.
  float ssa = 0, ssb = 0;
  for (int64_t s0 = 0; s0 < S; s0 += L.lanes) {
    const int64_t s = s0 + L.lane;
    float sa = 0, sb = 0;
    if (L.group < L.groups && s < S)
      for (int64_t c = L.group; c < C; c += L.groups) {
        const float x = ai[c * S + s], y = bi[c * S + s];
        sa += x * x;
        sb += y * y;
      }
    red_a[t] = sa;
    red_b[t] = sb;
    __syncthreads();
    if (t < L.lanes && s < S) {
      float ta = 0, tb = 0;
      for (int g = 0; g < L.groups; ++g) {
        ta += red_a[g * L.lanes + t];
        tb += red_b[g * L.lanes + t];
      }
      ta /= fc;
      tb /= fc;
      pa[s] = ta;
      pb[s] = tb;
      ssa += ta * ta;
      ssb += tb * tb;
    }
    __syncthreads();
  }
  // 2. The share of the loss and dL/dp (written over pa): at_sample_share, whose positions per thread
  // are the ones this thread wrote in step 1.
  at_sample_share(pa, pb, S, ssa, ssb, inv_total, sh, i, share, loss, grad != nullptr, 1.0f);
  if (!grad) return;  // uniform over the block: no thread is left waiting at a barrier

  // 3. dL/da = dL/dp * 2 a / C.
  __syncthreads();  // dL/dp of every position is visible to the whole block
  const float two_over_c = 2.0f / fc;
  float* gi = grad + i * C * S;
  if (L.group >= L.groups) return;
  for (int64_t s0 = 0; s0 < S; s0 += L.lanes) {
    const int64_t s = s0 + L.lane;
    if (s >= S) break;
    const float gp = pa[s] * two_over_c;
    for (int64_t c = L.group; c < C; c += L.groups) gi[c * S + s] = gp * ai[c * S + s];
  }
}

// The mean over samples: one block adds the shares in a fixed order.
__global__ void __launch_bounds__(kAtThreads)
    at_loss_finish_kernel(const double* __restrict__ share, int64_t m, double inv_total, float* __restrict__ loss) {
  __shared__ double sh[kAtThreads];
  const double total = fixed_array_sum(share, m, sh);
  if (threadIdx.x == 0) *loss = float(total * inv_total);
}

// ---- version 2: many blocks per sample ------------------------------------------------------------
// Version 1 gives a sample one block, so a batch of 64 forget rows keeps 64 of an H100's 132 SMs busy
// and each block walks its whole (C, S) slab alone (measured: 10-15 % of copy bandwidth). Version 2
// splits the same arithmetic into passes that fill the GPU: (1) a block per (sample, tile of kV2Lanes
// positions) computes both attention maps of its positions and their squared norms' partial sums;
// (2) a block per sample adds its tiles' partials in order, takes its share of the loss and turns the
// maps into dL/dp * 2 / C; (3) a grid over every element writes dL/da = that * a. It moves 16 bytes
// per element (a read twice, b once, dL/da written) against version 1's 12, all of them in parallel.

constexpr int kV2Threads = 256;  // a power of two (fixed_block_sum)
constexpr int kV2Lanes = 32;     // positions per tile: one 128-byte row of each channel

// Pass 1. Grid (m, tiles). lanes = min(S, kV2Lanes) consecutive positions per tile; the block's other
// threads take further channels. tile_ss: (m, tiles, 2) partial sums of pa^2 and pb^2.
__global__ void __launch_bounds__(kV2Threads)
    at_maps_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ pa_all,
                   float* __restrict__ pb_all, float* __restrict__ tile_ss, int64_t C, int64_t S) {
  __shared__ float red_a[kV2Threads], red_b[kV2Threads];
  const int64_t i = blockIdx.x, tile = blockIdx.y, tiles = gridDim.y;
  const int lanes = S < kV2Lanes ? int(S) : kV2Lanes, groups = kV2Threads / lanes;
  const int t = int(threadIdx.x), lane = t % lanes, group = t / lanes;
  const int64_t s = tile * lanes + lane;
  float sa = 0, sb = 0;
  if (group < groups && s < S) {
    const float* ai = a + i * C * S + s;
    const float* bi = b + i * C * S + s;
    for (int64_t c = group; c < C; c += groups) {
      const float x = ai[c * S], y = bi[c * S];
      sa += x * x;
      sb += y * y;
    }
  }
  red_a[t] = sa;
  red_b[t] = sb;
  __syncthreads();
  // The first `lanes` threads add the channel groups in order: the maps at their positions.
  float pa = 0, pb = 0;
  if (t < lanes) {
    for (int g = 0; g < groups; ++g) {
      pa += red_a[g * lanes + t];
      pb += red_b[g * lanes + t];
    }
    pa /= float(C);
    pb /= float(C);
    if (s < S) {
      pa_all[i * S + s] = pa;
      pb_all[i * S + s] = pb;
    } else {
      pa = pb = 0;  // past the last position: adds nothing to the norms
    }
  }
  __syncthreads();  // every read of red_a and red_b above is done
  if (t < lanes) {
    red_a[t] = pa * pa;
    red_b[t] = pb * pb;
  }
  __syncthreads();
  if (t != 0) return;
  // The tile's partial sums of squares, added in lane order (at most kV2Lanes values).
  float ssa = 0, ssb = 0;
  for (int l = 0; l < lanes; ++l) {
    ssa += red_a[l];
    ssb += red_b[l];
  }
  tile_ss[(i * tiles + tile) * 2] = ssa;
  tile_ss[(i * tiles + tile) * 2 + 1] = ssb;
}

// Pass 2. One block per sample: the norms from the tiles' partials (fixed order), the sample's share
// of the loss, qa . gq, and (with a gradient) dL/dp * 2 / C written over pa.
__global__ void __launch_bounds__(kV2Threads)
    at_norms_kernel(float* __restrict__ pa_all, const float* __restrict__ pb_all, const float* __restrict__ tile_ss,
                    int64_t tiles, double* __restrict__ share, float* __restrict__ loss, int64_t C, int64_t S,
                    float inv_total, bool want_grad) {
  __shared__ float sh[kV2Threads];
  const int64_t i = blockIdx.x;
  const int t = int(threadIdx.x);
  float ssa = 0, ssb = 0;
  for (int64_t k = t; k < tiles; k += blockDim.x) {
    ssa += tile_ss[(i * tiles + k) * 2];
    ssb += tile_ss[(i * tiles + k) * 2 + 1];
  }
  at_sample_share(pa_all + i * S, pb_all + i * S, S, ssa, ssb, inv_total, sh, i, share, loss, want_grad,
                  2.0f / float(C));
}

// Pass 3. Every element: dL/da[i, c, s] = g[i, s] * a[i, c, s], g from pass 2.
__global__ void at_grad_kernel(const float* __restrict__ a, const float* __restrict__ g, float* __restrict__ grad,
                               int64_t n, int64_t C, int64_t S) {
  DRU_GRID_LOOP(e, n) {
    const int64_t s = e % S, i = e / (C * S);
    grad[e] = g[i * S + s] * a[e];
  }
}

// Workspace layout shared by both versions: the shares (m doubles) first for alignment, then the two
// attention maps (m S floats each), then (version 2) the tiles' partial sums (m tiles 2 floats).
struct AtScratch {
  double* share;
  float *pa, *pb, *tile_ss;
};
AtScratch at_scratch(int64_t m, int64_t S, int64_t tiles) {
  char* ws = static_cast<char*>(
      workspace(sizeof(double) * size_t(m) + sizeof(float) * size_t(2 * m * S + 2 * m * tiles)));
  AtScratch w;
  w.share = reinterpret_cast<double*>(ws);
  w.pa = reinterpret_cast<float*>(ws + sizeof(double) * size_t(m));
  w.pb = w.pa + m * S;
  w.tile_ss = w.pb + m * S;
  return w;
}

}  // namespace

void at_loss_fused_version(int version, const float* a, const float* b, float* grad_a, float* loss, int64_t m,
                           int64_t C, int64_t S) {
  DRU_CHECK(version == 1 || version == 2, "attention_transfer_loss (cuda): no kernel version {} (1 or 2)", version);
  DRU_CHECK(m > 0 && C > 0 && S > 0, "attention_transfer_loss (cuda): empty activation ({}, {}, {})", m, C, S);
  DRU_CHECK(m <= int64_t(0x7fffffff), "attention_transfer_loss (cuda): {} samples exceed the grid", m);
  const int64_t lanes = S < kV2Lanes ? S : kV2Lanes, tiles = version == 2 ? (S + lanes - 1) / lanes : 0;
  DRU_CHECK(tiles <= 65535, "attention_transfer_loss (cuda): {} positions per sample exceed the grid", S);
  const AtScratch w = at_scratch(m, S, tiles);
  const double inv_total = 1.0 / double(m * S);
  if (version == 1) {
    at_loss_kernel<<<unsigned(m), kAtThreads, 0, stream()>>>(a, b, grad_a, w.pa, w.pb, w.share, loss, C, S,
                                                             float(inv_total));
    DRU_CUDA_LAUNCHED();
  } else {
    at_maps_kernel<<<dim3(unsigned(m), unsigned(tiles)), kV2Threads, 0, stream()>>>(a, b, w.pa, w.pb, w.tile_ss, C,
                                                                                      S);
    DRU_CUDA_LAUNCHED();
    at_norms_kernel<<<unsigned(m), kV2Threads, 0, stream()>>>(w.pa, w.pb, w.tile_ss, tiles, w.share, loss, C, S,
                                                              float(inv_total), grad_a != nullptr);
    DRU_CUDA_LAUNCHED();
    if (grad_a) {
      at_grad_kernel<<<grid_for(m * C * S), kThreads, 0, stream()>>>(a, w.pa, grad_a, m * C * S, C, S);
      DRU_CUDA_LAUNCHED();
    }
  }
  if (m > 1) {
    at_loss_finish_kernel<<<1, kAtThreads, 0, stream()>>>(w.share, m, inv_total, loss);
    DRU_CUDA_LAUNCHED();
  }
}

// Version 1 until version 2 has been measured and tested on a GPU (bench_at_loss runs both).
void at_loss_fused(const float* a, const float* b, float* grad_a, float* loss, int64_t m, int64_t C, int64_t S) {
  at_loss_fused_version(1, a, b, grad_a, loss, m, C, S);
}

}  // namespace dru::cuda
