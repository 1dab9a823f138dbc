// ops_elementwise.cpp — broadcasting arithmetic, unary math and activations on the CPU and CUDA.
//
// Binary ops broadcast as NumPy does (align trailing dimensions; extents must match or be 1). The
// forward walks the output once; an operand's stride is 0 along a broadcast dimension. The backward
// of a broadcast operand sums the gradient back to its shape (sum_to). Unary ops and activations save
// their input or output (detached) and apply the derivative from kernels/activation/activation.h.
// On CUDA the same plan (output shape, per-operand broadcast strides) goes to engine/cuda/elementwise.cu,
// and each unary op names its kernel by a cuda::UnaryOp code next to its CPU lambdas.
#include <cmath>

#include "engine/cuda/elementwise.h"
#include "engine/ops.h"
#include "kernels/activation/activation.h"

namespace dru {

namespace {

// Element-wise loops run on all cores above this size; below it the thread start-up dominates.
constexpr int64_t kParallelMin = 1 << 15;

Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  int n = std::max(a.ndim, b.ndim);
  Shape s;
  s.ndim = n;
  for (int i = 0; i < n; ++i) {
    int64_t ea = i < n - a.ndim ? 1 : a[i - (n - a.ndim)];
    int64_t eb = i < n - b.ndim ? 1 : b[i - (n - b.ndim)];
    DRU_CHECK(ea == eb || ea == 1 || eb == 1, "{}: shapes {} and {} cannot be broadcast (dimension {}: {} vs {})", op,
          a.str(), b.str(), i, ea, eb);
    s[i] = ea == 1 ? eb : ea;
  }
  return s;
}

// Element strides of `in` viewed with the output's rank; 0 along broadcast dimensions.
std::array<int64_t, kMaxDims> broadcast_strides(const Shape& in, const Shape& out) {
  std::array<int64_t, kMaxDims> st{};
  int64_t stride = 1;
  for (int i = out.ndim - 1; i >= 0; --i) {
    int j = i - (out.ndim - in.ndim);
    if (j < 0) {
      st[size_t(i)] = 0;
      continue;
    }
    st[size_t(i)] = in[j] == 1 ? 0 : stride;
    stride *= in[j];
  }
  return st;
}

// Calls f(out_index, a_index, b_index) over every output element.
template <class F> void for_each_broadcast(const Shape& out, const Shape& sa, const Shape& sb, F&& f) {
  int64_t n = out.numel();
  if (sa == out && sb == out) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) f(i, i, i);
    return;
  }
  if (sa == out && sb.numel() == 1) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) f(i, i, int64_t(0));
    return;
  }
  auto st_a = broadcast_strides(sa, out), st_b = broadcast_strides(sb, out);
  std::array<int64_t, kMaxDims> idx{};
  int64_t ia = 0, ib = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(i, ia, ib);
    for (int d = out.ndim - 1; d >= 0; --d) {  // odometer increment
      ++idx[size_t(d)];
      ia += st_a[size_t(d)];
      ib += st_b[size_t(d)];
      if (idx[size_t(d)] < out[d]) break;
      ia -= st_a[size_t(d)] * out[d];
      ib -= st_b[size_t(d)] * out[d];
      idx[size_t(d)] = 0;
    }
  }
}

// The CUDA kernels' view of a broadcast: output extents and both operands' strides.
cuda::BroadcastPlan cuda_plan(const Shape& out, const Shape& sa, const Shape& sb) {
  static_assert(cuda::BroadcastPlan::kDims == kMaxDims);
  auto st_a = broadcast_strides(sa, out), st_b = broadcast_strides(sb, out);
  cuda::BroadcastPlan p;
  p.ndim = out.ndim;
  for (int i = 0; i < out.ndim; ++i) {
    p.shape[i] = out[i];
    p.a[i] = st_a[size_t(i)];
    p.b[i] = st_b[size_t(i)];
  }
  return p;
}

enum class BinOp { add, sub, mul, div };

cuda::BinaryOp cuda_op(BinOp op) {
  switch (op) {
    case BinOp::add: return cuda::BinaryOp::add;
    case BinOp::sub: return cuda::BinaryOp::sub;
    case BinOp::mul: return cuda::BinaryOp::mul;
    case BinOp::div: return cuda::BinaryOp::div;
  }
  return cuda::BinaryOp::add;
}

