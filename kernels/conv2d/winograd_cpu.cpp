// winograd_cpu.cpp — 3x3 stride-1 convolutions with Winograd's F(2x2, 3x3) (Lavin & Gray, 2016).
//
// Each 2x2 block of outputs is computed from a 4x4 input tile d and a 3x3 filter g as
//   Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A,
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// Summed over input channels, the element-wise products become 16 independent GEMMs
//   M[k] (O, T) = U[k] (O, C) · V[k] (C, T),  k = 0..15, T = number of tiles,
// which cost 16 multiplies per 2x2 outputs instead of 36: 2.25x fewer than im2col + GEMM. The
// transforms are additions only. Layouts: U (16, O, C), V (16, C, T), M (16, O, T), row-major;
// tiles are numbered image-major, then tile row, then tile column.
//
// The backward pass to the input of a 3x3 stride-1 convolution with padding p is itself such a
// convolution: dy convolved with the flipped, transposed filters (C, O, 3, 3) and padding 2 - p.
// Float only: double (the gradient-check type) stays on the im2col reference, and a test compares
// the two. Rounding differs from im2col by a few ulps (the transforms add and halve).
#include <Eigen/Core>
#include <algorithm>
#include <memory>

#include "kernels/common/scratch.h"
#include "kernels/conv2d/conv2d.h"

namespace dru::conv {

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Images per GEMM batch: at least 2 (measured on the AllCNN step, 1, 2, 4 and 8 images of 32x32 gave
// 319, 318, 327 and 330 ms: V and M should stay in the core's L2), and on small maps enough images
// for kMinTiles tiles, or the 16 GEMMs become thin and re-read all of U per batch; but at most half
// the batch, so both cores of a small machine get work. Never depends on the thread count.
constexpr int64_t kMinImages = 2;
constexpr int64_t kMinTiles = 256;

// Fixed number of partial filter-gradient buffers (16 * O * C floats each), independent of the
// thread count so the summation order never changes.
constexpr int64_t kFilterGradChunks = 8;

struct Tiles {
  int64_t Ho, Wo, th, tw;  // output size and tiles per image along each axis
  explicit Tiles(const Conv2dDims& d) : Ho(d.Ho()), Wo(d.Wo()), th((d.Ho() + 1) / 2), tw((d.Wo() + 1) / 2) {}
  int64_t per_image() const { return th * tw; }
};

int64_t images_per_batch(const Tiles& tl, int64_t N) {
  int64_t nb = std::max(kMinImages, (kMinTiles + tl.per_image() - 1) / tl.per_image());
  return std::max<int64_t>(1, std::min({nb, (N + 1) / 2, N}));
}

// Per-thread buffers of one batch of images: V (16, C, T), M (16, O, T) (the products in the forward,
// the lifted output gradients in the filter gradient), a zero-bordered image plane and row scratch.
struct Scratch {
  Scratch64<float> V, M, pad, rows;
  Scratch(const Conv2dDims& d, const Tiles& tl, int64_t nb) {
    const int64_t T = nb * tl.per_image(), Wp = 2 * tl.tw + 2;
    V = aligned_scratch<float>(size_t(16 * d.C * T));
    M = aligned_scratch<float>(size_t(16 * d.O * T));
    pad = aligned_scratch<float>(size_t((2 * tl.th + 2) * Wp));
    rows = aligned_scratch<float>(size_t(8 * Wp));
  }
};

// U (16, O, C) = G g G^T for every filter g = w[o, c].
void transform_filters(const float* w, float* U, int64_t O, int64_t C) {
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) {
      const float* g = w + (o * C + c) * 9;
      float t[4][3];  // G g
      for (int e = 0; e < 3; ++e) {
        t[0][e] = g[e];
        t[1][e] = 0.5f * (g[e] + g[3 + e] + g[6 + e]);
        t[2][e] = 0.5f * (g[e] - g[3 + e] + g[6 + e]);
        t[3][e] = g[6 + e];
      }
      for (int i = 0; i < 4; ++i) {
        const float u[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]), 0.5f * (t[i][0] - t[i][1] + t[i][2]),
                            t[i][2]};
        for (int j = 0; j < 4; ++j) U[((i * 4 + j) * O + o) * C + c] = u[j];
      }
    }
}

