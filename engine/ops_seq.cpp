// ops_seq.cpp — softmax, layer_norm, the multi-layer LSTM and scaled dot-product attention on the tape.
//
// Each op checks its arguments (messages name the op and the shapes), runs the CPU reference of its
// kernel family (kernels/softmax, kernels/lstm, kernels/attention) and records one node whose backward
// calls the family's explicit backward. What a backward needs is saved by the forward as detached
// tensors: softmax its output, layer_norm the mean and 1/std per row, attention the probabilities, and
// the LSTM, per layer, its input, cell states and activated gates. The whole LSTM stack is one node
// with inputs x and every layer's weights, so backpropagation through time runs inside one closure
// rather than over T x layers small nodes.
//
// On CUDA each op runs the launchers of engine/cuda/seq.h on the same saved tensors (the LSTM's
// backward adds device scratch for the pre-activation gradients and the shifted hidden states). The
// backward closures follow the device of the gradient they receive, which is the forward's device.
#include <string>
#include <type_traits>

#include "engine/cuda/seq.h"
#include "engine/ops.h"
#include "kernels/attention/attention.h"
#include "kernels/lstm/lstm.h"
#include "kernels/softmax/softmax.h"

namespace dru {

Tensor softmax(const Tensor& x, int dim) {
  const char* op = "softmax";
  check_float(op, x);
  if (on_cuda(x)) check_cuda_f32(op, x);
  int a = x.shape().axis(dim, op);
  int64_t outer = 1, n = x.size(a), inner = 1;
  for (int i = 0; i < a; ++i) outer *= x.size(i);
  for (int i = a + 1; i < x.ndim(); ++i) inner *= x.size(i);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_cuda(x)) {
    cuda::softmax_forward(x.data<float>(), y.data<float>(), outer, n, inner);
  } else {
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      cpu::softmax_forward(x.data<T>(), y.data<T>(), outer, n, inner);
    });
  }
  if (!needs_grad({&x})) return y;
  Tensor ys = y.detach();
  return record(op, y, {x}, [=](const Tensor& g) {
    check_same("softmax backward", g, ys);
    Tensor gx = Tensor::empty(g.shape(), g.dtype(), g.device());
    if (on_cuda(g)) {
      cuda::softmax_backward(ys.data<float>(), g.data<float>(), gx.data<float>(), outer, n, inner);
      return std::vector<Tensor>{gx};
    }
    dispatch_float(g.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      cpu::softmax_backward(ys.data<T>(), g.data<T>(), gx.data<T>(), outer, n, inner);
    });
    return std::vector<Tensor>{gx};
  });
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "layer_norm";
  check_float(op, x);
  if (on_cuda(x)) check_cuda_f32(op, x);
  DRU_CHECK(x.ndim() >= 1 && x.size(-1) > 0, "layer_norm: input has shape {}; expected (..., D) with D > 0",
            x.shape().str());
  const int64_t d = x.size(-1), m = x.numel() / d;
  if (weight.defined()) {
    check_same(op, x, weight);
    check_shape(op, weight, Shape{d}, "weight");
  }
  if (bias.defined()) {
    check_same(op, x, bias);
    check_shape(op, bias, Shape{d}, "bias");
  }
  DRU_CHECK(eps >= 0, "layer_norm: eps is {}; it must be non-negative", eps);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty(Shape{m}, x.dtype(), x.device()), rstd = Tensor::empty(Shape{m}, x.dtype(), x.device());
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    if constexpr (std::is_same_v<T, float>) {
      if (on_cuda(x))
        return cuda::layernorm_forward(x.data<T>(), w, b, y.data<T>(), mean.data<T>(), rstd.data<T>(), m, d, T(eps));
    }
    cpu::layernorm_forward(x.data<T>(), w, b, y.data<T>(), mean.data<T>(), rstd.data<T>(), m, d, T(eps));
  });

  // Undefined weight or bias are not tape inputs (the tape cannot hold undefined tensors).
  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  if (!needs_grad(inputs)) return y;
  Tensor xs = x.detach(), ws = weight.defined() ? weight.detach() : Tensor();
  bool has_b = bias.defined();
  return record(op, y, std::move(inputs), [=](const Tensor& g) {
    check_same("layer_norm backward", g, xs);
    Tensor gx = Tensor::empty(g.shape(), g.dtype(), g.device());
    Tensor gw = ws.defined() ? Tensor::empty(Shape{d}, g.dtype(), g.device()) : Tensor();
    Tensor gb = has_b ? Tensor::empty(Shape{d}, g.dtype(), g.device()) : Tensor();
    dispatch_float(g.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      const T* w = ws.defined() ? ws.data<T>() : nullptr;
      T* dw = gw.defined() ? gw.data<T>() : nullptr;
      T* db = gb.defined() ? gb.data<T>() : nullptr;
      if constexpr (std::is_same_v<T, float>) {
        if (on_cuda(g))
          return cuda::layernorm_backward(xs.data<T>(), w, mean.data<T>(), rstd.data<T>(), g.data<T>(), gx.data<T>(),
                                          dw, db, m, d);
      }
      cpu::layernorm_backward(xs.data<T>(), w, mean.data<T>(), rstd.data<T>(), g.data<T>(), gx.data<T>(), dw, db, m, d);
    });
    std::vector<Tensor> grads{gx};
    if (gw.defined()) grads.push_back(gw);
    if (gb.defined()) grads.push_back(gb);
    return grads;
  });
}

