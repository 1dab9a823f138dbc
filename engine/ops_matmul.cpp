// ops_matmul.cpp — matrix products: on the CPU through Eigen, on CUDA through cuBLAS (engine/cuda/matmul.h).
//
// matmul: (M, K) x (K, N) -> (M, N), or batched (B, M, K) x (B, K, N) -> (B, M, N).
//   backward: dA = dC B^T, dB = A^T dC.
// linear: x (..., in) · w(out, in)^T + b(out) -> (..., out), PyTorch's nn.Linear layout; leading
//   dimensions are flattened into rows, so one GEMM covers a whole batch of sequences.
//   backward: dx = dy w, dw = dy^T x, db = column sums of dy.
// Buffers are row-major; Eigen maps them without copying, and cuda::gemm takes them as they are.
// The CUDA bias gradient is a fixed-order column sum, so it is bit-identical from run to run.
#include <Eigen/Dense>

#include "engine/cuda/matmul.h"
#include "engine/ops.h"

namespace dru {

namespace {

template <class T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T> using MapMat = Eigen::Map<RowMat<T>>;
template <class T> using CMapMat = Eigen::Map<const RowMat<T>>;

// C (B, M, N) = op(A) op(B) over a batch; transpose flags pick A^T / B^T views of the stored matrices.
// A is stored (B, a_rows, a_cols) and B (B, b_rows, b_cols); both on the CPU or both on CUDA.
Tensor bmm(const Tensor& a, bool ta, const Tensor& b, bool tb, int64_t batch, int64_t ar, int64_t ac, int64_t br,
           int64_t bc) {
  int64_t m = ta ? ac : ar, n = tb ? br : bc;
  Tensor c = Tensor::empty(Shape{batch, m, n}, a.dtype(), a.device());
  if (on_cuda(a)) {
    cuda::gemm(ta, tb, m, n, ta ? ar : ac, 1.f, a.data<float>(), ac, ar * ac, b.data<float>(), bc, br * bc, 0.f,
               c.data<float>(), n, m * n, batch);
    return c;
  }
  dispatch_float(a.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < batch; ++i) {
      CMapMat<T> A(a.data<T>() + i * ar * ac, ar, ac);
      CMapMat<T> B(b.data<T>() + i * br * bc, br, bc);
      MapMat<T> C(c.data<T>() + i * m * n, m, n);
      if (!ta && !tb) C.noalias() = A * B;
      else if (ta && !tb) C.noalias() = A.transpose() * B;
      else if (!ta && tb) C.noalias() = A * B.transpose();
      else C.noalias() = A.transpose() * B.transpose();
    }
  });
  return c;
}

