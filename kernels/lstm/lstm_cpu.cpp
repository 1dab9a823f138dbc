// lstm_cpu.cpp — CPU reference of one LSTM layer, forward and backward through time (see lstm.h).
//
// The input projection of every step is one GEMM over all N T rows, (N T, I) x (I, 4D), because it
// does not depend on the recurrence; only h_{t-1} W_hh^T is left inside the loop over steps. The same
// split holds in the backward: the loop carries dh and dc back through time and stores the
// pre-activation gradients da, and dx, dW_ih, dW_hh and the biases come from a few GEMMs afterwards.
// The step-t rows of a (N, T, X) buffer are a strided matrix (N rows, row stride T X), which Eigen maps
// without copying.
#include "kernels/lstm/lstm.h"

#include <Eigen/Dense>
#include <vector>

namespace dru::cpu {

namespace {

template <class T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T> using MapMat = Eigen::Map<RowMat<T>>;
template <class T> using CMapMat = Eigen::Map<const RowMat<T>>;
template <class T> using StridedMat = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;
template <class T> using CStridedMat = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;
template <class T> using CMapRow = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>;

// Rows of step `step` in a (N, T, width) buffer: an (N, width) matrix with row stride T width.
template <class T> StridedMat<T> step_rows(T* p, int64_t step, int64_t width, const LstmSizes& s) {
  return StridedMat<T>(p + step * width, s.n, width, Eigen::OuterStride<>(s.t * width));
}
template <class T> CStridedMat<T> step_rows(const T* p, int64_t step, int64_t width, const LstmSizes& s) {
  return CStridedMat<T>(p + step * width, s.n, width, Eigen::OuterStride<>(s.t * width));
}

}  // namespace

template <class T>
void lstm_layer_forward(const T* x, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh, T* h, T* c, T* gates,
                        LstmSizes s) {
  const int64_t d = s.d, g4 = 4 * s.d;
  CMapMat<T> X(x, s.n * s.t, s.i), Wih(w_ih, g4, s.i), Whh(w_hh, g4, d);
  MapMat<T> A(gates, s.n * s.t, g4);
  A.noalias() = X * Wih.transpose();
  A.rowwise() += CMapRow<T>(b_ih, g4) + CMapRow<T>(b_hh, g4);

  for (int64_t step = 0; step < s.t; ++step) {
    if (step > 0) {
      auto At = step_rows(gates, step, g4, s);
      At.noalias() += step_rows(static_cast<const T*>(h), step - 1, d, s) * Whh.transpose();
    }
    for (int64_t b = 0; b < s.n; ++b) {
      const int64_t row = b * s.t + step;
      T* a = gates + row * g4;
      for (int64_t j = 0; j < d; ++j) {
        T c_prev = step > 0 ? c[(row - 1) * d + j] : T(0);
        lstm_cell::forward(a[j], a[d + j], a[2 * d + j], a[3 * d + j], c_prev, c[row * d + j], h[row * d + j]);
      }
    }
  }
}

template <class T>
void lstm_layer_backward(const T* x, const T* w_ih, const T* w_hh, const T* h, const T* c, const T* gates, const T* dh,
                         T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* da, LstmSizes s) {
  const int64_t d = s.d, g4 = 4 * s.d;
  CMapMat<T> X(x, s.n * s.t, s.i), Wih(w_ih, g4, s.i), Whh(w_hh, g4, d);
  // dh_rec: the gradient reaching h_t through step t+1 (da_{t+1} W_hh); dc: the one reaching c_t.
  std::vector<T> dh_rec(size_t(s.n * d), T(0)), dc(size_t(s.n * d), T(0));
  MapMat<T> DHrec(dh_rec.data(), s.n, d);

  for (int64_t step = s.t - 1; step >= 0; --step) {
    for (int64_t b = 0; b < s.n; ++b) {
      const int64_t row = b * s.t + step;
      const T* gt = gates + row * g4;
      T* at = da + row * g4;
      for (int64_t j = 0; j < d; ++j) {
        T c_prev = step > 0 ? c[(row - 1) * d + j] : T(0);
        T& dcj = dc[size_t(b * d + j)];
        lstm_cell::backward(gt[j], gt[d + j], gt[2 * d + j], gt[3 * d + j], c_prev, c[row * d + j],
                            dh[row * d + j] + dh_rec[size_t(b * d + j)], dcj, at[j], at[d + j], at[2 * d + j],
                            at[3 * d + j], dcj);
      }
    }
    if (step > 0) DHrec.noalias() = step_rows(static_cast<const T*>(da), step, g4, s) * Whh;
  }

  CMapMat<T> DA(da, s.n * s.t, g4);
  if (dx) MapMat<T>(dx, s.n * s.t, s.i).noalias() = DA * Wih;
  MapMat<T>(dw_ih, g4, s.i).noalias() = DA.transpose() * X;
  // dW_hh pairs da_t with h_{t-1}: per sequence, rows 1..T-1 of da with rows 0..T-2 of h.
  MapMat<T> DWhh(dw_hh, g4, d);
  DWhh.setZero();
  for (int64_t b = 0; b < s.n && s.t > 1; ++b) {
    CMapMat<T> DAb(da + (b * s.t + 1) * g4, s.t - 1, g4), Hb(h + b * s.t * d, s.t - 1, d);
    DWhh.noalias() += DAb.transpose() * Hb;
  }
  Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> DB(db_ih, g4);
  DB = DA.colwise().sum();
  Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(db_hh, g4) = DB;
}

#define DRU_LSTM_INSTANTIATE(T)                                                                                     \
  template void lstm_layer_forward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, LstmSizes);     \
  template void lstm_layer_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*, const T*, T*, T*, \
                                       T*, T*, T*, T*, LstmSizes);
DRU_LSTM_INSTANTIATE(float)
DRU_LSTM_INSTANTIATE(double)
#undef DRU_LSTM_INSTANTIATE

}  // namespace dru::cpu
