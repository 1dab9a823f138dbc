// softmax.h — softmax along one dimension and layer normalisation over the last: CPU references.
//
// softmax: y_k = exp(x_k - m) / sum_j exp(x_j - m), m = max_j x_j. Subtracting the maximum keeps exp
//   from overflowing and changes nothing mathematically. A row whose entries are all -inf (every key
//   masked, in attention) gives zeros rather than PyTorch's NaN: "attend to nothing" then contributes
//   nothing, and no NaN reaches the loss or the gradients.
//   backward: dx_k = y_k (dy_k - sum_j y_j dy_j).
//   Layout: x viewed as (outer, n, inner) with softmax over n; element (o, k, r) at (o n + k) inner + r.
//
// layer_norm over the last dimension, PyTorch's nn.LayerNorm (biased variance, eps inside the root):
//   mu = mean(x), rstd = 1 / sqrt(mean((x - mu)^2) + eps), xhat = (x - mu) rstd, y = xhat w + b.
//   backward with dxhat = dy w: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
//   dw = sum over rows of dy xhat, db = sum over rows of dy.
//   Layout: x (M, D) row-major, M the product of the leading dimensions; w, b (D) or null (1 and 0).
//   The forward saves mean and rstd (M) for the backward.
// Versions: CPU reference (softmax_cpu.cpp).
#pragma once

#include <cstdint>

namespace dru::cpu {

template <class T> void softmax_forward(const T* x, T* y, int64_t outer, int64_t n, int64_t inner);
template <class T> void softmax_backward(const T* y, const T* dy, T* dx, int64_t outer, int64_t n, int64_t inner);

// w and b may be null. Writes y (M, D), mean and rstd (M).
template <class T>
void layernorm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t m, int64_t d, T eps);
// w may be null (taken as ones). Writes dx (M, D); dw and db (D) are overwritten unless null.
template <class T>
void layernorm_backward(const T* x, const T* w, const T* mean, const T* rstd, const T* dy, T* dx, T* dw, T* db,
                        int64_t m, int64_t d);

}  // namespace dru::cpu