// V (16, C, T) for images [n0, n0 + nb): the 4x4 tile at tile (ti, tj) starts at input row 2ti - p
// and column 2tj - p; pixels outside the image read as zero. Each image plane is first copied into a
// zero-bordered buffer so the transform needs no bounds checks; B^T d is applied to whole rows at
// once and d B along each row, so every inner loop runs over tiles with unit-stride stores.
void transform_inputs(const float* x, float* V, int64_t n0, int64_t nb, const Conv2dDims& d, const Tiles& tl,
                      float* pad_buf, float* rows_buf) {
  const int64_t T = nb * tl.per_image();
  const int64_t Hp = 2 * tl.th + 2, Wp = 2 * tl.tw + 2;  // every tile fits inside
  std::fill(pad_buf, pad_buf + Hp * Wp, 0.0f);
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t k = 0; k < nb; ++k) {
      const float* img = x + ((n0 + k) * d.C + c) * d.H * d.W;
      for (int64_t i = 0; i < d.H && i + d.pad < Hp; ++i)
        std::copy(img + i * d.W, img + i * d.W + std::min(d.W, Wp - d.pad), pad_buf + (i + d.pad) * Wp + d.pad);
      for (int64_t ti = 0; ti < tl.th; ++ti) {
        const float* __restrict r0 = pad_buf + (2 * ti) * Wp;
        const float *__restrict r1 = r0 + Wp, *__restrict r2 = r1 + Wp, *__restrict r3 = r2 + Wp;
        float* __restrict b0 = rows_buf;
        float *__restrict b1 = b0 + Wp, *__restrict b2 = b1 + Wp, *__restrict b3 = b2 + Wp;
#pragma omp simd
        for (int64_t q = 0; q < Wp; ++q) {  // B^T d over the tile row
          b0[q] = r0[q] - r2[q];
          b1[q] = r1[q] + r2[q];
          b2[q] = r2[q] - r1[q];
          b3[q] = r1[q] - r3[q];
        }
        const int64_t t0 = (k * tl.th + ti) * tl.tw;
        const float* b[4] = {b0, b1, b2, b3};
        for (int r = 0; r < 4; ++r) {  // (B^T d) B along the row
          const float* __restrict br = b[r];
          float* __restrict v0 = V + ((r * 4 + 0) * d.C + c) * T + t0;
          float* __restrict v1 = V + ((r * 4 + 1) * d.C + c) * T + t0;
          float* __restrict v2 = V + ((r * 4 + 2) * d.C + c) * T + t0;
          float* __restrict v3 = V + ((r * 4 + 3) * d.C + c) * T + t0;
#pragma omp simd
          for (int64_t tj = 0; tj < tl.tw; ++tj) {
            const float* e = br + 2 * tj;
            v0[tj] = e[0] - e[2];
            v1[tj] = e[1] + e[2];
            v2[tj] = e[2] - e[1];
            v3[tj] = e[1] - e[3];
          }
        }
      }
    }
}

// y for images [n0, n0 + nb) from M (16, O, T): each 2x2 block is A^T m A (plus the bias); blocks
// that overhang an odd-sized output are clipped. Inner loops run over the tiles of one tile row.
void transform_outputs(const float* M, const float* bias, float* y, int64_t n0, int64_t nb, const Conv2dDims& d,
                       const Tiles& tl, float* rows_buf) {
  const int64_t T = nb * tl.per_image();
  float* a[2][4];
  for (int r = 0; r < 2; ++r)
    for (int s = 0; s < 4; ++s) a[r][s] = rows_buf + (r * 4 + s) * tl.tw;
  for (int64_t o = 0; o < d.O; ++o) {
    const float b0 = bias ? bias[o] : 0.0f;
    for (int64_t k = 0; k < nb; ++k) {
      float* out = y + ((n0 + k) * d.O + o) * tl.Ho * tl.Wo;
      for (int64_t ti = 0; ti < tl.th; ++ti) {
        const int64_t t0 = (k * tl.th + ti) * tl.tw;
        for (int s = 0; s < 4; ++s) {  // A^T m down each column of the 4x4 blocks
          const float* m0 = M + ((0 * 4 + s) * d.O + o) * T + t0;
          const float* m1 = M + ((1 * 4 + s) * d.O + o) * T + t0;
          const float* m2 = M + ((2 * 4 + s) * d.O + o) * T + t0;
          const float* m3 = M + ((3 * 4 + s) * d.O + o) * T + t0;
          for (int64_t tj = 0; tj < tl.tw; ++tj) {
            a[0][s][tj] = m0[tj] + m1[tj] + m2[tj];
            a[1][s][tj] = m1[tj] - m2[tj] - m3[tj];
          }
        }
        for (int r = 0; r < 2; ++r) {  // (A^T m) A
          const int64_t i = 2 * ti + r;
          if (i >= tl.Ho) continue;
          float* row = out + i * tl.Wo;
          const float *p0 = a[r][0], *p1 = a[r][1], *p2 = a[r][2], *p3 = a[r][3];
          const int64_t full = tl.Wo / 2;  // tiles whose two columns both exist
          for (int64_t tj = 0; tj < full; ++tj) {
            row[2 * tj] = p0[tj] + p1[tj] + p2[tj] + b0;
            row[2 * tj + 1] = p1[tj] - p2[tj] - p3[tj] + b0;
          }
          if (full < tl.tw) row[2 * full] = p0[full] + p1[full] + p2[full] + b0;
        }
      }
    }
  }
}