// linear's backward on CUDA: dx = dy w, dw = dy^T x (GEMMs), db = column sums of dy.
std::vector<Tensor> linear_backward_cuda(const Tensor& g, const Tensor& x, const Tensor& w, bool gx, bool gw,
                                         bool has_b, int64_t rows, int64_t in_f, int64_t out_f) {
  std::vector<Tensor> grads(has_b ? 3 : 2);
  const float* G = g.data<float>();
  if (gx) {
    grads[0] = Tensor::empty(x.shape(), DType::f32, Device::cuda);
    cuda::gemm(false, false, rows, in_f, out_f, 1.f, G, out_f, 0, w.data<float>(), in_f, 0, 0.f,
               grads[0].data<float>(), in_f, 0, 1);
  }
  if (gw) {
    grads[1] = Tensor::empty(w.shape(), DType::f32, Device::cuda);
    cuda::gemm(true, false, out_f, in_f, rows, 1.f, G, out_f, 0, x.data<float>(), in_f, 0, 0.f,
               grads[1].data<float>(), in_f, 0, 1);
  }
  if (has_b) {
    grads[2] = Tensor::empty(Shape{out_f}, DType::f32, Device::cuda);
    cuda::column_sum(G, grads[2].data<float>(), rows, out_f);
  }
  return grads;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  const char* op = "matmul";
  check_same(op, a, b);
  check_float(op, a);
  if (on_cuda(a)) check_cuda_f32(op, a);
  DRU_CHECK((a.ndim() == 2 && b.ndim() == 2) || (a.ndim() == 3 && b.ndim() == 3),
            "matmul: shapes {} and {}: both must be 2-D (M, K)x(K, N) or 3-D (B, M, K)x(B, K, N)", a.shape().str(),
            b.shape().str());
  bool batched = a.ndim() == 3;
  int64_t B = batched ? a.size(0) : 1;
  int64_t M = a.size(-2), K = a.size(-1), K2 = b.size(-2), N = b.size(-1);
  DRU_CHECK(K == K2 && (!batched || b.size(0) == B), "matmul: shapes {} and {} do not chain (inner {} vs {})",
            a.shape().str(), b.shape().str(), K, K2);
  Tensor c = bmm(a, false, b, false, B, M, K, K2, N);
  if (!batched) c = c.reshape(Shape{M, N});  // c has no history yet: a plain view
  if (!needs_grad({&a, &b})) return c;
  Tensor ad = a.detach(), bd = b.detach();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(op, c, {a, b}, [=](const Tensor& g) {
    check_same("matmul backward", g, ad);
    Tensor da, db;
    if (ga) da = bmm(g, false, bd, true, B, M, N, K, N).reshape(ad.shape());  // dC B^T
    if (gb) db = bmm(ad, true, g, false, B, M, K, M, N).reshape(bd.shape());  // A^T dC
    return std::vector<Tensor>{da, db};
  });
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const char* op = "linear";
  check_same(op, x, w);
  check_float(op, x);
  if (on_cuda(x)) check_cuda_f32(op, x);
  DRU_CHECK(w.ndim() == 2, "linear: weight has shape {}; expected (out, in)", w.shape().str());
  DRU_CHECK(x.ndim() >= 1 && x.size(-1) == w.size(1), "linear: input {} does not match weight {} (in = {})",
            x.shape().str(), w.shape().str(), w.size(1));
  int64_t out_f = w.size(0), in_f = w.size(1), rows = x.numel() / std::max<int64_t>(in_f, 1);
  if (b.defined()) {
    check_same(op, x, b);
    DRU_CHECK(b.ndim() == 1 && b.size(0) == out_f, "linear: bias has shape {}; expected ({},)", b.shape().str(),
              out_f);
  }
  Shape ys = x.shape();
  ys[ys.ndim - 1] = out_f;
  Tensor y = Tensor::empty(ys, x.dtype(), x.device());
  if (on_cuda(x)) {
    // Y (rows, out) = X (rows, in) W^T, then the bias on every row.
    cuda::gemm(false, true, rows, out_f, in_f, 1.f, x.data<float>(), in_f, 0, w.data<float>(), in_f, 0, 0.f,
               y.data<float>(), out_f, 0, 1);
    if (b.defined()) cuda::add_row_bias(y.data<float>(), b.data<float>(), rows, out_f);
  } else {
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      CMapMat<T> X(x.data<T>(), rows, in_f);
      CMapMat<T> W(w.data<T>(), out_f, in_f);
      MapMat<T> Y(y.data<T>(), rows, out_f);
      Y.noalias() = X * W.transpose();
      if (b.defined()) Y.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(b.data<T>(), out_f);
    });
  }
  std::vector<Tensor> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  if (!needs_grad(inputs)) return y;
  Tensor xd = x.detach(), wd = w.detach();
  bool gx = x.requires_grad(), gw = w.requires_grad(), has_b = b.defined();
  return record(op, y, inputs, [=](const Tensor& g) {
    check_same("linear backward", g, wd);
    if (on_cuda(g)) return linear_backward_cuda(g, xd, wd, gx, gw, has_b, rows, in_f, out_f);
    std::vector<Tensor> grads(has_b ? 3 : 2);
    dispatch_float(g.dtype(), "linear backward", [&](auto tag) {
      using T = decltype(tag);
      CMapMat<T> G(g.data<T>(), rows, out_f);
      if (gx) {
        grads[0] = Tensor::empty(xd.shape(), g.dtype());
        MapMat<T>(grads[0].data<T>(), rows, in_f).noalias() = G * CMapMat<T>(wd.data<T>(), out_f, in_f);
      }
      if (gw) {
        grads[1] = Tensor::empty(wd.shape(), g.dtype());
        MapMat<T>(grads[1].data<T>(), out_f, in_f).noalias() = G.transpose() * CMapMat<T>(xd.data<T>(), rows, in_f);
      }
      if (has_b) {
        grads[2] = Tensor::empty(Shape{out_f}, g.dtype());
        Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(grads[2].data<T>(), out_f) = G.colwise().sum();
      }
    });
    return grads;
  });
}

}  // namespace dru
