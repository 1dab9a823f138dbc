// conv2d_cpu.cpp — the CPU convolution: im2col + Eigen GEMM per image, OpenMP over the batch.
//
// See conv2d.h for the math and the layouts. Every matrix here is row-major and mapped, not copied:
// w is (O, K), col is (K, P), y_n and dy_n are (O, P), with K = C*kh*kw and P = Ho*Wo. Instantiated
// for float (training) and double (gradient checks).
#include "kernels/conv2d/conv2d.h"

#include <Eigen/Core>
#include <algorithm>
#include <memory>
#include <type_traits>

namespace dru::conv {

namespace {

template <class T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T> using MatMap = Eigen::Map<RowMat<T>>;
template <class T> using ConstMatMap = Eigen::Map<const RowMat<T>>;
template <class T> using ConstVecMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;

// dw and db are summed per chunk of images and the chunks added in order. A fixed chunk count, not
// one per thread, keeps the result independent of the thread count; 16 balances up to 16 threads
// while the extra partial buffers stay small next to the GEMM work.
constexpr int64_t kWeightChunks = 16;

// ceil(a / s) for the column bounds below, with a <= 0 giving 0.
int64_t ceil_div_clamped(int64_t a, int64_t s) { return a <= 0 ? 0 : (a + s - 1) / s; }

// A 1x1 kernel with stride 1 and no padding reads each pixel once: col is the image itself.
bool is_pointwise(const Conv2dDims& d) { return d.kh == 1 && d.kw == 1 && d.stride == 1 && d.pad == 0; }

// Output columns j whose input column j*s - p + e lies inside [0, W): the range [lo, hi).
struct ColRange {
  int64_t lo, hi;
};
ColRange valid_cols(const Conv2dDims& d, int64_t e, int64_t Wo) {
  int64_t lo = std::min(ceil_div_clamped(d.pad - e, d.stride), Wo);
  int64_t hi = std::clamp(ceil_div_clamped(d.W + d.pad - e, d.stride), lo, Wo);
  return {lo, hi};
}

// col (K, P) from one image x (C, H, W): row (c, a, e), column (i, j) holds x[c, i*s-p+a, j*s-p+e] or 0.
template <class T> void im2col(const T* x, T* col, const Conv2dDims& d) {
  const int64_t Ho = d.Ho(), Wo = d.Wo(), s = d.stride;
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t a = 0; a < d.kh; ++a)
      for (int64_t e = 0; e < d.kw; ++e) {
        T* row = col + ((c * d.kh + a) * d.kw + e) * Ho * Wo;
        const ColRange r = valid_cols(d, e, Wo);
        for (int64_t i = 0; i < Ho; ++i) {
          T* out = row + i * Wo;
          const int64_t ih = i * s - d.pad + a;
          if (ih < 0 || ih >= d.H) {
            std::fill(out, out + Wo, T(0));
            continue;
          }
          const T* src = x + (c * d.H + ih) * d.W;
          const int64_t off = e - d.pad;  // column j reads src[j*s + off]
          std::fill(out, out + r.lo, T(0));
          if (s == 1) {
            std::copy(src + r.lo + off, src + r.hi + off, out + r.lo);
          } else {
            for (int64_t j = r.lo; j < r.hi; ++j) out[j] = src[j * s + off];
          }
          std::fill(out + r.hi, out + Wo, T(0));
        }
      }
}

// The adjoint of im2col: dx (C, H, W) = sum of each col entry into the pixel it was read from.
// Padding entries fall outside the image and are dropped.
template <class T> void col2im(const T* col, T* dx, const Conv2dDims& d) {
  const int64_t Ho = d.Ho(), Wo = d.Wo(), s = d.stride;
  std::fill(dx, dx + d.C * d.H * d.W, T(0));
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t a = 0; a < d.kh; ++a)
      for (int64_t e = 0; e < d.kw; ++e) {
        const T* row = col + ((c * d.kh + a) * d.kw + e) * Ho * Wo;
        const ColRange r = valid_cols(d, e, Wo);
        for (int64_t i = 0; i < Ho; ++i) {
          const int64_t ih = i * s - d.pad + a;
          if (ih < 0 || ih >= d.H) continue;
          const T* in = row + i * Wo;
          T* dst = dx + (c * d.H + ih) * d.W;
          const int64_t off = e - d.pad;
          for (int64_t j = r.lo; j < r.hi; ++j) dst[j * s + off] += in[j];
        }
      }
}

// Per-thread scratch for col, left uninitialised because im2col writes every entry (zeroing megabytes
// per call showed up in profiles); null for pointwise convolutions, which need none.
template <class T> std::unique_ptr<T[]> col_buffer(const Conv2dDims& d) {
  if (is_pointwise(d)) return nullptr;
  return std::make_unique_for_overwrite<T[]>(size_t(d.C * d.kh * d.kw * d.Ho() * d.Wo()));
}

