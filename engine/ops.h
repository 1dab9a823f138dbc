// ops.h — every differentiable op of the engine, forward with autograd recording.
//
// Each op checks its arguments (messages name the op and the shapes), computes the forward through the
// kernels/ family it belongs to — on the CPU templated on f32/f64, on CUDA in f32 through the launchers
// of engine/cuda/ (cuBLAS, cuDNN and our kernels), chosen by the inputs' device — and records one tape
// node whose backward runs on the gradient's device. Shape letters: N batch, C channels, H W spatial,
// T time, D hidden, V vocab.
#pragma once

#include <vector>

#include "engine/autograd.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace dru {

// ---- element-wise arithmetic with NumPy/PyTorch broadcasting --------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, double p);  // a^p element-wise
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// In-place acc += g without autograd (same shape, dtype, device); used for gradient accumulation.
void add_(Tensor& acc, const Tensor& g);
// Sums g over broadcast dimensions so it has shape s (the backward of broadcasting).
Tensor sum_to(const Tensor& g, const Shape& s);

// ---- activations -------------------------------------------------------------------------------
Tensor relu(const Tensor& x);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor gelu(const Tensor& x);       // exact form, x * Phi(x), as PyTorch's default
Tensor hardswish(const Tensor& x);  // x * relu6(x + 3) / 6

// ---- reductions ----------------------------------------------------------------------------------
Tensor sum(const Tensor& x);  // all elements -> scalar
Tensor mean(const Tensor& x);
Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim = false);
// x / max(||x||_2, eps) along dim, as torch.nn.functional.normalize.
Tensor l2_normalize(const Tensor& x, int dim, double eps = 1e-12);

// ---- matrix products ---------------------------------------------------------------------------
// (M, K) x (K, N) -> (M, N), or batched (B, M, K) x (B, K, N) -> (B, M, N).
Tensor matmul(const Tensor& a, const Tensor& b);
// x (..., in) · w(out, in)^T + b(out) -> (..., out); b may be undefined.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

// ---- convolution, normalisation, pooling --------------------------------------------------------
// x (N, C, H, W), w (O, C, kh, kw), b (O) or undefined -> (N, O, Ho, Wo). Zero padding.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride = 1, int padding = 0);
// Batch normalisation over every dimension except 1: x is (N, C), (N, C, L) or (N, C, H, W).
// In training it normalises with the batch statistics and updates the running buffers in place,
// running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance (PyTorch).
// In eval it uses the running buffers. weight and bias (C) may be undefined (affine=False).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                  Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// Layer normalisation over the last dimension; weight, bias (D) may be undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
Tensor softmax(const Tensor& x, int dim);
// x (N, C, H, W). Average pooling counts padded zeros (PyTorch's count_include_pad=True).
Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding = 0);
Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding = 0);
// Output (N, C, oh, ow); bins as PyTorch: [floor(i*H/oh), ceil((i+1)*H/oh)).
Tensor adaptive_avg_pool2d(const Tensor& x, int oh, int ow);
// Inverted dropout: zeroes with probability p and scales the rest by 1/(1-p) in training; identity in eval.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);

// ---- indexing ----------------------------------------------------------------------------------
// ids i64 of any shape, weight (V, D) -> (ids..., D). Ids out of [0, V) throw when they are on the
// CPU (also for a CUDA weight: they are checked, then uploaded). Ids already on the device are not
// checked (that would need a host sync): there an id out of range gives a row of zeros and no gradient.
Tensor embedding(const Tensor& ids, const Tensor& weight);
Tensor concat(const std::vector<Tensor>& xs, int dim);
// Rows of x (dim 0) named by idx (i64, 1-D, on x's device or the CPU); repeats allowed; backward sums
// repeated rows. Device indices are trusted as embedding's ids are.
Tensor index_select(const Tensor& x, const Tensor& idx);
// Rows of x (dim 0) where mask (u8 or i64, 1-D, length N) is non-zero. On CUDA the row count needs
// the mask on the host: a device mask is copied back (one host synchronisation).
Tensor masked_select(const Tensor& x, const Tensor& mask);
// Reorders dimensions as torch.permute: out.shape[i] = x.shape[dims[i]]; dims is a permutation of
// 0..ndim-1 (negatives count from the end). Returns a contiguous copy; backward applies the inverse.
// Any dtype (gradients for f32/f64). Multi-head attention uses it: (N, T, H, Dh) -> (N, H, T, Dh).
Tensor permute(const Tensor& x, const std::vector<int>& dims);

// ---- sequences -----------------------------------------------------------------------------------
// Weights of one LSTM layer, PyTorch's layout: gate order i, f, g, o stacked along rows.
struct LstmLayerWeights {
  Tensor w_ih;  // (4D, I)
  Tensor w_hh;  // (4D, D)
  Tensor b_ih;  // (4D)
  Tensor b_hh;  // (4D)
};
// Multi-layer unidirectional LSTM, batch_first: x (N, T, I) -> (N, T, D) the last layer's hidden
// states; initial h and c are zero. The last time step of the output is PyTorch's h_n[-1].
Tensor lstm(const Tensor& x, const std::vector<LstmLayerWeights>& layers);
// q (N, H, T, Dh), k and v (N, H, S, Dh) -> (N, H, T, Dh); softmax(q k^T / sqrt(Dh)) v.
// key_mask (N, S), u8 or i64, non-zero = attend, zero = padding; undefined = attend everywhere.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask);

// ---- losses (scalars) --------------------------------------------------------------------------
// mean |pred - target|; one fused node: value and gradient computed in a single pass.
Tensor l1_loss(const Tensor& pred, const Tensor& target);
Tensor mse_loss(const Tensor& pred, const Tensor& target);
// pred (N, Q), target (N) or (N, 1): mean over N of sum_q max((q-1) e, q e), e = target - pred[:, q].
Tensor quantile_loss(const Tensor& pred, const Tensor& target, const std::vector<double>& quantiles);

}  // namespace dru
