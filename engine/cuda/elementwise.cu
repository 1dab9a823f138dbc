// elementwise.cu — the element-wise kernels: one contiguous map kernel (float4 loads and stores where
// every pointer is 16-byte aligned) for unary ops, derivatives, same-shape binary ops and accumulation,
// and one broadcast kernel that walks the output with compile-time rank after merging the dimensions
// that are contiguous for every operand. The element math is the CPU's: kernels/activation/activation.h
// and the same std:: functions, so results agree with the CPU to f32 rounding.
#include <cstdint>

#include "engine/cuda/common.cuh"
#include "engine/cuda/elementwise.h"
#include "kernels/activation/activation.h"

namespace dru::cuda {

namespace {

// ---- functors: operator()(v0, v1, v2) reads only the inputs named by kUses (bit k = input k) ------

template <BinaryOp Op> struct BinaryF {
  static constexpr int kUses = 3;
  __device__ float operator()(float a, float b, float) const {
    if constexpr (Op == BinaryOp::add) return a + b;
    else if constexpr (Op == BinaryOp::sub) return a - b;
    else if constexpr (Op == BinaryOp::mul) return a * b;
    else return a / b;
  }
};

struct ScaleF {
  static constexpr int kUses = 1;
  float s;
  __device__ float operator()(float a, float, float) const { return a * s; }
};

struct AccumulateF {
  static constexpr int kUses = 3;
  __device__ float operator()(float acc, float g, float) const { return acc + g; }
};

template <UnaryOp Op> struct UnaryF {
  static constexpr int kUses = 1;
  float alpha;
  __device__ float operator()(float x, float, float) const {
    if constexpr (Op == UnaryOp::add_scalar) return x + alpha;
    else if constexpr (Op == UnaryOp::mul_scalar) return x * alpha;
    else if constexpr (Op == UnaryOp::pow) return std::pow(x, alpha);
    else if constexpr (Op == UnaryOp::exp) return std::exp(x);
    else if constexpr (Op == UnaryOp::log) return std::log(x);
    else if constexpr (Op == UnaryOp::sqrt) return std::sqrt(x);
    else if constexpr (Op == UnaryOp::relu) return act::relu(x);
    else if constexpr (Op == UnaryOp::elu) return act::elu(x, alpha);
    else if constexpr (Op == UnaryOp::sigmoid) return act::sigmoid(x);
    else if constexpr (Op == UnaryOp::tanh) return std::tanh(x);
    else if constexpr (Op == UnaryOp::gelu) return act::gelu(x);
    else return act::hardswish(x);
  }
};

// Which of (g, x, y) a derivative reads: bit 0 g, bit 1 x, bit 2 y.
constexpr int grad_uses(UnaryOp op) {
  switch (op) {
    case UnaryOp::pow:
    case UnaryOp::log:
    case UnaryOp::gelu:
    case UnaryOp::hardswish: return 1 | 2;
    case UnaryOp::elu: return 1 | 2 | 4;
    default: return 1 | 4;  // exp, sqrt, relu, sigmoid, tanh: from the output
  }
}

// g * f'(x, y), as the CPU's grad_times (and relu's dedicated loop: g where y > 0).
template <UnaryOp Op> struct UnaryGradF {
  static constexpr int kUses = grad_uses(Op);
  float alpha;
  __device__ float operator()(float g, float x, float y) const {
    if constexpr (Op == UnaryOp::pow)
      return g * (alpha == 0.0f ? 0.0f : alpha * std::pow(x, float(double(alpha) - 1.0)));
    else if constexpr (Op == UnaryOp::exp) return g * y;
    else if constexpr (Op == UnaryOp::log) return g * (1.0f / x);
    else if constexpr (Op == UnaryOp::sqrt) return g * (0.5f / y);
    else if constexpr (Op == UnaryOp::relu) return y > 0.0f ? g : 0.0f;
    else if constexpr (Op == UnaryOp::elu) return g * act::elu_grad(x, y, alpha);
    else if constexpr (Op == UnaryOp::sigmoid) return g * act::sigmoid_grad_from_y(y);
    else if constexpr (Op == UnaryOp::tanh) return g * act::tanh_grad_from_y(y);
    else if constexpr (Op == UnaryOp::gelu) return g * act::gelu_grad(x);
    else return g * act::hardswish_grad(x);  // add_scalar / mul_scalar are rejected on the host
  }
};

// ---- the contiguous map ------------------------------------------------------------------------

template <class F> __device__ __forceinline__ float apply(const F& f, const float* p0, const float* p1,
                                                          const float* p2, int64_t i) {
  float v0 = (F::kUses & 1) ? p0[i] : 0.0f;
  float v1 = (F::kUses & 2) ? p1[i] : 0.0f;
  float v2 = (F::kUses & 4) ? p2[i] : 0.0f;
  return f(v0, v1, v2);
}

__device__ __forceinline__ float4 load4(const float* p, int64_t i) {
  return reinterpret_cast<const float4*>(p)[i];
}

// out[i] = f(p0[i], p1[i], p2[i]). No __restrict__: accumulate passes out == p0 (each element is
// read before it is written by the same thread, so the aliasing is harmless).
template <class F, bool kVec> __global__ void map_kernel(F f, const float* p0, const float* p1, const float* p2,
                                                         float* out, int64_t n) {
  if constexpr (kVec) {
    const int64_t n4 = n / 4;
    const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
    DRU_GRID_LOOP(i, n4) {
      float4 a = (F::kUses & 1) ? load4(p0, i) : zero;
      float4 b = (F::kUses & 2) ? load4(p1, i) : zero;
      float4 c = (F::kUses & 4) ? load4(p2, i) : zero;
      float4 r;
      r.x = f(a.x, b.x, c.x);
      r.y = f(a.y, b.y, c.y);
      r.z = f(a.z, b.z, c.z);
      r.w = f(a.w, b.w, c.w);
      reinterpret_cast<float4*>(out)[i] = r;
    }
    // The last n % 4 elements: one thread each.
    int64_t t = n4 * 4 + int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
    if (t < n) out[t] = apply(f, p0, p1, p2, t);
  } else {
    DRU_GRID_LOOP(i, n) out[i] = apply(f, p0, p1, p2, i);
  }
}

bool aligned16(const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <class F> void launch_map(F f, const float* p0, const float* p1, const float* p2, float* out, int64_t n) {
  if (n <= 0) return;
  bool vec = n >= 4 && aligned16(out) && ((F::kUses & 1) == 0 || aligned16(p0)) &&
             ((F::kUses & 2) == 0 || aligned16(p1)) && ((F::kUses & 4) == 0 || aligned16(p2));
  if (vec)
    map_kernel<F, true><<<grid_for(n / 4), kThreads, 0, stream()>>>(f, p0, p1, p2, out, n);
  else
    map_kernel<F, false><<<grid_for(n), kThreads, 0, stream()>>>(f, p0, p1, p2, out, n);
  DRU_CUDA_LAUNCHED();
}

// ---- the broadcast walk -------------------------------------------------------------------------

// I is the index type: 32-bit where every offset fits (div/mod are several times cheaper), else 64-bit.
template <class F, int NDIM, class I>
__global__ void broadcast_kernel(F f, const float* __restrict__ a, const float* __restrict__ b,
                                 float* __restrict__ out, BroadcastPlan p, I n) {
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n; i += step) {
    I rem = i, ia = 0, ib = 0;
#pragma unroll
    for (int d = NDIM - 1; d > 0; --d) {
      I e = I(p.shape[d]);
      I c = rem % e;
      rem /= e;
      ia += c * I(p.a[d]);
      ib += c * I(p.b[d]);
    }
    ia += rem * I(p.a[0]);  // rem < shape[0] here
    ib += rem * I(p.b[0]);
    float va = a[ia];
    float vb = (F::kUses & 2) ? b[ib] : 0.0f;
    out[i] = f(va, vb, 0.0f);
  }
}

// Drops extent-1 dimensions and merges neighbours that are contiguous for both operands (outer stride
// = inner stride * inner extent holds for a row-major run and for a run broadcast in both: 0 = 0).
BroadcastPlan collapse(const BroadcastPlan& p) {
  BroadcastPlan q;
  for (int d = 0; d < p.ndim; ++d) {
    if (p.shape[d] == 1) continue;
    int k = q.ndim - 1;
    if (k >= 0 && q.a[k] == p.a[d] * p.shape[d] && q.b[k] == p.b[d] * p.shape[d]) {
      q.shape[k] *= p.shape[d];
      q.a[k] = p.a[d];
      q.b[k] = p.b[d];
      continue;
    }
    q.shape[q.ndim] = p.shape[d];
    q.a[q.ndim] = p.a[d];
    q.b[q.ndim] = p.b[d];
    ++q.ndim;
  }
  if (q.ndim == 0) {  // every extent 1: one element
    q.ndim = 1;
    q.shape[0] = 1;
  }
  return q;
}

template <class F, int NDIM> void launch_broadcast_rank(F f, const float* a, const float* b, float* out,
                                                        const BroadcastPlan& q, int64_t n) {
  unsigned g = grid_for(n);
  if (n < (int64_t(1) << 31))
    broadcast_kernel<F, NDIM, uint32_t><<<g, kThreads, 0, stream()>>>(f, a, b, out, q, uint32_t(n));
  else
    broadcast_kernel<F, NDIM, uint64_t><<<g, kThreads, 0, stream()>>>(f, a, b, out, q, uint64_t(n));
  DRU_CUDA_LAUNCHED();
}

template <class F> void launch_broadcast(F f, const float* a, const float* b, float* out, const BroadcastPlan& plan) {
  int64_t n = 1;
  for (int d = 0; d < plan.ndim; ++d) n *= plan.shape[d];
  if (n <= 0) return;
  BroadcastPlan q = collapse(plan);
  bool b_contig = !(F::kUses & 2) || q.b[0] == 1;
  if (q.ndim == 1 && q.a[0] == 1 && b_contig) {  // same shape: the vectorised map
    launch_map(f, a, b, nullptr, out, n);
    return;
  }
  switch (q.ndim) {
    case 1: launch_broadcast_rank<F, 1>(f, a, b, out, q, n); break;
    case 2: launch_broadcast_rank<F, 2>(f, a, b, out, q, n); break;
    case 3: launch_broadcast_rank<F, 3>(f, a, b, out, q, n); break;
    case 4: launch_broadcast_rank<F, 4>(f, a, b, out, q, n); break;
    default: launch_broadcast_rank<F, 5>(f, a, b, out, q, n); break;
  }
}

template <UnaryOp Op> void launch_unary(const float* x, float* y, int64_t n, float alpha) {
  launch_map(UnaryF<Op>{alpha}, x, nullptr, nullptr, y, n);
}

template <UnaryOp Op> void launch_unary_grad(const float* g, const float* x, const float* y, float* gx, int64_t n,
                                             float alpha) {
  launch_map(UnaryGradF<Op>{alpha}, g, x, y, gx, n);
}

}  // namespace

void binary(BinaryOp op, const float* a, const float* b, float* out, const BroadcastPlan& plan) {
  switch (op) {
    case BinaryOp::add: launch_broadcast(BinaryF<BinaryOp::add>{}, a, b, out, plan); break;
    case BinaryOp::sub: launch_broadcast(BinaryF<BinaryOp::sub>{}, a, b, out, plan); break;
    case BinaryOp::mul: launch_broadcast(BinaryF<BinaryOp::mul>{}, a, b, out, plan); break;
    case BinaryOp::div: launch_broadcast(BinaryF<BinaryOp::div>{}, a, b, out, plan); break;
  }
}

void broadcast_scale(const float* a, float* out, const BroadcastPlan& plan, float scale) {
  launch_broadcast(ScaleF{scale}, a, nullptr, out, plan);
}

void unary(UnaryOp op, const float* x, float* y, int64_t n, float alpha) {
  switch (op) {
    case UnaryOp::add_scalar: launch_unary<UnaryOp::add_scalar>(x, y, n, alpha); break;
    case UnaryOp::mul_scalar: launch_unary<UnaryOp::mul_scalar>(x, y, n, alpha); break;
    case UnaryOp::pow: launch_unary<UnaryOp::pow>(x, y, n, alpha); break;
    case UnaryOp::exp: launch_unary<UnaryOp::exp>(x, y, n, alpha); break;
    case UnaryOp::log: launch_unary<UnaryOp::log>(x, y, n, alpha); break;
    case UnaryOp::sqrt: launch_unary<UnaryOp::sqrt>(x, y, n, alpha); break;
    case UnaryOp::relu: launch_unary<UnaryOp::relu>(x, y, n, alpha); break;
    case UnaryOp::elu: launch_unary<UnaryOp::elu>(x, y, n, alpha); break;
    case UnaryOp::sigmoid: launch_unary<UnaryOp::sigmoid>(x, y, n, alpha); break;
    case UnaryOp::tanh: launch_unary<UnaryOp::tanh>(x, y, n, alpha); break;
    case UnaryOp::gelu: launch_unary<UnaryOp::gelu>(x, y, n, alpha); break;
    case UnaryOp::hardswish: launch_unary<UnaryOp::hardswish>(x, y, n, alpha); break;
  }
}

void unary_backward(UnaryOp op, const float* g, const float* x, const float* y, float* gx, int64_t n, float alpha) {
  switch (op) {
    case UnaryOp::pow: launch_unary_grad<UnaryOp::pow>(g, x, y, gx, n, alpha); break;
    case UnaryOp::exp: launch_unary_grad<UnaryOp::exp>(g, x, y, gx, n, alpha); break;
    case UnaryOp::log: launch_unary_grad<UnaryOp::log>(g, x, y, gx, n, alpha); break;
    case UnaryOp::sqrt: launch_unary_grad<UnaryOp::sqrt>(g, x, y, gx, n, alpha); break;
    case UnaryOp::relu: launch_unary_grad<UnaryOp::relu>(g, x, y, gx, n, alpha); break;
    case UnaryOp::elu: launch_unary_grad<UnaryOp::elu>(g, x, y, gx, n, alpha); break;
    case UnaryOp::sigmoid: launch_unary_grad<UnaryOp::sigmoid>(g, x, y, gx, n, alpha); break;
    case UnaryOp::tanh: launch_unary_grad<UnaryOp::tanh>(g, x, y, gx, n, alpha); break;
    case UnaryOp::gelu: launch_unary_grad<UnaryOp::gelu>(g, x, y, gx, n, alpha); break;
    case UnaryOp::hardswish: launch_unary_grad<UnaryOp::hardswish>(g, x, y, gx, n, alpha); break;
    case UnaryOp::add_scalar:
    case UnaryOp::mul_scalar:
      fail_call("dru", 0, "add/mul by a scalar have no element derivative kernel", "unary_backward", __FILE__,
                __LINE__);
  }
}

void accumulate(float* acc, const float* g, int64_t n) { launch_map(AccumulateF{}, acc, g, nullptr, acc, n); }

}  // namespace dru::cuda