namespace {

// What one LSTM layer's backward needs, all detached: its input, weights and the forward's saves.
struct LstmSaved {
  Tensor in, w_ih, w_hh, h, c, gates;
  cpu::LstmSizes s;
};

// Checks layer l's weights against its input width; returns the layer's hidden size D.
int64_t check_lstm_layer(const Tensor& x, const LstmLayerWeights& w, size_t l, int64_t in_dim) {
  const char* op = "lstm";
  DRU_CHECK(w.w_ih.defined() && w.w_hh.defined() && w.b_ih.defined() && w.b_hh.defined(),
            "lstm: layer {} has an undefined weight; w_ih, w_hh, b_ih and b_hh are all required (use zero "
            "biases for bias=False)",
            l);
  for (const Tensor* t : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh}) check_same(op, x, *t);
  DRU_CHECK(w.w_ih.ndim() == 2 && w.w_ih.size(0) > 0 && w.w_ih.size(0) % 4 == 0 && w.w_ih.size(1) == in_dim,
            "lstm: layer {} w_ih has shape {}; expected (4D, {}) with the gates i, f, g, o stacked along the rows "
            "(the layer's input has {} features)",
            l, w.w_ih.shape().str(), in_dim, in_dim);
  const int64_t d = w.w_ih.size(0) / 4;
  std::string name = fmt::format("layer {} w_hh", l);
  check_shape(op, w.w_hh, Shape{4 * d, d}, name.c_str());
  name = fmt::format("layer {} b_ih", l);
  check_shape(op, w.b_ih, Shape{4 * d}, name.c_str());
  name = fmt::format("layer {} b_hh", l);
  check_shape(op, w.b_hh, Shape{4 * d}, name.c_str());
  return d;
}

// One layer's backward on CUDA; the scratch (pre-activation gradients, h shifted by one step, the
// carried dh and dc) lives on the device for the duration of the call.
void lstm_layer_backward_cuda(const LstmSaved& sv, const Tensor& dh, Tensor& dx, Tensor& dw_ih, Tensor& dw_hh,
                              Tensor& db_ih, Tensor& db_hh) {
  const cpu::LstmSizes& s = sv.s;
  Tensor da = Tensor::empty(sv.gates.shape(), DType::f32, Device::cuda);
  Tensor h_prev = Tensor::empty(sv.h.shape(), DType::f32, Device::cuda);
  Tensor carry = Tensor::empty(Shape{2, s.n, s.d}, DType::f32, Device::cuda);  // dh_rec, dc
  cuda::lstm_layer_backward(sv.in.data<float>(), sv.w_ih.data<float>(), sv.w_hh.data<float>(), sv.h.data<float>(),
                            sv.c.data<float>(), sv.gates.data<float>(), dh.data<float>(),
                            dx.defined() ? dx.data<float>() : nullptr, dw_ih.data<float>(), dw_hh.data<float>(),
                            db_ih.data<float>(), db_hh.data<float>(), da.data<float>(), h_prev.data<float>(),
                            carry.data<float>(), carry.data<float>() + s.n * s.d, s.n, s.t, s.i, s.d);
}

