// seq.h — CUDA launchers of the sequence family: softmax, layer_norm, one LSTM layer and scaled
// dot-product attention, forward and backward. The math and layouts are those of the CPU references
// (kernels/softmax/softmax.h, kernels/lstm/lstm.h, kernels/attention/attention.h); every pointer is a
// device pointer, everything is f32 and queued on the engine's stream, nothing waits for the GPU, and
// no result depends on the order in which threads finish (no atomics): runs are bit-identical.
#pragma once

#include <cstdint>

#include "engine/cuda/api.h"

namespace dru::cuda {

// Softmax over n of x viewed as (outer, n, inner); y may alias x. A row whose entries are all -inf
// gives zeros (softmax.h).
DRU_CUDA_API(void softmax_forward(const float* x, float* y, int64_t outer, int64_t n, int64_t inner))
// dx = y (dy - sum y dy) along n; dx may alias dy.
DRU_CUDA_API(void softmax_backward(const float* y, const float* dy, float* dx, int64_t outer, int64_t n, int64_t inner))

// Layer norm over the last dimension of x (m, d); w and b (d) may be null. Writes y, mean and rstd (m).
DRU_CUDA_API(void layernorm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd,
                                    int64_t m, int64_t d, float eps))
// Writes dx (m, d); dw and db (d) are overwritten unless null. w null means ones.
DRU_CUDA_API(void layernorm_backward(const float* x, const float* w, const float* mean, const float* rstd,
                                     const float* dy, float* dx, float* dw, float* db, int64_t m, int64_t d))

// One LSTM layer forward, batch_first, sizes n batch, t steps, i inputs, d hidden (lstm.h): writes h and c
// (n, t, d) and the activated gates (n, t, 4d).
DRU_CUDA_API(void lstm_layer_forward(const float* x, const float* w_ih, const float* w_hh, const float* b_ih,
                                     const float* b_hh, float* h, float* c, float* gates, int64_t n, int64_t t,
                                     int64_t i, int64_t d))
// One LSTM layer backward through time from the forward's x, h, c, gates and dh (n, t, d). Writes dx
// (n, t, i) unless null and overwrites dw_ih (4d, i), dw_hh (4d, d), db_ih and db_hh (4d). Scratch:
// da (n, t, 4d) the pre-activation gradients, h_prev (n, t, d) h shifted one step (zero at t = 0), and
// dh_rec, dc (n, d) the gradients carried from step to step.
DRU_CUDA_API(void lstm_layer_backward(const float* x, const float* w_ih, const float* w_hh, const float* h,
                                      const float* c, const float* gates, const float* dh, float* dx, float* dw_ih,
                                      float* dw_hh, float* db_ih, float* db_hh, float* da, float* h_prev, float* dh_rec,
                                      float* dc, int64_t n, int64_t t, int64_t i, int64_t d))

// out[j] = mask[j] != 0 for j < count: an i64 key mask as the one byte per key the attention reads.
DRU_CUDA_API(void key_mask_to_bytes(const int64_t* mask, uint8_t* out, int64_t count))
// q (n, h, t, dh), k and v (n, h, s, dh), mask (n, s) bytes (non-zero = attend) or null. Writes out
// (n, h, t, dh) and probs (n, h, t, s), saved for the backward.
DRU_CUDA_API(void attention_forward(const float* q, const float* k, const float* v, const uint8_t* mask, float* out,
                                    float* probs, int64_t n, int64_t h, int64_t t, int64_t s, int64_t dh))
// From the forward's q, k, v, probs and dout: writes dq, dk and dv. dp is scratch (n, h, t, s).
DRU_CUDA_API(void attention_backward(const float* q, const float* k, const float* v, const float* probs,
                                     const float* dout, float* dq, float* dk, float* dv, float* dp, int64_t n,
                                     int64_t h, int64_t t, int64_t s, int64_t dh))

}  // namespace dru::cuda
