// seq.cu — the sequence family on CUDA: softmax, layer_norm, the LSTM layer and attention (seq.h).
//
// Row kernels (softmax along a contiguous dimension, layer_norm) give one warp to a row: the lanes
// stride over the row and combine with shuffles, so a row of any length needs no shared memory and
// the reduction order is fixed. Softmax along a strided dimension gives one thread to a row instead
// (the threads of a warp then read neighbouring columns, so loads still coalesce).
//
// The LSTM follows the CPU reference's split (lstm_cpu.cpp): the input projection of all steps is one
// GEMM, and dx, dW_ih and dW_hh are one GEMM each after the backward loop. dW_hh sums da_t^T h_{t-1}
// over every t and sequence as a single GEMM over all N T rows: the backward writes h shifted by one
// step (zeros at t = 0) beside da, so each row of da meets its own h_{t-1}. The recurrence itself, for
// the hidden sizes the models use (D <= 128), is one kernel launch per direction in which each block
// carries one sequence through all steps (see "the whole recurrence in one launch" below). Larger
// D takes a GEMM per step (h_{t-1} W_hh^T accumulated into that step's gate rows, a strided matrix of
// N rows with row stride T 4D) and a fused cell kernel per step; its backward mirrors that.
// Attention is batched GEMMs around a masked row softmax; the probabilities are materialised, as on
// the CPU. Weight and bias gradients are fixed-order reductions: bit-identical from run to run.
#include <algorithm>
#include <cmath>

#include "engine/check.h"
#include "engine/cuda/column_sums.cuh"
#include "engine/cuda/common.cuh"
#include "engine/cuda/matmul.h"
#include "engine/cuda/seq.h"
#include "kernels/lstm/lstm.h"

