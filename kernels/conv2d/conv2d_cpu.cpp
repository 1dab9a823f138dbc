// conv2d_cpu.cpp — the CPU convolution: im2col + one GEMM per group of images, OpenMP over the groups.
//
// See conv2d.h for the math and the layouts. Every matrix here is row-major and mapped, not copied:
// w is (O, K), a group's col is (K, nb * P) and its outputs (O, nb * P), with K = C*kh*kw and
// P = Ho*Wo: the nb images of a group sit side by side as column blocks, so one GEMM serves them all.
// Instantiated for float (training) and double (gradient checks).
#include "kernels/common/scratch.h"
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

// Images per GEMM: one image of a small map (layer4 of a ResNet at 32x32 input has P = 16 columns)
// makes a GEMM too thin to run well, and it re-reads the whole weight matrix per image. Groups of nb
// images give nb * P >= kMinColumns columns; the forward and input gradient keep at least kMinBatches
// groups so every thread has work. Group sizes never depend on the thread count, and each GEMM call
// has the same shape whatever the number of threads, so results are bitwise reproducible.
constexpr int64_t kMinColumns = 1024;
constexpr int64_t kMinBatches = 2;
// The weight gradient sums groups into this many chunk buffers, then adds them in chunk order.
constexpr int64_t kWeightChunks = 8;

// ceil(a / s) for the column bounds below, with a <= 0 giving 0.
int64_t ceil_div_clamped(int64_t a, int64_t s) { return a <= 0 ? 0 : (a + s - 1) / s; }

// Output columns j whose input column j*s - p + e lies inside [0, W): the range [lo, hi).
struct ColRange {
  int64_t lo, hi;
};
ColRange valid_cols(const Conv2dDims& d, int64_t e, int64_t Wo) {
  int64_t lo = std::min(ceil_div_clamped(d.pad - e, d.stride), Wo);
  int64_t hi = std::clamp(ceil_div_clamped(d.W + d.pad - e, d.stride), lo, Wo);
  return {lo, hi};
}

// One image x (C, H, W) into its P columns of a col matrix whose rows are ld apart: row (c, a, e),
// column (i, j) holds x[c, i*s-p+a, j*s-p+e] or 0.
template <class T> void im2col(const T* x, T* col, int64_t ld, const Conv2dDims& d) {
  const int64_t Ho = d.Ho(), Wo = d.Wo(), s = d.stride;
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t a = 0; a < d.kh; ++a)
      for (int64_t e = 0; e < d.kw; ++e) {
        T* row = col + ((c * d.kh + a) * d.kw + e) * ld;
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
template <class T> void col2im(const T* col, int64_t ld, T* dx, const Conv2dDims& d) {
  const int64_t Ho = d.Ho(), Wo = d.Wo(), s = d.stride;
  std::fill(dx, dx + d.C * d.H * d.W, T(0));
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t a = 0; a < d.kh; ++a)
      for (int64_t e = 0; e < d.kw; ++e) {
        const T* row = col + ((c * d.kh + a) * d.kw + e) * ld;
        const ColRange r = valid_cols(d, e, Wo);
        for (int64_t i = 0; i < Ho; ++i) {
          const int64_t ih = i * s - d.pad + a;
          if (ih < 0 || ih >= d.H) continue;
          const T* in = row + i * Wo;
          T* dst = dx + (c * d.H + ih) * d.W + (e - d.pad);
          if (s == 1) {
#pragma omp simd
            for (int64_t j = r.lo; j < r.hi; ++j) dst[j] += in[j];
          } else {
            for (int64_t j = r.lo; j < r.hi; ++j) dst[j * s] += in[j];
          }
        }
      }
}

int64_t images_per_gemm(const Conv2dDims& d, bool keep_batches) {
  const int64_t P = d.Ho() * d.Wo();
  int64_t nb = std::max<int64_t>(1, (kMinColumns + P - 1) / P);
  if (keep_batches) nb = std::min(nb, std::max<int64_t>(1, d.N / kMinBatches));
  return std::min(nb, d.N);
}

// One image's (R, P) block into columns [0, P) of a group matrix whose rows are ld apart, and back.
template <class T> void gather_image(const T* image, T* group, int64_t ld, int64_t R, int64_t P) {
  for (int64_t r = 0; r < R; ++r) std::copy(image + r * P, image + (r + 1) * P, group + r * ld);
}
template <class T> void scatter_image(const T* group, T* image, int64_t ld, int64_t R, int64_t P) {
  for (int64_t r = 0; r < R; ++r) std::copy(group + r * ld, group + r * ld + P, image + r * P);
}

