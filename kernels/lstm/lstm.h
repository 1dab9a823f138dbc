// lstm.h — the LSTM layer: cell math shared by CPU and CUDA, and the CPU reference's contract.
//
// Math (PyTorch's nn.LSTM, gate order i, f, g, o stacked along the rows of the weights):
//   a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh           a_t = [a_i, a_f, a_g, a_o], each D wide
//   i = sigmoid(a_i)  f = sigmoid(a_f)  g = tanh(a_g)  o = sigmoid(a_o)
//   c_t = f c_{t-1} + i g          h_t = o tanh(c_t)          h_0 = c_0 = 0
// Backward through time, with dh the total gradient reaching h_t (from the output and from step t+1)
// and dc_next the gradient reaching c_t from step t+1:
//   dc = dc_next + dh o (1 - tanh^2 c_t)      do = dh tanh c_t
//   di = dc g   df = dc c_{t-1}   dg = dc i   dc_{t-1} = dc f
//   da_i = di i (1 - i)   da_f = df f (1 - f)   da_g = dg (1 - g^2)   da_o = do o (1 - o)
//   dh_{t-1} = da_t W_hh,  dx_t = da_t W_ih,  dW_ih = sum_t da_t^T x_t,  dW_hh = sum_t da_t^T h_{t-1}
//
// Layout: batch_first. x (N, T, I); h and c (N, T, D); the activated gates (N, T, 4D) in the order
// i, f, g, o, so gate k of hidden unit j sits at column k D + j. The forward saves gates and c per step
// because the backward needs them and recomputing them would repeat the whole recurrence.
// Versions: CPU reference (lstm_cpu.cpp, Eigen GEMMs for the matrix products). The cell functions
// below are DRU_HD so a CUDA kernel evaluates the same formulas.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/activation/activation.h"
#include "kernels/common/hd.h"

namespace dru::lstm_cell {

// Pre-activations in (a_i, a_f, a_g, a_o) are replaced by the activated gates; writes c_t and h_t.
template <class T> DRU_HD void forward(T& i, T& f, T& g, T& o, T c_prev, T& c, T& h) {
  i = act::sigmoid(i);
  f = act::sigmoid(f);
  g = std::tanh(g);
  o = act::sigmoid(o);
  c = f * c_prev + i * g;
  h = o * std::tanh(c);
}

// From the activated gates, c_{t-1}, c_t and the incoming gradients dh (into h_t) and dc_next (into
// c_t from step t+1): the pre-activation gradients (da_i, da_f, da_g, da_o) and dc_{t-1}.
template <class T>
DRU_HD void backward(T i, T f, T g, T o, T c_prev, T c, T dh, T dc_next, T& da_i, T& da_f, T& da_g, T& da_o,
                          T& dc_prev) {
  T tc = std::tanh(c);
  T dc = dc_next + dh * o * act::tanh_grad_from_y(tc);
  da_i = dc * g * act::sigmoid_grad_from_y(i);
  da_f = dc * c_prev * act::sigmoid_grad_from_y(f);
  da_g = dc * i * act::tanh_grad_from_y(g);
  da_o = dh * tc * act::sigmoid_grad_from_y(o);
  dc_prev = dc * f;
}

}  // namespace dru::lstm_cell

namespace dru::cpu {

// Sizes of one layer: n batch, t steps, i input features, d hidden units.
struct LstmSizes {
  int64_t n, t, i, d;
};

// One layer forward. x (N, T, I), w_ih (4D, I), w_hh (4D, D), b_ih and b_hh (4D).
// Writes h (N, T, D) (the layer's output), c (N, T, D) and gates (N, T, 4D), the last two for the backward.
template <class T>
void lstm_layer_forward(const T* x, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, T* h, T* c, T* gates,
                        LstmSizes s);

// One layer backward through time, from the forward's x, h, c and gates and dh (N, T, D), the
// gradient of the loss with respect to h. Writes dx (N, T, I) unless null, and overwrites dw_ih (4D, I),
// dw_hh (4D, D), db_ih and db_hh (4D). da is scratch of size N T 4D (the pre-activation gradients).
template <class T>
void lstm_layer_backward(const T* x, const T* w_ih, const T* w_hh, const T* h, const T* c, const T* gates, const T* dh,
                         T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* da, LstmSizes s);

}  // namespace dru::cpu