namespace dru::cuda {

namespace {

__device__ __forceinline__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Blocks for one warp per row over `rows` rows (grid-stride beyond the cap).
unsigned warp_grid(int64_t rows) { return grid_for(rows * kWarp); }

// The warp-per-row loop: every lane of a warp sees the same rows, so warp-wide shuffles are safe.
#define DRU_WARP_ROW_LOOP(row, rows)                                                         \
  for (int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp; row < (rows); \
       row += int64_t(gridDim.x) * blockDim.x / kWarp)

// ---- softmax ------------------------------------------------------------------------------------

// Softmax of contiguous rows (rows, n). mask, when given, is (rows / rows_per_mask, n) bytes: a zero
// byte masks that column (-inf before the softmax). y may alias x: each lane writes only what it read.
__global__ void softmax_rows_kernel(const float* x, float* y, int64_t rows, int64_t n, const uint8_t* __restrict__ mask,
                                    int64_t rows_per_mask) {
  const int lane = threadIdx.x % kWarp;
  DRU_WARP_ROW_LOOP(row, rows) {
    const float* xr = x + row * n;
    float* yr = y + row * n;
    const uint8_t* mr = mask ? mask + (row / rows_per_mask) * n : nullptr;
    float m = -INFINITY;
    for (int64_t k = lane; k < n; k += kWarp) m = fmaxf(m, (mr && !mr[k]) ? -INFINITY : xr[k]);
    m = warp_max(m);
    if (m == -INFINITY) {  // every entry masked or -inf: zeros, not NaN (softmax.h)
      for (int64_t k = lane; k < n; k += kWarp) yr[k] = 0.f;
      continue;
    }
    float s = 0.f;
    for (int64_t k = lane; k < n; k += kWarp) {
      float e = (mr && !mr[k]) ? 0.f : expf(xr[k] - m);
      yr[k] = e;
      s += e;
    }
    const float inv = 1.f / warp_sum(s);
    for (int64_t k = lane; k < n; k += kWarp) yr[k] *= inv;
  }
}

// Softmax along a strided dimension: one thread per (outer, inner) pair walks its n entries.
__global__ void softmax_strided_kernel(const float* x, float* y, int64_t outer, int64_t n, int64_t inner) {
  DRU_GRID_LOOP(idx, outer * inner) {
    const int64_t base = (idx / inner) * n * inner + idx % inner;
    float m = -INFINITY;
    for (int64_t k = 0; k < n; ++k) m = fmaxf(m, x[base + k * inner]);
    if (m == -INFINITY) {
      for (int64_t k = 0; k < n; ++k) y[base + k * inner] = 0.f;
      continue;
    }
    float s = 0.f;
    for (int64_t k = 0; k < n; ++k) {
      float e = expf(x[base + k * inner] - m);
      y[base + k * inner] = e;
      s += e;
    }
    const float inv = 1.f / s;
    for (int64_t k = 0; k < n; ++k) y[base + k * inner] *= inv;
  }
}

__global__ void softmax_backward_rows_kernel(const float* y, const float* dy, float* dx, int64_t rows, int64_t n) {
  const int lane = threadIdx.x % kWarp;
  DRU_WARP_ROW_LOOP(row, rows) {
    const float* yr = y + row * n;
    const float* dyr = dy + row * n;
    float* dxr = dx + row * n;
    float dot = 0.f;
    for (int64_t k = lane; k < n; k += kWarp) dot += yr[k] * dyr[k];
    dot = warp_sum(dot);
    for (int64_t k = lane; k < n; k += kWarp) dxr[k] = yr[k] * (dyr[k] - dot);
  }
}

__global__ void softmax_backward_strided_kernel(const float* y, const float* dy, float* dx, int64_t outer, int64_t n,
                                                int64_t inner) {
  DRU_GRID_LOOP(idx, outer * inner) {
    const int64_t base = (idx / inner) * n * inner + idx % inner;
    float dot = 0.f;
    for (int64_t k = 0; k < n; ++k) dot += y[base + k * inner] * dy[base + k * inner];
    for (int64_t k = 0; k < n; ++k) dx[base + k * inner] = y[base + k * inner] * (dy[base + k * inner] - dot);
  }
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, const uint8_t* mask, int64_t rows_per_mask) {
  if (rows == 0) return;
  softmax_rows_kernel<<<warp_grid(rows), kThreads, 0, stream()>>>(x, y, rows, n, mask, rows_per_mask);
  DRU_CUDA_LAUNCHED();
}

void softmax_backward_rows(const float* y, const float* dy, float* dx, int64_t rows, int64_t n) {
  if (rows == 0) return;
  softmax_backward_rows_kernel<<<warp_grid(rows), kThreads, 0, stream()>>>(y, dy, dx, rows, n);
  DRU_CUDA_LAUNCHED();
}

// ---- layer_norm ---------------------------------------------------------------------------------

__global__ void layernorm_forward_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                         const float* __restrict__ b, float* __restrict__ y, float* __restrict__ mean,
                                         float* __restrict__ rstd, int64_t m, int64_t d, float eps) {
  const int lane = threadIdx.x % kWarp;
  DRU_WARP_ROW_LOOP(row, m) {
    const float* xr = x + row * d;
    float* yr = y + row * d;
    float s = 0.f;
    for (int64_t j = lane; j < d; j += kWarp) s += xr[j];
    const float mu = warp_sum(s) / float(d);
    float v = 0.f;  // two passes: no E[x^2] - E[x]^2 cancellation
    for (int64_t j = lane; j < d; j += kWarp) v += (xr[j] - mu) * (xr[j] - mu);
    const float rs = 1.f / sqrtf(warp_sum(v) / float(d) + eps);
    for (int64_t j = lane; j < d; j += kWarp) yr[j] = (xr[j] - mu) * rs * (w ? w[j] : 1.f) + (b ? b[j] : 0.f);
    if (lane == 0) {
      mean[row] = mu;
      rstd[row] = rs;
    }
  }
}

__global__ void layernorm_backward_dx_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                             const float* __restrict__ mean, const float* __restrict__ rstd,
                                             const float* __restrict__ dy, float* __restrict__ dx, int64_t m,
                                             int64_t d) {
  const int lane = threadIdx.x % kWarp;
  DRU_WARP_ROW_LOOP(row, m) {
    const float* xr = x + row * d;
    const float* dyr = dy + row * d;
    float* dxr = dx + row * d;
    const float mu = mean[row], rs = rstd[row];
    float a = 0.f, bsum = 0.f;
    for (int64_t j = lane; j < d; j += kWarp) {
      const float dxhat = dyr[j] * (w ? w[j] : 1.f);
      a += dxhat;
      bsum += dxhat * (xr[j] - mu) * rs;
    }
    const float mean_dxhat = warp_sum(a) / float(d), mean_dxhat_xhat = warp_sum(bsum) / float(d);
    for (int64_t j = lane; j < d; j += kWarp) {
      const float xhat = (xr[j] - mu) * rs;
      dxr[j] = rs * (dyr[j] * (w ? w[j] : 1.f) - mean_dxhat - xhat * mean_dxhat_xhat);
    }
  }
}