// dw_chunk (O, K) += dy_n · col_n^T and db_chunk (O) += row sums of dy_n for images [n0, n1).
template <class T>
void weight_grad_chunk(const T* x, const T* dy, T* dw, T* db, int64_t n0, int64_t n1, T* col,
                       const Conv2dDims& d) {
  const int64_t K = d.C * d.kh * d.kw, P = d.Ho() * d.Wo();
  MatMap<T> dwm(dw, d.O, dw ? K : 0);
  dwm.setZero();
  if (db) std::fill(db, db + d.O, T(0));
  for (int64_t n = n0; n < n1; ++n) {
    ConstMatMap<T> dyn(dy + n * d.O * P, d.O, P);
    if (db) Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(db, d.O) += dyn.rowwise().sum();
    if (!dw) continue;
    const T* xn = x + n * d.C * d.H * d.W;
    const T* cn = xn;
    if (!is_pointwise(d)) {
      im2col(xn, col, d);
      cn = col;
    }
    dwm.noalias() += dyn * ConstMatMap<T>(cn, K, P).transpose();
  }
}

// dw and db from fixed chunks of the batch, summed in chunk order (see kWeightChunks).
template <class T> void weight_grad(const T* x, const T* dy, T* dw, T* db, const Conv2dDims& d) {
  const int64_t K = d.C * d.kh * d.kw;
  const int64_t chunks = std::min(d.N, kWeightChunks);
  const int64_t stride = d.O * K + d.O;  // one chunk's dw then db
  auto part = std::make_unique_for_overwrite<T[]>(size_t(chunks * stride));  // each chunk zeroes its own
#pragma omp parallel
  {
    std::unique_ptr<T[]> col = col_buffer<T>(d);
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < chunks; ++ch) {
      T* p = part.get() + ch * stride;
      weight_grad_chunk(x, dy, dw ? p : nullptr, db ? p + d.O * K : nullptr, ch * d.N / chunks,
                        (ch + 1) * d.N / chunks, col.get(), d);
    }
  }
  // Each element adds its chunks in chunk order, so splitting the elements over threads is safe.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < stride; ++i) {
    T* out = i < d.O * K ? (dw ? dw + i : nullptr) : (db ? db + (i - d.O * K) : nullptr);
    if (!out) continue;
    T s = part[size_t(i)];
    for (int64_t ch = 1; ch < chunks; ++ch) s += part[size_t(ch * stride + i)];
    *out = s;
  }
}

}  // namespace

template <class T> void conv2d_forward_cpu(const T* x, const T* w, const T* b, T* y, const Conv2dDims& d) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_eligible(d)) return winograd_conv3x3_forward(x, w, b, y, d);
  }
  const int64_t K = d.C * d.kh * d.kw, P = d.Ho() * d.Wo();
  ConstMatMap<T> wm(w, d.O, K);
#pragma omp parallel
  {
    std::unique_ptr<T[]> col = col_buffer<T>(d);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < d.N; ++n) {
      const T* cn = x + n * d.C * d.H * d.W;
      if (!is_pointwise(d)) {
        im2col(cn, col.get(), d);
        cn = col.get();
      }
      MatMap<T> yn(y + n * d.O * P, d.O, P);
      yn.noalias() = wm * ConstMatMap<T>(cn, K, P);
      if (b) yn.colwise() += ConstVecMap<T>(b, d.O);
    }
  }
}

template <class T>
void conv2d_backward_cpu(const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, const Conv2dDims& d) {
  const int64_t K = d.C * d.kh * d.kw, P = d.Ho() * d.Wo();
  bool dx_done = false;
  if constexpr (std::is_same_v<T, float>) {
    if (dx && winograd_eligible(d)) {
      winograd_conv3x3_backward_data(w, dy, dx, d);
      dx_done = true;
    }
  }
  if (dx && !dx_done) {
    ConstMatMap<T> wm(w, d.O, K);
#pragma omp parallel
    {
      std::unique_ptr<T[]> dcol = col_buffer<T>(d);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < d.N; ++n) {
        ConstMatMap<T> dyn(dy + n * d.O * P, d.O, P);
        T* dxn = dx + n * d.C * d.H * d.W;
        if (is_pointwise(d)) {
          MatMap<T>(dxn, K, P).noalias() = wm.transpose() * dyn;
        } else {
          MatMap<T>(dcol.get(), K, P).noalias() = wm.transpose() * dyn;
          col2im(dcol.get(), dxn, d);
        }
      }
    }
  }
  if constexpr (std::is_same_v<T, float>) {
    if (dw && winograd_eligible(d)) {
      winograd_conv3x3_backward_filter(x, dy, dw, d);
      dw = nullptr;  // done; the pass below then only sums db
    }
  }
  if (dw || db) weight_grad(x, dy, dw, db, d);
}

template void conv2d_forward_cpu<float>(const float*, const float*, const float*, float*, const Conv2dDims&);
template void conv2d_forward_cpu<double>(const double*, const double*, const double*, double*, const Conv2dDims&);
template void conv2d_backward_cpu<float>(const float*, const float*, const float*, float*, float*, float*,
                                         const Conv2dDims&);
template void conv2d_backward_cpu<double>(const double*, const double*, const double*, double*, double*, double*,
                                          const Conv2dDims&);

}  // namespace dru::conv