// dw (O, K) and db (O) over the whole batch. The groups are split into a fixed number of chunks
// (kWeightChunks, not one per thread); each chunk sums its groups' dy_g · col_g^T into its own
// buffer, and the buffers are added in chunk order: the result does not depend on the thread count
// and needs no float atomics.
template <class T> void weight_grad(const T* x, const T* dy, T* dw, T* db, const Conv2dDims& d) {
  const int64_t K = d.C * d.kh * d.kw, P = d.Ho() * d.Wo(), nb_max = images_per_gemm(d, false);
  if (db) {
#pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < d.O; ++o) {
      T s = 0;
      for (int64_t n = 0; n < d.N; ++n) s += ConstVecMap<T>(dy + (n * d.O + o) * P, P).sum();
      db[o] = s;
    }
  }
  if (!dw) return;
  const int64_t groups = (d.N + nb_max - 1) / nb_max, chunks = std::min(groups, kWeightChunks);
  auto part = aligned_scratch<T>(size_t(chunks * d.O * K));
#pragma omp parallel
  {
    auto col = aligned_scratch<T>(size_t(K * nb_max * P));
    auto dyg = aligned_scratch<T>(size_t(d.O * nb_max * P));
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < chunks; ++ch) {
      MatMap<T> acc(part.get() + ch * d.O * K, d.O, K);
      for (int64_t g = ch * groups / chunks; g < (ch + 1) * groups / chunks; ++g) {
        const int64_t n0 = g * nb_max, nb = std::min(nb_max, d.N - n0), L = nb * P;
        for (int64_t k = 0; k < nb; ++k) {
          im2col(x + (n0 + k) * d.C * d.H * d.W, col.get() + k * P, L, d);
          gather_image(dy + (n0 + k) * d.O * P, dyg.get() + k * P, L, d.O, P);
        }
        auto prod = ConstMatMap<T>(dyg.get(), d.O, L) * ConstMatMap<T>(col.get(), K, L).transpose();
        if (g == ch * groups / chunks)
          acc.noalias() = prod;
        else
          acc.noalias() += prod;
      }
    }
  }
  // Each element adds its chunks in chunk order, so splitting the elements over threads is safe.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < d.O * K; ++i) {
    T s = part[size_t(i)];
    for (int64_t ch = 1; ch < chunks; ++ch) s += part[size_t(ch * d.O * K + i)];
    dw[i] = s;
  }
}

}  // namespace

template <class T> void conv2d_forward_cpu(const T* x, const T* w, const T* b, T* y, const Conv2dDims& d) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_eligible(d)) return winograd_conv3x3_forward(x, w, b, y, d);
  }
  const int64_t K = d.C * d.kh * d.kw, P = d.Ho() * d.Wo(), nb_max = images_per_gemm(d, true);
  const int64_t groups = (d.N + nb_max - 1) / nb_max;
  ConstMatMap<T> wm(w, d.O, K);
#pragma omp parallel
  {
    auto col = aligned_scratch<T>(size_t(K * nb_max * P));
    auto yg = aligned_scratch<T>(size_t(d.O * nb_max * P));
#pragma omp for schedule(static)
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t n0 = g * nb_max, nb = std::min(nb_max, d.N - n0), L = nb * P;
      for (int64_t k = 0; k < nb; ++k) im2col(x + (n0 + k) * d.C * d.H * d.W, col.get() + k * P, L, d);
      MatMap<T> ym(yg.get(), d.O, L);
      ym.noalias() = wm * ConstMatMap<T>(col.get(), K, L);
      if (b) ym.colwise() += ConstVecMap<T>(b, d.O);
      for (int64_t k = 0; k < nb; ++k) scatter_image(yg.get() + k * P, y + (n0 + k) * d.O * P, L, d.O, P);
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
    const int64_t nb_max = images_per_gemm(d, true), groups = (d.N + nb_max - 1) / nb_max;
    ConstMatMap<T> wm(w, d.O, K);
#pragma omp parallel
    {
      auto dcol = aligned_scratch<T>(size_t(K * nb_max * P));
      auto dyg = aligned_scratch<T>(size_t(d.O * nb_max * P));
#pragma omp for schedule(static)
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t n0 = g * nb_max, nb = std::min(nb_max, d.N - n0), L = nb * P;
        for (int64_t k = 0; k < nb; ++k)
          gather_image(dy + (n0 + k) * d.O * P, dyg.get() + k * P, L, d.O, P);
        MatMap<T>(dcol.get(), K, L).noalias() = wm.transpose() * ConstMatMap<T>(dyg.get(), d.O, L);
        for (int64_t k = 0; k < nb; ++k) col2im(dcol.get() + k * P, L, dx + (n0 + k) * d.C * d.H * d.W, d);
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