// Layer norm's parameter gradients as column sums (column_sums.cuh): dw = sum_rows dy xhat, db = sum_rows dy.
struct LayerNormParamTerms {
  const float *x, *mean, *rstd, *dy;
  int64_t d;
  __device__ void add(float* acc, int64_t r, int64_t col) const {
    const float g = dy[r * d + col];
    acc[0] += g * (x[r * d + col] - mean[r]) * rstd[r];
    acc[1] += g;
  }
};

// ---- LSTM ---------------------------------------------------------------------------------------

// Step t of the forward for every (sequence b, unit j): the gate rows already hold x W_ih^T + h W_hh^T;
// adds both biases, activates in place and writes c_t and h_t.
__global__ void lstm_cell_forward_kernel(float* __restrict__ gates, float* __restrict__ h, float* __restrict__ c,
                                         const float* __restrict__ b_ih, const float* __restrict__ b_hh, int64_t n,
                                         int64_t steps, int64_t d, int64_t t) {
  DRU_GRID_LOOP(idx, n * d) {
    const int64_t b = idx / d, j = idx % d, row = b * steps + t;
    float* a = gates + row * 4 * d;
    float ai = a[j] + (b_ih[j] + b_hh[j]);
    float af = a[d + j] + (b_ih[d + j] + b_hh[d + j]);
    float ag = a[2 * d + j] + (b_ih[2 * d + j] + b_hh[2 * d + j]);
    float ao = a[3 * d + j] + (b_ih[3 * d + j] + b_hh[3 * d + j]);
    const float c_prev = t > 0 ? c[(row - 1) * d + j] : 0.f;
    float ct, ht;
    lstm_cell::forward(ai, af, ag, ao, c_prev, ct, ht);
    a[j] = ai;
    a[d + j] = af;
    a[2 * d + j] = ag;
    a[3 * d + j] = ao;
    c[row * d + j] = ct;
    h[row * d + j] = ht;
  }
}

// Step t of the backward for every (b, j): from the saved gates and c, the output gradient dh plus the
// recurrent dh_rec (n, d) and the carried dc (n, d), writes the pre-activation gradients da, the new
// dc (into c_{t-1}), and h_prev[b, t] = h[b, t-1] (zero at t = 0) for the dW_hh GEMM.
__global__ void lstm_cell_backward_kernel(const float* __restrict__ gates, const float* __restrict__ c,
                                          const float* __restrict__ h, const float* __restrict__ dh,
                                          const float* __restrict__ dh_rec, float* __restrict__ dc,
                                          float* __restrict__ da, float* __restrict__ h_prev, int64_t n, int64_t steps,
                                          int64_t d, int64_t t) {
  DRU_GRID_LOOP(idx, n * d) {
    const int64_t b = idx / d, j = idx % d, row = b * steps + t;
    const float* g = gates + row * 4 * d;
    float* a = da + row * 4 * d;
    const float c_prev = t > 0 ? c[(row - 1) * d + j] : 0.f;
    float dai, daf, dag, dao, dc_prev;
    lstm_cell::backward(g[j], g[d + j], g[2 * d + j], g[3 * d + j], c_prev, c[row * d + j],
                        dh[row * d + j] + dh_rec[idx], dc[idx], dai, daf, dag, dao, dc_prev);
    a[j] = dai;
    a[d + j] = daf;
    a[2 * d + j] = dag;
    a[3 * d + j] = dao;
    dc[idx] = dc_prev;
    h_prev[row * d + j] = t > 0 ? h[(row - 1) * d + j] : 0.f;
  }
}