// DY (16, O, T) for images [n0, n0 + nb): each 2x2 block of dy (zeros past an odd-sized edge) is
// lifted to 4x4 as A dy A^T (A = [1 0; 1 1; 1 -1; 0 -1]), the adjoint of the output transform.
// A dy is applied to whole row pairs, then dy A^T along the row, as in transform_inputs.
void transform_output_grads(const float* dy, float* DY, int64_t n0, int64_t nb, const Conv2dDims& d,
                            const Tiles& tl, float* rows_buf) {
  const int64_t T = nb * tl.per_image(), Wt = 2 * tl.tw;  // row length rounded up to whole tiles
  float* y0 = rows_buf;
  float *y1 = y0 + Wt, *t1 = y1 + Wt, *t2 = t1 + Wt;
  for (int64_t o = 0; o < d.O; ++o)
    for (int64_t k = 0; k < nb; ++k) {
      const float* g = dy + ((n0 + k) * d.O + o) * tl.Ho * tl.Wo;
      for (int64_t ti = 0; ti < tl.th; ++ti) {
        for (int r = 0; r < 2; ++r) {
          float* dst = r == 0 ? y0 : y1;
          const int64_t i = 2 * ti + r;
          if (i < tl.Ho) std::copy(g + i * tl.Wo, g + (i + 1) * tl.Wo, dst);
          std::fill(dst + (i < tl.Ho ? tl.Wo : 0), dst + Wt, 0.0f);
        }
        for (int64_t q = 0; q < Wt; ++q) {  // A dy: rows y0, y0 + y1, y0 - y1, -y1
          t1[q] = y0[q] + y1[q];
          t2[q] = y0[q] - y1[q];
        }
        const int64_t t0 = (k * tl.th + ti) * tl.tw;
        const float* rows[4] = {y0, t1, t2, y1};
        const float sign[4] = {1.0f, 1.0f, 1.0f, -1.0f};
        for (int r = 0; r < 4; ++r) {  // (A dy) A^T along the row
          const float* __restrict e = rows[r];
          const float sg = sign[r];
          float* __restrict u0 = DY + ((r * 4 + 0) * d.O + o) * T + t0;
          float* __restrict u1 = DY + ((r * 4 + 1) * d.O + o) * T + t0;
          float* __restrict u2 = DY + ((r * 4 + 2) * d.O + o) * T + t0;
          float* __restrict u3 = DY + ((r * 4 + 3) * d.O + o) * T + t0;
#pragma omp simd
          for (int64_t tj = 0; tj < tl.tw; ++tj) {
            const float a = sg * e[2 * tj], b = sg * e[2 * tj + 1];
            u0[tj] = a;
            u1[tj] = a + b;
            u2[tj] = a - b;
            u3[tj] = -b;
          }
        }
      }
    }
}

// dw[o, c] = G^T dU[o, c] G for every filter, from dU (16, O, C): the adjoint of transform_filters.
void inverse_transform_filter_grads(const float* dU, float* dw, int64_t O, int64_t C) {
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) {
      float u[4][4];
      for (int k = 0; k < 16; ++k) u[k / 4][k % 4] = dU[(k * O + o) * C + c];
      float t[3][4];  // G^T dU
      for (int j = 0; j < 4; ++j) {
        t[0][j] = u[0][j] + 0.5f * (u[1][j] + u[2][j]);
        t[1][j] = 0.5f * (u[1][j] - u[2][j]);
        t[2][j] = 0.5f * (u[1][j] + u[2][j]) + u[3][j];
      }
      float* g = dw + (o * C + c) * 9;
      for (int a = 0; a < 3; ++a) {  // (G^T dU) G
        g[a * 3 + 0] = t[a][0] + 0.5f * (t[a][1] + t[a][2]);
        g[a * 3 + 1] = 0.5f * (t[a][1] - t[a][2]);
        g[a * 3 + 2] = 0.5f * (t[a][1] + t[a][2]) + t[a][3];
      }
    }
}

}  // namespace

