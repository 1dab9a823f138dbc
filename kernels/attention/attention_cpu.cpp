// attention_cpu.cpp — CPU reference of scaled dot-product attention, forward and backward (attention.h).
//
// Each (batch, head) pair is independent: its Q, K, V, P and O are contiguous row-major blocks, so
// Eigen maps them in place and the four products are GEMMs. The row softmax is the shared one from
// kernels/softmax, so attention and the softmax op agree on stability and on fully masked rows.
#include "kernels/attention/attention.h"

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/softmax/softmax.h"

namespace dru::cpu {

namespace {

template <class T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T> using MapMat = Eigen::Map<RowMat<T>>;
template <class T> using CMapMat = Eigen::Map<const RowMat<T>>;

}  // namespace

template <class T>
void attention_forward(const T* q, const T* k, const T* v, const uint8_t* mask, T* out, T* probs, AttentionSizes z) {
  const T scale = T(1) / std::sqrt(T(z.dh));
  for (int64_t b = 0; b < z.n; ++b)
    for (int64_t hd = 0; hd < z.h; ++hd) {
      const int64_t bh = b * z.h + hd;
      const int64_t qo = bh * z.t * z.dh, ko = bh * z.s * z.dh;
      CMapMat<T> Q(q + qo, z.t, z.dh), K(k + ko, z.s, z.dh), V(v + ko, z.s, z.dh);
      MapMat<T> P(probs + bh * z.t * z.s, z.t, z.s);
      P.noalias() = (Q * K.transpose()) * scale;
      if (mask) {
        const uint8_t* m = mask + b * z.s;
        for (int64_t j = 0; j < z.s; ++j)
          if (!m[j]) P.col(j).setConstant(-std::numeric_limits<T>::infinity());
      }
      softmax_forward(P.data(), P.data(), z.t, z.s, int64_t(1));  // in place, row by row
      MapMat<T>(out + qo, z.t, z.dh).noalias() = P * V;
    }
}

template <class T>
void attention_backward(const T* q, const T* k, const T* v, const T* probs, const T* dout, T* dq, T* dk, T* dv,
                        AttentionSizes z) {
  const T scale = T(1) / std::sqrt(T(z.dh));
  std::vector<T> dp_buf(size_t(z.t * z.s)), ds_buf(size_t(z.t * z.s));
  MapMat<T> dP(dp_buf.data(), z.t, z.s);
  for (int64_t b = 0; b < z.n; ++b)
    for (int64_t hd = 0; hd < z.h; ++hd) {
      const int64_t bh = b * z.h + hd;
      const int64_t qo = bh * z.t * z.dh, ko = bh * z.s * z.dh;
      CMapMat<T> Q(q + qo, z.t, z.dh), K(k + ko, z.s, z.dh), V(v + ko, z.s, z.dh);
      CMapMat<T> P(probs + bh * z.t * z.s, z.t, z.s), dO(dout + qo, z.t, z.dh);
      MapMat<T>(dv + ko, z.s, z.dh).noalias() = P.transpose() * dO;
      dP.noalias() = dO * V.transpose();
      softmax_backward(P.data(), dP.data(), ds_buf.data(), z.t, z.s, int64_t(1));
      CMapMat<T> dS(ds_buf.data(), z.t, z.s);
      MapMat<T>(dq + qo, z.t, z.dh).noalias() = (dS * K) * scale;
      MapMat<T>(dk + ko, z.s, z.dh).noalias() = (dS.transpose() * Q) * scale;
    }
}

#define DRU_ATTENTION_INSTANTIATE(T)                                                                                 \
  template void attention_forward<T>(const T*, const T*, const T*, const uint8_t*, T*, T*, AttentionSizes);         \
  template void attention_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, AttentionSizes);
DRU_ATTENTION_INSTANTIATE(float)
DRU_ATTENTION_INSTANTIATE(double)
#undef DRU_ATTENTION_INSTANTIATE

}  // namespace dru::cpu