// Backpropagation through every layer, last to first; g is the gradient of the top layer's output.
// Returns the gradients in the node's input order: x, then w_ih, w_hh, b_ih, b_hh per layer.
std::vector<Tensor> lstm_backward(const std::vector<LstmSaved>& saved, const Tensor& g, bool x_needs_grad) {
  check_same("lstm backward", g, saved.back().h);
  std::vector<Tensor> grads(1 + 4 * saved.size());
  Tensor dh = g;
  const Device dev = g.device();
  for (size_t l = saved.size(); l-- > 0;) {
    const LstmSaved& sv = saved[l];
    DType t = g.dtype();
    Tensor dx = (l > 0 || x_needs_grad) ? Tensor::empty(sv.in.shape(), t, dev) : Tensor();
    Tensor dw_ih = Tensor::empty(sv.w_ih.shape(), t, dev), dw_hh = Tensor::empty(sv.w_hh.shape(), t, dev);
    Tensor db_ih = Tensor::empty(Shape{4 * sv.s.d}, t, dev), db_hh = Tensor::empty(Shape{4 * sv.s.d}, t, dev);
    if (dev == Device::cuda) {
      lstm_layer_backward_cuda(sv, dh, dx, dw_ih, dw_hh, db_ih, db_hh);
    } else {
      Tensor da = Tensor::empty(sv.gates.shape(), t);
      dispatch_float(t, "lstm backward", [&](auto tag) {
        using T = decltype(tag);
        cpu::lstm_layer_backward(sv.in.data<T>(), sv.w_ih.data<T>(), sv.w_hh.data<T>(), sv.h.data<T>(), sv.c.data<T>(),
                                 sv.gates.data<T>(), dh.data<T>(), dx.defined() ? dx.data<T>() : nullptr,
                                 dw_ih.data<T>(), dw_hh.data<T>(), db_ih.data<T>(), db_hh.data<T>(), da.data<T>(),
                                 sv.s);
      });
    }
    grads[1 + 4 * l] = dw_ih;
    grads[2 + 4 * l] = dw_hh;
    grads[3 + 4 * l] = db_ih;
    grads[4 + 4 * l] = db_hh;
    dh = dx;
  }
  grads[0] = dh;
  return grads;
}

// Attention on CUDA: the same saves as the CPU path (the probabilities); an i64 mask becomes bytes on
// the device (no copy to the host).
Tensor attention_cuda(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask,
                      const cpu::AttentionSizes& z) {
  const char* op = "scaled_dot_product_attention";
  Tensor mask = key_mask;
  if (mask.defined() && mask.dtype() == DType::i64) {
    mask = Tensor::empty(key_mask.shape(), DType::u8, Device::cuda);
    cuda::key_mask_to_bytes(key_mask.data<int64_t>(), mask.data<uint8_t>(), key_mask.numel());
  }
  Tensor out = Tensor::empty(q.shape(), DType::f32, Device::cuda);
  Tensor probs = Tensor::empty(Shape{z.n, z.h, z.t, z.s}, DType::f32, Device::cuda);
  cuda::attention_forward(q.data<float>(), k.data<float>(), v.data<float>(),
                          mask.defined() ? mask.data<uint8_t>() : nullptr, out.data<float>(), probs.data<float>(), z.n,
                          z.h, z.t, z.s, z.dh);
  if (!needs_grad({&q, &k, &v})) return out;
  Tensor qs = q.detach(), ks = k.detach(), vs = v.detach();
  return record(op, out, {q, k, v}, [=](const Tensor& g) {
    check_same("scaled_dot_product_attention backward", g, qs);
    Tensor dq = Tensor::empty(qs.shape(), DType::f32, Device::cuda),
           dk = Tensor::empty(ks.shape(), DType::f32, Device::cuda),
           dv = Tensor::empty(vs.shape(), DType::f32, Device::cuda);
    Tensor dp = Tensor::empty(probs.shape(), DType::f32, Device::cuda);
    cuda::attention_backward(qs.data<float>(), ks.data<float>(), vs.data<float>(), probs.data<float>(), g.data<float>(),
                             dq.data<float>(), dk.data<float>(), dv.data<float>(), dp.data<float>(), z.n, z.h, z.t, z.s,
                             z.dh);
    return std::vector<Tensor>{dq, dk, dv};
  });
}

}  // namespace