Tensor binary_forward(const char* name, BinOp op, const Tensor& a, const Tensor& b) {
  check_same(name, a, b);
  check_float(name, a);
  Shape s = broadcast_shape(name, a.shape(), b.shape());
  if (on_cuda(a)) {
    check_cuda_f32(name, a);
    Tensor out = Tensor::empty(s, DType::f32, Device::cuda);
    cuda::binary(cuda_op(op), a.data<float>(), b.data<float>(), out.data<float>(), cuda_plan(s, a.shape(), b.shape()));
    return out;
  }
  Tensor out = Tensor::empty(s, a.dtype());
  dispatch_float(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    switch (op) {
      case BinOp::add: for_each_broadcast(s, a.shape(), b.shape(), [&](int64_t i, int64_t j, int64_t k) { po[i] = pa[j] + pb[k]; }); break;
      case BinOp::sub: for_each_broadcast(s, a.shape(), b.shape(), [&](int64_t i, int64_t j, int64_t k) { po[i] = pa[j] - pb[k]; }); break;
      case BinOp::mul: for_each_broadcast(s, a.shape(), b.shape(), [&](int64_t i, int64_t j, int64_t k) { po[i] = pa[j] * pb[k]; }); break;
      case BinOp::div: for_each_broadcast(s, a.shape(), b.shape(), [&](int64_t i, int64_t j, int64_t k) { po[i] = pa[j] / pb[k]; }); break;
    }
  });
  return out;
}

// Unary map y[i] = f(x[i]) for float tensors; f is a generic lambda, code (with alpha) its CUDA kernel.
template <class F> Tensor map_unary(const char* name, const Tensor& x, cuda::UnaryOp code, double alpha, F&& f) {
  check_float(name, x);
  if (on_cuda(x)) {
    check_cuda_f32(name, x);
    Tensor out = Tensor::empty(x.shape(), DType::f32, Device::cuda);
    cuda::unary(code, x.data<float>(), out.data<float>(), x.numel(), float(alpha));
    return out;
  }
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* __restrict px = x.data<T>();
    T* __restrict py = out.data<T>();
    int64_t n = x.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) py[i] = f(px[i]);
  });
  return out;
}

// g * d(x, y) element-wise, where d is the local derivative from the saved input and output.
template <class D> Tensor grad_times(const char* name, const Tensor& g, const Tensor& x, const Tensor& y,
                                     cuda::UnaryOp code, double alpha, D&& d) {
  if (on_cuda(g)) {
    check_cuda_f32(name, g);
    Tensor out = Tensor::empty(g.shape(), DType::f32, Device::cuda);
    cuda::unary_backward(code, g.data<float>(), x.data<float>(), y.data<float>(), out.data<float>(), g.numel(),
                         float(alpha));
    return out;
  }
  Tensor out = Tensor::empty(g.shape(), g.dtype());
  dispatch_float(g.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    const T* __restrict pg = g.data<T>();
    const T* __restrict px = x.data<T>();
    const T* __restrict py = y.data<T>();
    T* __restrict po = out.data<T>();
    int64_t n = g.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) po[i] = pg[i] * d(px[i], py[i]);
  });
  return out;
}

// Records a unary op whose derivative is d(x, y) (generic lambda over the float type); code and
// alpha name the same map and derivative on CUDA.
template <class F, class D>
Tensor unary_op(const char* name, const Tensor& x, cuda::UnaryOp code, double alpha, F&& f, D d) {
  Tensor y = map_unary(name, x, code, alpha, f);
  if (!needs_grad({&x})) return y;
  Tensor xs = x.detach(), ys = y.detach();
  return record(name, y, {x}, [name, xs, ys, code, alpha, d](const Tensor& g) {
    return std::vector<Tensor>{grad_times(name, g, xs, ys, code, alpha, d)};
  });
}

}  // namespace

