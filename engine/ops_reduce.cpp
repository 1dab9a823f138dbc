// ops_reduce.cpp — sum and mean over dimensions, and L2 normalisation along a dimension.
//
// A reduction over a set of dimensions views the input as (outer..., reduced..., inner...) only when
// the reduced dimensions are contiguous; in general each input element's output index is its own
// index with the reduced coordinates zeroed, which one odometer walk computes. Sums accumulate in the
// element type (f64 for gradient checks); the backward broadcasts the gradient back. On CUDA the
// sums run in engine/cuda/reduce.cu (deterministic: fixed-order trees, no atomics) and the backward
// is the broadcast copy of engine/cuda/elementwise.cu.
#include <algorithm>
#include <cmath>

#include "engine/cuda/elementwise.h"
#include "engine/cuda/reduce.h"
#include "engine/ops.h"

namespace dru {

namespace {

// Output shape with reduced dims kept as 1 (keepdim) — the caller reshapes when !keepdim.
Shape keepdim_shape(const Shape& in, const std::vector<bool>& reduced) {
  Shape s = in;
  for (int i = 0; i < in.ndim; ++i)
    if (reduced[size_t(i)]) s[i] = 1;
  return s;
}

Shape dropped_shape(const Shape& in, const std::vector<bool>& reduced) {
  std::vector<int64_t> d;
  for (int i = 0; i < in.ndim; ++i)
    if (!reduced[size_t(i)]) d.push_back(in[i]);
  return Shape(d);
}

std::vector<bool> reduced_mask(const char* op, const Shape& s, const std::vector<int>& dims) {
  std::vector<bool> r(size_t(s.ndim), false);
  for (int d : dims) {
    int a = s.axis(d, op);
    DRU_CHECK(!r[size_t(a)], "{}: dimension {} listed twice for shape {}", op, d, s.str());
    r[size_t(a)] = true;
  }
  return r;
}

// Sums x into a tensor of shape keepdim_shape(x, reduced).
Tensor sum_kernel(const Tensor& x, const std::vector<bool>& reduced) {
  Shape ks = keepdim_shape(x.shape(), reduced);
  Tensor out = Tensor::zeros(ks, x.dtype());
  const Shape& s = x.shape();
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    // Output strides, 0 along reduced dims.
    std::array<int64_t, kMaxDims> ost{};
    int64_t stride = 1;
    for (int i = s.ndim - 1; i >= 0; --i) {
      ost[size_t(i)] = reduced[size_t(i)] ? 0 : stride;
      stride *= ks[i];
    }
    std::array<int64_t, kMaxDims> idx{};
    int64_t o = 0, n = x.numel();
    for (int64_t i = 0; i < n; ++i) {
      po[o] += px[i];
      for (int d = s.ndim - 1; d >= 0; --d) {
        ++idx[size_t(d)];
        o += ost[size_t(d)];
        if (idx[size_t(d)] < s[d]) break;
        o -= ost[size_t(d)] * s[d];
        idx[size_t(d)] = 0;
      }
    }
  });
  return out;
}

// Broadcasts g (keepdim shape) back to shape s, times scale.
Tensor expand_to(const Tensor& g, const Shape& s, double scale) {
  Shape gs = g.shape();
  if (on_cuda(g)) {
    check_cuda_f32("sum backward", g);
    static_assert(cuda::BroadcastPlan::kDims == kMaxDims);
    cuda::BroadcastPlan p;
    p.ndim = s.ndim;
    int64_t stride = 1;
    for (int i = s.ndim - 1; i >= 0; --i) {
      p.shape[i] = s[i];
      p.a[i] = gs[i] == 1 ? 0 : stride;
      stride *= gs[i];
    }
    Tensor out = Tensor::empty(s, DType::f32, Device::cuda);
    cuda::broadcast_scale(g.data<float>(), out.data<float>(), p, float(scale));
    return out;
  }
  Tensor out = Tensor::empty(s, g.dtype());
  dispatch_float(g.dtype(), "sum backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.data<T>();
    T* po = out.data<T>();
    std::array<int64_t, kMaxDims> gst{};
    int64_t stride = 1;
    for (int i = s.ndim - 1; i >= 0; --i) {
      gst[size_t(i)] = gs[i] == 1 ? 0 : stride;
      stride *= gs[i];
    }
    std::array<int64_t, kMaxDims> idx{};
    int64_t o = 0, n = out.numel();
    T sc = T(scale);
    for (int64_t i = 0; i < n; ++i) {
      po[i] = pg[o] * sc;
      for (int d = s.ndim - 1; d >= 0; --d) {
        ++idx[size_t(d)];
        o += gst[size_t(d)];
        if (idx[size_t(d)] < s[d]) break;
        o -= gst[size_t(d)] * s[d];
        idx[size_t(d)] = 0;
      }
    }
  });
  return out;
}