// ---- LSTM, the whole recurrence in one launch (small D) --------------------------------------------
//
// Launching a GEMM and a kernel per step leaves the GPU waiting for the host (about 8 us per launch,
// measured on an H100 at the model sizes). For D up to kFusedMaxD one block instead carries one
// sequence through every step: the recurrence of a sequence needs only its own h and c, so blocks
// never wait for each other and the steps are separated by __syncthreads alone. A block has a thread
// per gate column (4D, rounded up to whole warps); threads j < D also own hidden unit j and keep its c
// (forward) or dc (backward) in a register. Each thread loads what the next step needs from global
// memory before working on the current one, so that latency overlaps the step. Every block reads all
// of W_hh each step, from L1/L2 (64 KiB at D = 64). Each sum runs over k in a fixed order.

constexpr int64_t kFusedMaxD = 128;  // 4D threads per block, at most 512

unsigned fused_threads(int64_t d) { return unsigned((4 * d + kWarp - 1) / kWarp * kWarp); }
__host__ __device__ int64_t fused_h_floats(int64_t d) { return (d + 3) / 4 * 4; }

// wt (cols, rows) = w (rows, cols)^T.
__global__ void transpose_kernel(const float* __restrict__ w, float* __restrict__ wt, int64_t rows, int64_t cols) {
  DRU_GRID_LOOP(idx, rows * cols) wt[(idx % cols) * rows + idx / cols] = w[idx];
}

// Forward of sequence blockIdx.x over every step. gates holds x W_ih^T on entry and the activated gates
// on exit; w_hh_t is W_hh^T (D, 4D), so the threads of a warp read neighbouring columns.
// Shared memory: h_{t-1} (D, padded to a multiple of 4: the compiler widens the tail of the k loop to
// 16-byte loads, which must not reach into the pre-activations other threads are writing) and the
// step's pre-activations (4D).
__global__ void lstm_forward_fused_kernel(const float* __restrict__ w_hh_t, const float* __restrict__ b_ih,
                                          const float* __restrict__ b_hh, float* __restrict__ gates,
                                          float* __restrict__ h, float* __restrict__ c, int64_t steps, int64_t d) {
  extern __shared__ float smem[];
  const int64_t g4 = 4 * d, col = threadIdx.x, j = threadIdx.x;
  const bool gate_thread = col < g4, unit_thread = j < d;
  float* h_s = smem;
  float* g_s = smem + fused_h_floats(d);
  float* seq_gates = gates + int64_t(blockIdx.x) * steps * g4;
  float* seq_h = h + int64_t(blockIdx.x) * steps * d;
  float* seq_c = c + int64_t(blockIdx.x) * steps * d;
  if (unit_thread) h_s[j] = 0.f;  // h_0 = 0
  float c_reg = 0.f;              // c_0 = 0
  const float bias = gate_thread ? b_ih[col] + b_hh[col] : 0.f;
  float pre = gate_thread ? seq_gates[col] : 0.f;
  __syncthreads();
  for (int64_t t = 0; t < steps; ++t) {
    const float pre_next = gate_thread && t + 1 < steps ? seq_gates[(t + 1) * g4 + col] : 0.f;
    if (gate_thread) {  // a = x W_ih^T + (b_ih + b_hh) + h_{t-1} W_hh^T
      float acc = pre + bias;
#pragma unroll 8
      for (int64_t k = 0; k < d; ++k) acc += h_s[k] * w_hh_t[k * g4 + col];
      g_s[col] = acc;
    }
    __syncthreads();
    if (unit_thread) {
      float ai = g_s[j], af = g_s[d + j], ag = g_s[2 * d + j], ao = g_s[3 * d + j], ct, ht;
      lstm_cell::forward(ai, af, ag, ao, c_reg, ct, ht);
      float* a = seq_gates + t * g4;
      a[j] = ai;
      a[d + j] = af;
      a[2 * d + j] = ag;
      a[3 * d + j] = ao;
      seq_c[t * d + j] = ct;
      seq_h[t * d + j] = ht;
      c_reg = ct;
      h_s[j] = ht;
    }
    __syncthreads();
    pre = pre_next;
  }
}

// What the backward of unit j at step t reads from global memory (zeros before the first step).
struct LstmStepIn {
  float i, f, g, o, c, c_prev, dh, h_prev;
};