Tensor sum_to(const Tensor& g, const Shape& s) {
  if (g.shape() == s) return g;
  std::vector<int> dims;
  int lead = g.ndim() - s.ndim;
  DRU_CHECK(lead >= 0, "sum_to: cannot reduce shape {} to larger rank shape {}", g.shape().str(), s.str());
  for (int i = 0; i < g.ndim(); ++i)
    if (i < lead || (s[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(i);
  Tensor r = sum(g, dims, /*keepdim=*/true);
  return r.reshape(s);
}

void add_(Tensor& acc, const Tensor& g) {
  check_same("add_", acc, g);
  DRU_CHECK(acc.shape() == g.shape(), "add_: shapes {} and {} differ", acc.shape().str(), g.shape().str());
  if (on_cuda(acc)) {
    check_cuda_f32("add_", acc);
    cuda::accumulate(acc.data<float>(), g.data<float>(), acc.numel());
    return;
  }
  dispatch_float(acc.dtype(), "add_", [&](auto tag) {
    using T = decltype(tag);
    T* pa = acc.data<T>();
    const T* pg = g.data<T>();
    int64_t n = acc.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) pa[i] += pg[i];
  });
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("add", BinOp::add, a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record("add", out, {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("sub", BinOp::sub, a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record("sub", out, {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("mul", BinOp::mul, a, b);
  if (!needs_grad({&a, &b})) return out;
  Tensor ad = a.detach(), bd = b.detach();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return record("mul", out, {a, b}, [ad, bd, ga, gb](const Tensor& g) {
    return std::vector<Tensor>{ga ? sum_to(mul(g, bd), ad.shape()) : Tensor(),
                               gb ? sum_to(mul(g, ad), bd.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("div", BinOp::div, a, b);
  if (!needs_grad({&a, &b})) return out;
  Tensor ad = a.detach(), bd = b.detach(), od = out.detach();
  bool ga = a.requires_grad(), gb = b.requires_grad();
  return record("div", out, {a, b}, [ad, bd, od, ga, gb](const Tensor& g) {
    // d(a/b)/da = 1/b; d(a/b)/db = -(a/b)/b.
    return std::vector<Tensor>{ga ? sum_to(div(g, bd), ad.shape()) : Tensor(),
                               gb ? sum_to(neg(div(mul(g, od), bd)), bd.shape()) : Tensor()};
  });
}

Tensor add(const Tensor& a, double s) {
  Tensor out = map_unary("add_scalar", a, cuda::UnaryOp::add_scalar, s, [s](auto x) { return x + decltype(x)(s); });
  return record("add_scalar", out, {a}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor mul(const Tensor& a, double s) {
  Tensor out = map_unary("mul_scalar", a, cuda::UnaryOp::mul_scalar, s, [s](auto x) { return x * decltype(x)(s); });
  return record("mul_scalar", out, {a}, [s](const Tensor& g) { return std::vector<Tensor>{mul(g, s)}; });
}

Tensor neg(const Tensor& a) { return mul(a, -1.0); }

Tensor pow(const Tensor& a, double p) {
  return unary_op(
      "pow", a, cuda::UnaryOp::pow, p, [p](auto x) { return std::pow(x, decltype(x)(p)); },
      [p](auto x, auto) {
        using T = decltype(x);
        return p == 0.0 ? T(0) : T(p) * std::pow(x, T(p - 1.0));
      });
}

Tensor exp(const Tensor& a) {
  return unary_op("exp", a, cuda::UnaryOp::exp, 0.0, [](auto x) { return std::exp(x); },
                  [](auto, auto y) { return y; });
}

Tensor log(const Tensor& a) {
  return unary_op("log", a, cuda::UnaryOp::log, 0.0, [](auto x) { return std::log(x); },
                  [](auto x, auto) { return decltype(x)(1) / x; });
}

Tensor sqrt(const Tensor& a) {
  return unary_op("sqrt", a, cuda::UnaryOp::sqrt, 0.0, [](auto x) { return std::sqrt(x); },
                  [](auto, auto y) { return decltype(y)(0.5) / y; });
}

Tensor relu(const Tensor& x) {
  Tensor y = map_unary("relu", x, cuda::UnaryOp::relu, 0.0, [](auto v) { return act::relu(v); });
  if (!needs_grad({&x})) return y;
  // The mask comes from the output (y > 0 exactly where x > 0); a dedicated loop because relu's
  // backward runs after every conv block and the generic one does not vectorise.
  Tensor ys = y.detach();
  return record("relu", y, {x}, [ys](const Tensor& g) {
    if (on_cuda(g)) {
      check_cuda_f32("relu backward", g);
      Tensor gx = Tensor::empty(g.shape(), DType::f32, Device::cuda);
      cuda::unary_backward(cuda::UnaryOp::relu, g.data<float>(), nullptr, ys.data<float>(), gx.data<float>(), g.numel(),
                           0.0f);
      return std::vector<Tensor>{gx};
    }
    Tensor gx = Tensor::empty(g.shape(), g.dtype());
    dispatch_float(g.dtype(), "relu backward", [&](auto tag) {
      using T = decltype(tag);
      const T* __restrict pg = g.data<T>();
      const T* __restrict py = ys.data<T>();
      T* __restrict po = gx.data<T>();
      int64_t n = g.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
      for (int64_t i = 0; i < n; ++i) po[i] = py[i] > T(0) ? pg[i] : T(0);
    });
    return std::vector<Tensor>{gx};
  });
}

Tensor elu(const Tensor& x, double alpha) {
  return unary_op(
      "elu", x, cuda::UnaryOp::elu, alpha, [alpha](auto v) { return act::elu(v, decltype(v)(alpha)); },
      [alpha](auto v, auto y) { return act::elu_grad(v, y, decltype(v)(alpha)); });
}

Tensor sigmoid(const Tensor& x) {
  return unary_op("sigmoid", x, cuda::UnaryOp::sigmoid, 0.0, [](auto v) { return act::sigmoid(v); },
                  [](auto, auto y) { return act::sigmoid_grad_from_y(y); });
}

Tensor tanh(const Tensor& x) {
  return unary_op("tanh", x, cuda::UnaryOp::tanh, 0.0, [](auto v) { return std::tanh(v); },
                  [](auto, auto y) { return act::tanh_grad_from_y(y); });
}

Tensor gelu(const Tensor& x) {
  return unary_op("gelu", x, cuda::UnaryOp::gelu, 0.0, [](auto v) { return act::gelu(v); },
                  [](auto v, auto) { return act::gelu_grad(v); });
}

Tensor hardswish(const Tensor& x) {
  return unary_op("hardswish", x, cuda::UnaryOp::hardswish, 0.0, [](auto v) { return act::hardswish(v); },
                  [](auto v, auto) { return act::hardswish_grad(v); });
}

}  // namespace dru
