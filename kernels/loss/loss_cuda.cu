// loss_cuda.cu — the fused losses on the GPU (contract in loss_cuda.h; per-element math in loss.h).
#include <cmath>

#include "engine/check.h"
#include "engine/cuda/common.cuh"
#include "kernels/common/fixed_sum.cuh"
#include "kernels/loss/loss.h"
#include "kernels/loss/loss_cuda.h"

namespace dru::cuda {

namespace {

constexpr int kLossThreads = 256;  // a power of two (fixed_block_sum)

enum class LossKind { l1, mse, quantile };

// The quantiles travel by value in the kernel's parameters, already rounded to f32 as the CPU does.
struct Quantiles {
  float q[kMaxLossQuantiles];
  int n;
};

// One element: writes the gradient and returns the element's share of the loss sum (in double, as the
// CPU reference adds it). scale is 1/n (l1, quantile) or 2/n (mse) in f32.
template <LossKind K>
__device__ __forceinline__ double loss_elem(const float* pred, const float* target, float* grad, int64_t i, float scale,
                                            const Quantiles& qs) {
  if constexpr (K == LossKind::l1) {
    float p = pred[i], t = target[i];
    grad[i] = l1_grad_elem(p, t, scale);
    return fabs(double(p) - double(t));
  } else if constexpr (K == LossKind::mse) {
    float d = pred[i] - target[i];
    grad[i] = scale * d;
    return double(d) * double(d);
  } else {
    int64_t row = i / qs.n;
    float q = qs.q[i - row * qs.n];
    float e = target[row] - pred[i];
    grad[i] = pinball_grad_pred(e, q) * scale;
    return double(pinball(e, q));
  }
}

// Pass 1: the gradient of every element and one partial sum per block. With a single block the loss
// itself is written (total / count), so small losses cost one launch.
template <LossKind K>
__global__ void __launch_bounds__(kLossThreads)
    loss_partials_kernel(const float* __restrict__ pred, const float* __restrict__ target, float* __restrict__ grad,
                         int64_t n, float scale, Quantiles qs, double* __restrict__ partial, float* __restrict__ loss,
                         double count) {
  __shared__ double sh[kLossThreads];
  double s = 0;
  DRU_GRID_LOOP(i, n) s += loss_elem<K>(pred, target, grad, i, scale, qs);
  double total = fixed_block_sum(s, sh);
  if (threadIdx.x == 0) {
    if (gridDim.x == 1)
      *loss = float(total / count);
    else
      partial[blockIdx.x] = total;
  }
}

// Pass 2: one block adds the partials in a fixed order.
__global__ void __launch_bounds__(kLossThreads)
    loss_finish_kernel(const double* __restrict__ partial, int parts, double count, float* __restrict__ loss) {
  __shared__ double sh[kLossThreads];
  const double total = fixed_array_sum(partial, parts, sh);
  if (threadIdx.x == 0) *loss = float(total / count);
}

template <LossKind K>
void launch_loss(const float* pred, const float* target, float* grad, float* loss, int64_t n, float scale,
                 double count, const Quantiles& qs) {
  const unsigned blocks = grid_for(n, kLossThreads);
  double* partial = blocks > 1 ? static_cast<double*>(workspace(sizeof(double) * blocks)) : nullptr;
  loss_partials_kernel<K><<<blocks, kLossThreads, 0, stream()>>>(pred, target, grad, n, scale, qs, partial, loss,
                                                                 count);
  DRU_CUDA_LAUNCHED();
  if (blocks > 1) {
    loss_finish_kernel<<<1, kLossThreads, 0, stream()>>>(partial, int(blocks), count, loss);
    DRU_CUDA_LAUNCHED();
  }
}

__global__ void scale_kernel(const float* __restrict__ x, const float* __restrict__ s, float* __restrict__ y,
                             float* __restrict__ neg_y, int64_t n) {
  const float k = *s;
  DRU_GRID_LOOP(i, n) {
    float v = x[i] * k;
    y[i] = v;
    if (neg_y) neg_y[i] = -v;
  }
}

}  // namespace

void l1_loss_fused(const float* pred, const float* target, float* grad, float* loss, int64_t n) {
  DRU_CHECK(n > 0, "l1_loss (cuda): empty input");
  launch_loss<LossKind::l1>(pred, target, grad, loss, n, float(1.0 / double(n)), double(n), Quantiles{});
}

void mse_loss_fused(const float* pred, const float* target, float* grad, float* loss, int64_t n) {
  DRU_CHECK(n > 0, "mse_loss (cuda): empty input");
  launch_loss<LossKind::mse>(pred, target, grad, loss, n, float(2.0 / double(n)), double(n), Quantiles{});
}

void quantile_loss_fused(const float* pred, const float* target, const double* quantiles, int Q, float* grad,
                         float* loss, int64_t N) {
  DRU_CHECK(N > 0 && Q > 0 && Q <= kMaxLossQuantiles,
            "quantile_loss (cuda): {} rows of {} quantiles; expected N > 0 and 1..{} quantiles", N, Q,
            kMaxLossQuantiles);
  Quantiles qs{};
  qs.n = Q;
  for (int k = 0; k < Q; ++k) qs.q[k] = float(quantiles[k]);
  launch_loss<LossKind::quantile>(pred, target, grad, loss, N * Q, float(1.0 / double(N)), double(N), qs);
}

void scale_by_device_scalar(const float* x, const float* s, float* y, float* neg_y, int64_t n) {
  if (n == 0) return;
  scale_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, s, y, neg_y, n);
  DRU_CUDA_LAUNCHED();
}

}  // namespace dru::cuda