__device__ __forceinline__ LstmStepIn load_step(const float* seq_gates, const float* seq_c, const float* seq_h,
                                                const float* seq_dh, int64_t t, int64_t d, int64_t j) {
  const float* g = seq_gates + t * 4 * d;
  return {g[j],
          g[d + j],
          g[2 * d + j],
          g[3 * d + j],
          seq_c[t * d + j],
          t > 0 ? seq_c[(t - 1) * d + j] : 0.f,
          seq_dh[t * d + j],
          t > 0 ? seq_h[(t - 1) * d + j] : 0.f};
}

// Backward of sequence blockIdx.x over every step, last to first: writes da (N, T, 4D) and h_prev.
// dh_rec = da_{t+1} W_hh: thread (q, j) sums the gate block q (k in [qD, qD + D)) for unit j, then unit
// j adds the four partial sums in a fixed order. Shared memory: da_{t+1} (4D), the partial sums (4D).
__global__ void lstm_backward_fused_kernel(const float* __restrict__ w_hh, const float* __restrict__ gates,
                                           const float* __restrict__ c, const float* __restrict__ h,
                                           const float* __restrict__ dh, float* __restrict__ da,
                                           float* __restrict__ h_prev, int64_t steps, int64_t d) {
  extern __shared__ float smem[];
  const int64_t g4 = 4 * d, tid = threadIdx.x, j = threadIdx.x;
  const bool gate_thread = tid < g4, unit_thread = j < d;
  float* da_s = smem;
  float* part_s = smem + g4;
  const int64_t seq = blockIdx.x;
  const float* seq_gates = gates + seq * steps * g4;
  const float* seq_c = c + seq * steps * d;
  const float* seq_h = h + seq * steps * d;
  const float* seq_dh = dh + seq * steps * d;
  float* seq_da = da + seq * steps * g4;
  float* seq_h_prev = h_prev + seq * steps * d;
  const int64_t q = tid / d, jq = tid % d;     // the gate block and unit of a partial sum
  const float* w_col = w_hh + q * d * d + jq;  // column jq of rows qD.. of W_hh (4D, D)
  float dc = 0.f;
  LstmStepIn in{};
  if (unit_thread) in = load_step(seq_gates, seq_c, seq_h, seq_dh, steps - 1, d, j);
  for (int64_t t = steps - 1; t >= 0; --t) {
    LstmStepIn in_next{};
    if (unit_thread && t > 0) in_next = load_step(seq_gates, seq_c, seq_h, seq_dh, t - 1, d, j);
    const bool has_next = t < steps - 1;
    if (has_next) {
      if (gate_thread) {
        const float* dar = da_s + q * d;
        float acc = 0.f;
#pragma unroll 8
        for (int64_t k = 0; k < d; ++k) acc += dar[k] * w_col[k * d];
        part_s[tid] = acc;
      }
      __syncthreads();
    }
    if (unit_thread) {
      const float dh_rec = has_next ? ((part_s[j] + part_s[d + j]) + part_s[2 * d + j]) + part_s[3 * d + j] : 0.f;
      float dai, daf, dag, dao, dc_prev;
      lstm_cell::backward(in.i, in.f, in.g, in.o, in.c_prev, in.c, in.dh + dh_rec, dc, dai, daf, dag, dao, dc_prev);
      float* a = seq_da + t * g4;
      a[j] = da_s[j] = dai;
      a[d + j] = da_s[d + j] = daf;
      a[2 * d + j] = da_s[2 * d + j] = dag;
      a[3 * d + j] = da_s[3 * d + j] = dao;
      dc = dc_prev;
      seq_h_prev[t * d + j] = in.h_prev;
    }
    __syncthreads();
    in = in_next;
  }
}

// ---- attention ----------------------------------------------------------------------------------

__global__ void key_mask_to_bytes_kernel(const int64_t* __restrict__ mask, uint8_t* __restrict__ out, int64_t count) {
  DRU_GRID_LOOP(j, count) out[j] = mask[j] != 0 ? 1 : 0;
}

}  // namespace

void softmax_forward(const float* x, float* y, int64_t outer, int64_t n, int64_t inner) {
  if (outer == 0 || n == 0 || inner == 0) return;
  if (inner == 1) {
    softmax_rows(x, y, outer, n, nullptr, 1);
    return;
  }
  softmax_strided_kernel<<<grid_for(outer * inner), kThreads, 0, stream()>>>(x, y, outer, n, inner);
  DRU_CUDA_LAUNCHED();
}