Tensor reduce(const char* op, const Tensor& x, const std::vector<int>& dims, bool keepdim, bool is_mean) {
  check_float(op, x);
  std::vector<bool> red = reduced_mask(op, x.shape(), dims);
  int64_t count = 1;
  for (int i = 0; i < x.ndim(); ++i)
    if (red[size_t(i)]) count *= x.shape()[i];
  DRU_CHECK(!is_mean || count > 0, "{}: mean over an empty dimension of shape {}", op, x.shape().str());
  Tensor out;
  if (on_cuda(x)) {
    check_cuda_f32(op, x);
    static_assert(cuda::ReduceShape::kDims == kMaxDims);
    cuda::ReduceShape rs;
    rs.ndim = x.ndim();
    for (int i = 0; i < x.ndim(); ++i) {
      rs.extent[i] = x.shape()[i];
      rs.reduced[i] = red[size_t(i)];
    }
    out = Tensor::empty(keepdim_shape(x.shape(), red), DType::f32, Device::cuda);
    // The mean divides by the count as the CPU does (not a multiply by its reciprocal).
    cuda::reduce_sum(x.data<float>(), out.data<float>(), rs, is_mean ? float(count) : 1.0f);
  } else {
    out = sum_kernel(x, red);
    if (is_mean)
      dispatch_float(out.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        T* p = out.data<T>();
        for (int64_t i = 0; i < out.numel(); ++i) p[i] /= T(count);
      });
  }
  Shape ks = out.shape();
  Shape final_shape = keepdim ? ks : dropped_shape(x.shape(), red);
  out = Tensor(out.impl);  // plain handle; reshape below is a view
  {
    NoGradGuard ng;
    out = out.reshape(final_shape);
  }
  Shape xs = x.shape();
  double scale = is_mean ? 1.0 / double(count) : 1.0;
  return record(op, out, {x}, [xs, ks, scale](const Tensor& g) {
    return std::vector<Tensor>{expand_to(g.reshape(ks), xs, scale)};
  });
}

std::vector<int> all_dims(const Tensor& x) {
  std::vector<int> d;
  for (int i = 0; i < x.ndim(); ++i) d.push_back(i);
  return d;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim) { return reduce("sum", x, dims, keepdim, false); }
Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim) { return reduce("mean", x, dims, keepdim, true); }
Tensor sum(const Tensor& x) { return reduce("sum", x, all_dims(x), false, false); }
Tensor mean(const Tensor& x) { return reduce("mean", x, all_dims(x), false, true); }

Tensor l2_normalize(const Tensor& x, int dim, double eps) {
  // y = x / max(||x||, eps). With n = ||x|| > eps: dy/dx · g = (g - y (y·g)) / n; below eps the
  // denominator is the constant eps and the map is linear: g / eps.
  const char* op = "l2_normalize";
  check_float(op, x);
  int a = x.shape().axis(dim, op);
  int64_t outer = 1, n = x.shape()[a], inner = 1;
  for (int i = 0; i < a; ++i) outer *= x.shape()[i];
  for (int i = a + 1; i < x.ndim(); ++i) inner *= x.shape()[i];
  if (on_cuda(x)) check_cuda_f32(op, x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor denom = Tensor::empty(Shape{outer * inner}, x.dtype(), x.device());
  if (on_cuda(x))
    cuda::l2_normalize_forward(x.data<float>(), y.data<float>(), denom.data<float>(), outer, n, inner, float(eps));
  else
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      const T* px = x.data<T>();
      T* py = y.data<T>();
      T* pd = denom.data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t in = 0; in < inner; ++in) {
          T ss = 0;
          for (int64_t k = 0; k < n; ++k) {
            T v = px[(o * n + k) * inner + in];
            ss += v * v;
          }
          T d = std::max(std::sqrt(ss), T(eps));
          pd[o * inner + in] = d;
          for (int64_t k = 0; k < n; ++k) py[(o * n + k) * inner + in] = px[(o * n + k) * inner + in] / d;
        }
    });
  if (!needs_grad({&x})) return y;
  Tensor ys = y.detach();
  return record(op, y, {x}, [=](const Tensor& g) {
    if (on_cuda(g)) {
      check_cuda_f32("l2_normalize backward", g);
      Tensor gx = Tensor::empty(g.shape(), DType::f32, Device::cuda);
      Tensor dot = Tensor::empty(Shape{outer * inner}, DType::f32, Device::cuda);
      cuda::l2_normalize_backward(g.data<float>(), ys.data<float>(), denom.data<float>(), dot.data<float>(),
                                  gx.data<float>(), outer, n, inner, float(eps));
      return std::vector<Tensor>{gx};
    }
    Tensor gx = Tensor::empty(g.shape(), g.dtype());
    dispatch_float(g.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      const T* pg = g.data<T>();
      const T* py = ys.data<T>();
      const T* pd = denom.data<T>();
      T* po = gx.data<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t in = 0; in < inner; ++in) {
          T d = pd[o * inner + in];
          bool clamped = d <= T(eps);
          T dot = 0;
          for (int64_t k = 0; k < n; ++k) dot += py[(o * n + k) * inner + in] * pg[(o * n + k) * inner + in];
          for (int64_t k = 0; k < n; ++k) {
            int64_t i = (o * n + k) * inner + in;
            po[i] = clamped ? pg[i] / d : (pg[i] - py[i] * dot) / d;
          }
        }
    });
    return std::vector<Tensor>{gx};
  });
}

}  // namespace dru