bool winograd_eligible(const Conv2dDims& d) {
  // Few input channels make the 16 GEMMs too thin to beat one im2col GEMM (the RGB stem).
  return d.kh == 3 && d.kw == 3 && d.stride == 1 && d.pad <= 2 && d.C >= 16 && d.O >= 16 && d.Ho() * d.Wo() >= 64;
}

void winograd_conv3x3_forward(const float* x, const float* w, const float* b, float* y, const Conv2dDims& d) {
  const Tiles tl(d);
  auto U = aligned_scratch<float>(size_t(16 * d.O * d.C));
  transform_filters(w, U.get(), d.O, d.C);
  const int64_t per = images_per_batch(tl, d.N), batches = (d.N + per - 1) / per;
#pragma omp parallel
  {
    Scratch sc(d, tl, per);
#pragma omp for schedule(dynamic, 1)
    for (int64_t bi = 0; bi < batches; ++bi) {
      const int64_t n0 = bi * per, nb = std::min(per, d.N - n0), T = nb * tl.per_image();
      transform_inputs(x, sc.V.get(), n0, nb, d, tl, sc.pad.get(), sc.rows.get());
      for (int k = 0; k < 16; ++k) {
        Eigen::Map<const RowMat> Uk(U.get() + k * d.O * d.C, d.O, d.C);
        Eigen::Map<const RowMat> Vk(sc.V.get() + k * d.C * T, d.C, T);
        Eigen::Map<RowMat>(sc.M.get() + k * d.O * T, d.O, T).noalias() = Uk * Vk;
      }
      transform_outputs(sc.M.get(), b, y, n0, nb, d, tl, sc.rows.get());
    }
  }
}

void winograd_conv3x3_backward_data(const float* w, const float* dy, float* dx, const Conv2dDims& d) {
  // wt (C, O, 3, 3): wt[c, o, a, e] = w[o, c, 2 - a, 2 - e].
  auto wt = aligned_scratch<float>(size_t(d.O * d.C * 9));
  for (int64_t o = 0; o < d.O; ++o)
    for (int64_t c = 0; c < d.C; ++c)
      for (int a = 0; a < 9; ++a) wt[size_t((c * d.O + o) * 9 + a)] = w[(o * d.C + c) * 9 + (8 - a)];
  const Conv2dDims t{d.N, d.O, d.Ho(), d.Wo(), d.C, 3, 3, 1, 2 - d.pad};
  winograd_conv3x3_forward(dy, wt.get(), nullptr, dx, t);
}

void winograd_conv3x3_backward_filter(const float* x, const float* dy, float* dw, const Conv2dDims& d) {
  // dU[k] (O, C) = sum over tiles of DY[k] (O, T) V[k]^T (T, C), then dw = G^T dU G. As in the im2col
  // weight gradient, batches are summed into a fixed number of chunk buffers added in chunk order:
  // bitwise the same result for any thread count, and no atomics.
  const Tiles tl(d);
  const int64_t per = images_per_batch(tl, d.N), batches = (d.N + per - 1) / per;
  const int64_t chunks = std::min<int64_t>(batches, kFilterGradChunks), usize = 16 * d.O * d.C;
  auto part = aligned_scratch<float>(size_t(chunks * usize));  // chunks accumulate: zero it
  std::fill(part.get(), part.get() + chunks * usize, 0.0f);
#pragma omp parallel
  {
    Scratch sc(d, tl, per);
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < chunks; ++ch)
      for (int64_t bi = ch * batches / chunks; bi < (ch + 1) * batches / chunks; ++bi) {
        const int64_t n0 = bi * per, nb = std::min(per, d.N - n0), T = nb * tl.per_image();
        transform_inputs(x, sc.V.get(), n0, nb, d, tl, sc.pad.get(), sc.rows.get());
        transform_output_grads(dy, sc.M.get(), n0, nb, d, tl, sc.rows.get());
        for (int k = 0; k < 16; ++k) {
          Eigen::Map<const RowMat> DYk(sc.M.get() + k * d.O * T, d.O, T);
          Eigen::Map<const RowMat> Vk(sc.V.get() + k * d.C * T, d.C, T);
          Eigen::Map<RowMat>(part.get() + ch * usize + k * d.O * d.C, d.O, d.C).noalias() += DYk * Vk.transpose();
        }
      }
  }
  for (int64_t ch = 1; ch < chunks; ++ch)
    for (int64_t i = 0; i < usize; ++i) part[size_t(i)] += part[size_t(ch * usize + i)];
  inverse_transform_filter_grads(part.get(), dw, d.O, d.C);
}

}  // namespace dru::conv