void softmax_backward(const float* y, const float* dy, float* dx, int64_t outer, int64_t n, int64_t inner) {
  if (outer == 0 || n == 0 || inner == 0) return;
  if (inner == 1) {
    softmax_backward_rows(y, dy, dx, outer, n);
    return;
  }
  softmax_backward_strided_kernel<<<grid_for(outer * inner), kThreads, 0, stream()>>>(y, dy, dx, outer, n, inner);
  DRU_CUDA_LAUNCHED();
}

void layernorm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t m,
                       int64_t d, float eps) {
  if (m == 0 || d == 0) return;
  layernorm_forward_kernel<<<warp_grid(m), kThreads, 0, stream()>>>(x, w, b, y, mean, rstd, m, d, eps);
  DRU_CUDA_LAUNCHED();
}

void layernorm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* dy,
                        float* dx, float* dw, float* db, int64_t m, int64_t d) {
  if (d == 0) return;
  if (m > 0) {
    layernorm_backward_dx_kernel<<<warp_grid(m), kThreads, 0, stream()>>>(x, w, mean, rstd, dy, dx, m, d);
    DRU_CUDA_LAUNCHED();
  }
  if (!dw && !db) return;
  column_sums<2>(LayerNormParamTerms{x, mean, rstd, dy, d}, m, d, ColumnOutputs<2>{{dw, db}});
}

void lstm_layer_forward(const float* x, const float* w_ih, const float* w_hh, const float* b_ih, const float* b_hh,
                        float* h, float* c, float* gates, int64_t n, int64_t t, int64_t i, int64_t d) {
  if (n == 0 || t == 0 || d == 0) return;
  const int64_t g4 = 4 * d;
  // Input projection of every step at once: gates (N T, 4D) = x (N T, I) W_ih^T.
  gemm(false, true, n * t, g4, i, 1.f, x, i, 0, w_ih, i, 0, 0.f, gates, g4, 0, 1);
  if (d <= kFusedMaxD) {
    float* w_hh_t = static_cast<float*>(workspace(size_t(g4 * d) * sizeof(float)));
    transpose_kernel<<<grid_for(g4 * d), kThreads, 0, stream()>>>(w_hh, w_hh_t, g4, d);
    DRU_CUDA_LAUNCHED();
    const size_t smem = size_t(fused_h_floats(d) + g4) * sizeof(float);
    lstm_forward_fused_kernel<<<unsigned(n), fused_threads(d), smem, stream()>>>(w_hh_t, b_ih, b_hh, gates, h, c, t, d);
    DRU_CUDA_LAUNCHED();
    return;
  }
  // Larger D: one GEMM and one cell kernel per step.
  const unsigned blocks = grid_for(n * d);
  for (int64_t step = 0; step < t; ++step) {
    if (step > 0)  // gates[:, step] (N, 4D; row stride T 4D) += h[:, step - 1] (N, D; row stride T D) W_hh^T
      gemm(false, true, n, g4, d, 1.f, h + (step - 1) * d, t * d, 0, w_hh, d, 0, 1.f, gates + step * g4, t * g4, 0, 1);
    lstm_cell_forward_kernel<<<blocks, kThreads, 0, stream()>>>(gates, h, c, b_ih, b_hh, n, t, d, step);
    DRU_CUDA_LAUNCHED();
  }
}

