// ops_reduce.cpp — sum and mean over dimensions, and L2 normalisation along a dimension.
//
// A reduction over a set of dimensions views the input as (outer..., reduced..., inner...) only when
// the reduced dimensions are contiguous; in general each input element's output index is its own
// index with the reduced coordinates zeroed, which one odometer walk computes. Sums accumulate in the
// element type (f64 for gradient checks); the backward broadcasts the gradient back.
#include <algorithm>
#include <cmath>

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
  Tensor out = Tensor::empty(s, g.dtype());
  Shape gs = g.shape();
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
  check_cpu(op, x);
  std::vector<bool> red = reduced_mask(op, x.shape(), dims);
  int64_t count = 1;
  for (int i = 0; i < x.ndim(); ++i)
    if (red[size_t(i)]) count *= x.shape()[i];
  Tensor out = sum_kernel(x, red);
  if (is_mean) {
    DRU_CHECK(count > 0, "{}: mean over an empty dimension of shape {}", op, x.shape().str());
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
  check_cpu(op, x);
  int a = x.shape().axis(dim, op);
  int64_t outer = 1, n = x.shape()[a], inner = 1;
  for (int i = 0; i < a; ++i) outer *= x.shape()[i];
  for (int i = a + 1; i < x.ndim(); ++i) inner *= x.shape()[i];
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor denom = Tensor::empty(Shape{outer * inner}, x.dtype());
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