Tensor lstm(const Tensor& x, const std::vector<LstmLayerWeights>& layers) {
  const char* op = "lstm";
  check_float(op, x);
  if (on_cuda(x)) check_cuda_f32(op, x);
  DRU_CHECK(x.ndim() == 3 && x.size(0) > 0 && x.size(1) > 0,
            "lstm: input has shape {}; expected (N, T, I) (batch_first) with N and T positive", x.shape().str());
  DRU_CHECK(!layers.empty(), "lstm: no layers given; pass one LstmLayerWeights per layer");
  const int64_t n = x.size(0), steps = x.size(1);
  std::vector<LstmSaved> saved;
  std::vector<Tensor> inputs{x};
  Tensor in = x.detach(), out;
  for (size_t l = 0; l < layers.size(); ++l) {
    const LstmLayerWeights& w = layers[l];
    const int64_t d = check_lstm_layer(x, w, l, in.size(2));
    cpu::LstmSizes s{n, steps, in.size(2), d};
    Tensor h = Tensor::empty(Shape{n, steps, d}, x.dtype(), x.device());
    Tensor c = Tensor::empty(Shape{n, steps, d}, x.dtype(), x.device());
    Tensor gates = Tensor::empty(Shape{n, steps, 4 * d}, x.dtype(), x.device());
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float>) {
        if (on_cuda(x))
          return cuda::lstm_layer_forward(in.data<T>(), w.w_ih.data<T>(), w.w_hh.data<T>(), w.b_ih.data<T>(),
                                          w.b_hh.data<T>(), h.data<T>(), c.data<T>(), gates.data<T>(), s.n, s.t, s.i,
                                          s.d);
      }
      cpu::lstm_layer_forward(in.data<T>(), w.w_ih.data<T>(), w.w_hh.data<T>(), w.b_ih.data<T>(), w.b_hh.data<T>(),
                              h.data<T>(), c.data<T>(), gates.data<T>(), s);
    });
    // Detached handles only: the top layer's h is also the output, and the output's node must not
    // hold its own impl (a reference cycle).
    saved.push_back({in, w.w_ih.detach(), w.w_hh.detach(), h.detach(), c, gates, s});
    for (const Tensor* t : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh}) inputs.push_back(*t);
    in = h.detach();
    out = h;
  }
  if (!needs_grad(inputs)) return out;
  bool x_needs_grad = x.requires_grad();
  return record(op, out, std::move(inputs), [saved = std::move(saved), x_needs_grad](const Tensor& g) {
    return lstm_backward(saved, g, x_needs_grad);
  });
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& key_mask) {
  const char* op = "scaled_dot_product_attention";
  check_float(op, q);
  if (on_cuda(q)) check_cuda_f32(op, q);
  check_same(op, q, k);
  check_same(op, q, v);
  DRU_CHECK(q.ndim() == 4 && q.size(3) > 0, "{}: q has shape {}; expected (N, H, T, Dh) with Dh > 0", op,
            q.shape().str());
  const int64_t n = q.size(0), heads = q.size(1), t = q.size(2), dh = q.size(3);
  DRU_CHECK(k.ndim() == 4 && k.size(0) == n && k.size(1) == heads && k.size(3) == dh,
            "{}: k has shape {}; expected (N, H, S, Dh) = ({}, {}, S, {}) to match q {}", op, k.shape().str(), n,
            heads, dh, q.shape().str());
  check_shape(op, v, k.shape(), "v (the same shape as k)");
  const int64_t s = k.size(2);
  cpu::AttentionSizes z{n, heads, t, s, dh};
  if (key_mask.defined()) {
    DRU_CHECK(key_mask.device() == q.device(),
              "{}: devices differ (key_mask with shape {} on {}, q with shape {} on {})", op, key_mask.shape().str(),
              device_name(key_mask.device()), q.shape().str(), device_name(q.device()));
    DRU_CHECK(key_mask.dtype() == DType::u8 || key_mask.dtype() == DType::i64,
              "{}: key_mask has dtype {}; expected u8 or i64 (non-zero = attend, zero = padding)", op,
              dtype_name(key_mask.dtype()));
    check_shape(op, key_mask, Shape{n, s}, "key_mask (N, S)");
  }
  if (on_cuda(q)) return attention_cuda(q, k, v, key_mask, z);
  std::vector<uint8_t> mask;
  if (key_mask.defined()) {
    // One byte per key for the kernel, whatever the mask's dtype.
    std::vector<double> m = key_mask.to_vector();
    mask.resize(m.size());
    for (size_t i = 0; i < m.size(); ++i) mask[i] = m[i] != 0.0;
  }
  Tensor out = Tensor::empty(q.shape(), q.dtype());
  Tensor probs = Tensor::empty(Shape{n, heads, t, s}, q.dtype());
  dispatch_float(q.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    cpu::attention_forward(q.data<T>(), k.data<T>(), v.data<T>(), mask.empty() ? nullptr : mask.data(), out.data<T>(),
                           probs.data<T>(), z);
  });
  if (!needs_grad({&q, &k, &v})) return out;
  Tensor qs = q.detach(), ks = k.detach(), vs = v.detach();
  return record(op, out, {q, k, v}, [=](const Tensor& g) {
    Tensor dq = Tensor::empty(qs.shape(), g.dtype()), dk = Tensor::empty(ks.shape(), g.dtype()),
           dv = Tensor::empty(vs.shape(), g.dtype());
    dispatch_float(g.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      cpu::attention_backward(qs.data<T>(), ks.data<T>(), vs.data<T>(), probs.data<T>(), g.data<T>(), dq.data<T>(),
                              dk.data<T>(), dv.data<T>(), z);
    });
    return std::vector<Tensor>{dq, dk, dv};
  });
}

}  // namespace dru