void lstm_layer_backward(const float* x, const float* w_ih, const float* w_hh, const float* h, const float* c,
                         const float* gates, const float* dh, float* dx, float* dw_ih, float* dw_hh, float* db_ih,
                         float* db_hh, float* da, float* h_prev, float* dh_rec, float* dc, int64_t n, int64_t t,
                         int64_t i, int64_t d) {
  const int64_t g4 = 4 * d, rows = n * t;
  if (d == 0) return;
  if (d <= kFusedMaxD) {
    if (n > 0 && t > 0) {
      lstm_backward_fused_kernel<<<unsigned(n), fused_threads(d), size_t(8 * d) * sizeof(float), stream()>>>(
          w_hh, gates, c, h, dh, da, h_prev, t, d);
      DRU_CUDA_LAUNCHED();
    }
  } else {  // one cell kernel and one GEMM per step
    DRU_CUDA_CHECK(cudaMemsetAsync(dh_rec, 0, size_t(n * d) * sizeof(float), stream()));
    DRU_CUDA_CHECK(cudaMemsetAsync(dc, 0, size_t(n * d) * sizeof(float), stream()));
    const unsigned blocks = grid_for(std::max<int64_t>(n * d, 1));
    for (int64_t step = t - 1; step >= 0 && n > 0; --step) {
      lstm_cell_backward_kernel<<<blocks, kThreads, 0, stream()>>>(gates, c, h, dh, dh_rec, dc, da, h_prev, n, t, d,
                                                                   step);
      DRU_CUDA_LAUNCHED();
      if (step > 0)  // dh_rec (N, D) = da[:, step] (N, 4D; row stride T 4D) W_hh (4D, D)
        gemm(false, false, n, d, g4, 1.f, da + step * g4, t * g4, 0, w_hh, d, 0, 0.f, dh_rec, d, 0, 1);
    }
  }
  // da (N T, 4D) against the stacked inputs and shifted hidden states: one GEMM each.
  if (dx) gemm(false, false, rows, i, g4, 1.f, da, g4, 0, w_ih, i, 0, 0.f, dx, i, 0, 1);
  gemm(true, false, g4, i, rows, 1.f, da, g4, 0, x, i, 0, 0.f, dw_ih, i, 0, 1);
  gemm(true, false, g4, d, rows, 1.f, da, g4, 0, h_prev, d, 0, 0.f, dw_hh, d, 0, 1);
  column_sum(da, db_ih, rows, g4);
  DRU_CUDA_CHECK(cudaMemcpyAsync(db_hh, db_ih, size_t(g4) * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
}

void key_mask_to_bytes(const int64_t* mask, uint8_t* out, int64_t count) {
  if (count == 0) return;
  key_mask_to_bytes_kernel<<<grid_for(count), kThreads, 0, stream()>>>(mask, out, count);
  DRU_CUDA_LAUNCHED();
}

void attention_forward(const float* q, const float* k, const float* v, const uint8_t* mask, float* out, float* probs,
                       int64_t n, int64_t h, int64_t t, int64_t s, int64_t dh) {
  const int64_t bh = n * h;
  if (bh == 0 || t == 0) return;
  const float scale = 1.f / std::sqrt(float(dh));
  // Per (batch, head): P (T, S) = Q K^T / sqrt(Dh), masked softmax over S, O (T, Dh) = P V.
  gemm(false, true, t, s, dh, scale, q, dh, t * dh, k, dh, s * dh, 0.f, probs, s, t * s, bh);
  softmax_rows(probs, probs, bh * t, s, mask, h * t);
  gemm(false, false, t, dh, s, 1.f, probs, s, t * s, v, dh, s * dh, 0.f, out, dh, t * dh, bh);
}

void attention_backward(const float* q, const float* k, const float* v, const float* probs, const float* dout,
                        float* dq, float* dk, float* dv, float* dp, int64_t n, int64_t h, int64_t t, int64_t s,
                        int64_t dh) {
  const int64_t bh = n * h;
  if (bh == 0) return;
  const float scale = 1.f / std::sqrt(float(dh));
  // dV (S, Dh) = P^T dO; dP (T, S) = dO V^T; dS = softmax backward (in place); dQ = dS K / sqrt(Dh);
  // dK = dS^T Q / sqrt(Dh). With T = 0 the products over T come out as zeros.
  gemm(true, false, s, dh, t, 1.f, probs, s, t * s, dout, dh, t * dh, 0.f, dv, dh, s * dh, bh);
  gemm(false, true, t, s, dh, 1.f, dout, dh, t * dh, v, dh, s * dh, 0.f, dp, s, t * s, bh);
  softmax_backward_rows(probs, dp, dp, bh * t, s);
  gemm(false, false, t, dh, s, scale, dp, s, t * s, k, dh, s * dh, 0.f, dq, dh, t * dh, bh);
  gemm(true, false, s, dh, t, scale, dp, s, t * s, q, dh, t * dh, 0.f, dk, dh, s * dh, bh);
}

}  // namespace dru::cuda
