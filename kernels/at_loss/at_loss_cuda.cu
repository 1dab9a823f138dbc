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
  const float norm_a = sqrtf(fixed_block_sum(ssa, sh)), norm_b = sqrtf(fixed_block_sum(ssb, sh));
  const float eps = float(kAtEps);
  const float na = fmaxf(norm_a, eps), nb = fmaxf(norm_b, eps);

  // 2. This sample's share of the loss and qa . gq. Thread t owns positions t, t + blockDim.x, ...:
  // the same ones it wrote in step 1, and the ones it overwrites with dL/dp below.
  float part = 0, dot = 0;
  for (int64_t s = t; s < S; s += blockDim.x) {
    const float qa = pa[s] / na, d = qa - pb[s] / nb;
    part += d * d;
    dot += qa * (2.0f * d * inv_total);
  }
  part = fixed_block_sum(part, sh);
  dot = fixed_block_sum(dot, sh);
  if (t == 0) {
    if (gridDim.x == 1)
      *loss = float(double(part) * double(inv_total));
    else
      share[i] = double(part);
  }
  if (!grad) return;  // uniform over the block: no thread is left waiting at a barrier

  // 3. dL/dp through l2_normalize (clamped: n is the constant eps), then dL/da = dL/dp * 2 a / C.
  const bool clamped = norm_a <= eps;
  for (int64_t s = t; s < S; s += blockDim.x) {
    const float qa = pa[s] / na, d = qa - pb[s] / nb, gq = 2.0f * d * inv_total;
    pa[s] = clamped ? gq / na : (gq - qa * dot) / na;
  }
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

}  // namespace

void at_loss_fused(const float* a, const float* b, float* grad_a, float* loss, int64_t m, int64_t C, int64_t S) {
  DRU_CHECK(m > 0 && C > 0 && S > 0, "attention_transfer_loss (cuda): empty activation ({}, {}, {})", m, C, S);
  DRU_CHECK(m <= int64_t(0x7fffffff), "attention_transfer_loss (cuda): {} samples exceed the grid", m);
  // Workspace: the shares (m doubles) first for alignment, then the two attention maps (m S floats each).
  char* ws = static_cast<char*>(workspace(sizeof(double) * size_t(m) + 2 * sizeof(float) * size_t(m * S)));
  double* share = reinterpret_cast<double*>(ws);
  float* pa = reinterpret_cast<float*>(ws + sizeof(double) * size_t(m));
  float* pb = pa + m * S;
  const double inv_total = 1.0 / double(m * S);
  at_loss_kernel<<<unsigned(m), kAtThreads, 0, stream()>>>(a, b, grad_a, pa, pb, share, loss, C, S,
                                                           float(inv_total));
  DRU_CUDA_LAUNCHED();
  if (m > 1) {
    at_loss_finish_kernel<<<1, kAtThreads, 0, stream()>>>(share, m, inv_total, loss);
    DRU_CUDA_LAUNCHED();
  }
}

}  // namespace dru::cuda
