// ops_conv.cpp — autograd wrappers for conv2d, batch_norm, max_pool2d, avg_pool2d, adaptive_avg_pool2d.
//
// Each op checks its arguments (messages name the op and the shapes), runs the kernel of its family
// — on the CPU kernels/conv2d, kernels/batchnorm, kernels/pool for f32 or f64; on CUDA the f32
// launchers of engine/cuda/conv.h (cuDNN) and engine/cuda/norm_pool.h — and records one node whose
// backward calls the family's explicit backward on the gradient's device. Optional tensors (bias,
// batch-norm weight and bias) join the node's inputs only when defined, because the tape walks every
// input it is given.
// Layouts: x (N, C, H, W) throughout, except batch_norm, which also takes (N, C) and (N, C, L).
#include "engine/ops.h"
#include "engine/cuda/conv.h"
#include "engine/cuda/norm_pool.h"
#include "kernels/batchnorm/batchnorm.h"
#include "kernels/conv2d/conv2d.h"
#include "kernels/pool/pool.h"

namespace dru {

namespace {

// Null for an undefined optional tensor, else its typed data.
template <class T> T* data_or_null(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

// An empty tensor shaped like `like` (and on its device) when `want`, else undefined (a gradient
// nobody asked for).
Tensor grad_buffer(bool want, const Tensor& like) {
  return want ? Tensor::empty(like.shape(), like.dtype(), like.device()) : Tensor();
}

// Checks the dtype a tensor may have on its device: f32 or f64 on the CPU, f32 on CUDA.
void check_float_on_device(const char* op, const Tensor& x) {
  check_float(op, x);
  if (on_cuda(x)) check_cuda_f32(op, x);
}

void check_input4d(const char* op, const Tensor& x) {
  check_float_on_device(op, x);
  DRU_CHECK(x.ndim() == 4, "{}: input has shape {}; expected 4 dimensions (N, C, H, W)", op, x.shape().str());
}

// An optional per-channel tensor (bias, weight, running buffer): same dtype and device as x, shape (C).
void check_channel_vector(const char* op, const Tensor& t, const Tensor& x, int64_t C, const char* what) {
  if (!t.defined()) return;
  check_same(op, x, t);
  DRU_CHECK(t.ndim() == 1 && t.size(0) == C, "{}: {} has shape {}; expected ({},) for input of shape {}", op, what,
            t.shape().str(), C, x.shape().str());
}

conv::Conv2dDims conv_dims(const Tensor& x, const Tensor& w, int stride, int padding) {
  const char* op = "conv2d";
  check_input4d(op, x);
  check_same(op, x, w);
  DRU_CHECK(w.ndim() == 4, "conv2d: weight has shape {}; expected 4 dimensions (O, C, kh, kw)", w.shape().str());
  DRU_CHECK(w.size(1) == x.size(1), "conv2d: input of shape {} has {} channels but weight of shape {} expects {}",
            x.shape().str(), x.size(1), w.shape().str(), w.size(1));
  DRU_CHECK(stride >= 1, "conv2d: stride is {}; it must be at least 1", stride);
  DRU_CHECK(padding >= 0, "conv2d: padding is {}; it must be non-negative", padding);
  conv::Conv2dDims d{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3), stride, padding};
  DRU_CHECK(d.H + 2 * d.pad >= d.kh && d.W + 2 * d.pad >= d.kw,
            "conv2d: input of shape {} with padding {} is smaller than the {}x{} kernel of weight {}", x.shape().str(),
            padding, d.kh, d.kw, w.shape().str());
  DRU_CHECK(w.numel() > 0, "conv2d: weight of shape {} is empty", w.shape().str());
  return d;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int padding) {
  const conv::Conv2dDims d = conv_dims(x, w, stride, padding);
  check_channel_vector("conv2d", b, x, d.O, "bias");
  Tensor y = Tensor::empty(Shape{d.N, d.O, d.Ho(), d.Wo()}, x.dtype(), x.device());
  if (on_cuda(x))
    cuda::conv2d_forward(x.data<float>(), w.data<float>(), data_or_null<float>(b), y.data<float>(), d);
  else
    dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
      using T = decltype(tag);
      conv::conv2d_forward_cpu<T>(x.data<T>(), w.data<T>(), data_or_null<T>(b), y.data<T>(), d);
    });
  if (!needs_grad({&x, &w, &b})) return y;
  std::vector<Tensor> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  Tensor xd = x.detach(), wd = w.detach();
  const bool gx = x.requires_grad(), gw = w.requires_grad(), gb = b.requires_grad(), has_b = b.defined();
  return record("conv2d", y, inputs, [=](const Tensor& g) {
    Tensor dx = grad_buffer(gx, xd), dw = grad_buffer(gw, wd);
    Tensor db = gb ? Tensor::empty(Shape{d.O}, g.dtype(), g.device()) : Tensor();
    if (on_cuda(g)) {
      if (gx) cuda::conv2d_backward_data(wd.data<float>(), g.data<float>(), dx.data<float>(), d);
      if (gw) cuda::conv2d_backward_filter(xd.data<float>(), g.data<float>(), dw.data<float>(), d);
      if (gb) cuda::conv2d_backward_bias(g.data<float>(), db.data<float>(), d);
    } else {
      dispatch_float(g.dtype(), "conv2d backward", [&](auto tag) {
        using T = decltype(tag);
        conv::conv2d_backward_cpu<T>(xd.data<T>(), wd.data<T>(), g.data<T>(), data_or_null<T>(dx),
                                     data_or_null<T>(dw), data_or_null<T>(db), d);
      });
    }
    std::vector<Tensor> grads{dx, dw};
    if (has_b) grads.push_back(db);
    return grads;
  });
}

namespace {

// x as (N, C, S) for batch_norm; S = 1 for (N, C).
bn::BatchNormDims bn_dims(const Tensor& x) {
  const char* op = "batch_norm";
  check_float_on_device(op, x);
  DRU_CHECK(x.ndim() >= 2 && x.ndim() <= 4, "batch_norm: input has shape {}; expected (N, C), (N, C, L) or (N, C, H, W)",
            x.shape().str());
  bn::BatchNormDims d{x.size(0), x.size(1), 1};
  for (int i = 2; i < x.ndim(); ++i) d.S *= x.size(i);
  return d;
}

// Batch statistics of x (updating the running buffers when defined), or the running ones in eval.
// Returns {mean, invstd}, both (C), owned by the caller (never aliases of the running buffers).
std::pair<Tensor, Tensor> bn_statistics(const Tensor& x, const bn::BatchNormDims& d, Tensor& running_mean,
                                        Tensor& running_var, bool training, double momentum, double eps) {
  Tensor mean = Tensor::empty(Shape{d.C}, x.dtype(), x.device());
  Tensor invstd = Tensor::empty(Shape{d.C}, x.dtype(), x.device());
  if (on_cuda(x)) {
    if (!training) {
      mean.copy_(running_mean);  // a device-to-device copy on the stream
      cuda::batch_norm_invstd(running_var.data<float>(), invstd.data<float>(), d.C, eps);
    } else {
      cuda::batch_norm_stats(x.data<float>(), mean.data<float>(), invstd.data<float>(), data_or_null<float>(running_mean),
                             data_or_null<float>(running_var), d, momentum, eps);
    }
    return {mean, invstd};
  }
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = decltype(tag);
    if (!training) {
      mean.copy_(running_mean);
      bn::batch_norm_invstd_cpu<T>(running_var.data<T>(), invstd.data<T>(), d.C, eps);
      return;
    }
    Tensor var = Tensor::empty(Shape{d.C}, x.dtype());
    bn::batch_norm_stats_cpu<T>(x.data<T>(), mean.data<T>(), var.data<T>(), d);
    bn::batch_norm_invstd_cpu<T>(var.data<T>(), invstd.data<T>(), d.C, eps);
    if (running_mean.defined())
      bn::batch_norm_update_running_cpu<T>(mean.data<T>(), var.data<T>(), running_mean.data<T>(),
                                           running_var.data<T>(), d.C, d.N * d.S, momentum);
  });
  return {mean, invstd};
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean, Tensor& running_var,
                  bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  const bn::BatchNormDims d = bn_dims(x);
  check_channel_vector(op, weight, x, d.C, "weight");
  check_channel_vector(op, bias, x, d.C, "bias");
  check_channel_vector(op, running_mean, x, d.C, "running_mean");
  check_channel_vector(op, running_var, x, d.C, "running_var");
  DRU_CHECK(running_mean.defined() == running_var.defined(),
            "batch_norm: running_mean and running_var must both be given or both be undefined");
  DRU_CHECK(training || running_mean.defined(),
            "batch_norm: eval mode needs running_mean and running_var; pass them or use training mode");
  DRU_CHECK(!training || d.N * d.S > 1,
            "batch_norm: training needs more than 1 value per channel, got input of shape {}", x.shape().str());
  auto [mean, invstd] = bn_statistics(x, d, running_mean, running_var, training, momentum, eps);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (on_cuda(x))
    cuda::batch_norm_apply(x.data<float>(), mean.data<float>(), invstd.data<float>(), data_or_null<float>(weight),
                           data_or_null<float>(bias), y.data<float>(), d);
  else
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      bn::batch_norm_apply_cpu<T>(x.data<T>(), mean.data<T>(), invstd.data<T>(), data_or_null<T>(weight),
                                  data_or_null<T>(bias), y.data<T>(), d);
    });
  if (!needs_grad({&x, &weight, &bias})) return y;
  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  Tensor xd = x.detach(), wd = weight.defined() ? weight.detach() : Tensor();
  const bool gx = x.requires_grad(), gw = weight.requires_grad(), gb = bias.requires_grad();
  const bool has_w = weight.defined(), has_b = bias.defined();
  return record("batch_norm", y, inputs, [=](const Tensor& g) {
    Tensor dx = grad_buffer(gx, xd);
    Tensor dw = grad_buffer(gw, wd), db = gb ? Tensor::empty(Shape{d.C}, g.dtype(), g.device()) : Tensor();
    if (on_cuda(g))
      cuda::batch_norm_backward(xd.data<float>(), g.data<float>(), mean.data<float>(), invstd.data<float>(),
                                data_or_null<float>(wd), data_or_null<float>(dx), data_or_null<float>(dw),
                                data_or_null<float>(db), d, training);
    else
      dispatch_float(g.dtype(), "batch_norm backward", [&](auto tag) {
        using T = decltype(tag);
        bn::batch_norm_backward_cpu<T>(xd.data<T>(), g.data<T>(), mean.data<T>(), invstd.data<T>(),
                                       data_or_null<T>(wd), data_or_null<T>(dx), data_or_null<T>(dw),
                                       data_or_null<T>(db), d, training);
      });
    std::vector<Tensor> grads{dx};
    if (has_w) grads.push_back(dw);
    if (has_b) grads.push_back(db);
    return grads;
  });
}

namespace {

// Checks a fixed-window pool's arguments and returns its dims; PyTorch's limits on padding apply.
pool::Pool2dDims pool_dims(const char* op, const Tensor& x, int kernel, int stride, int padding) {
  check_input4d(op, x);
  DRU_CHECK(kernel >= 1 && stride >= 1, "{}: kernel {} and stride {} must be at least 1", op, kernel, stride);
  DRU_CHECK(padding >= 0 && padding <= kernel / 2, "{}: padding {} must be between 0 and half the kernel ({})", op,
            padding, kernel / 2);
  pool::Pool2dDims d{x.size(0) * x.size(1), x.size(2), x.size(3), 0, 0, kernel, stride, padding};
  DRU_CHECK(d.H + 2 * d.pad >= kernel && d.W + 2 * d.pad >= kernel,
            "{}: input of shape {} with padding {} is smaller than the {}x{} kernel", op, x.shape().str(), padding,
            kernel, kernel);
  d.Ho = pool::pool_out_size(d.H, kernel, stride, padding);
  d.Wo = pool::pool_out_size(d.W, kernel, stride, padding);
  return d;
}

Shape pooled_shape(const Tensor& x, const pool::Pool2dDims& d) { return Shape{x.size(0), x.size(1), d.Ho, d.Wo}; }

// The CUDA launchers of a linear pool: forward (x, y, dims) and backward (dy, dx, dims).
using PoolLauncher = void (*)(const float*, float*, const pool::Pool2dDims&);

// Records a pool whose backward needs only dy and the dims: avg_pool2d and adaptive_avg_pool2d.
// fwd and bwd are the CPU kernels (generic lambdas over the float type), cuda_fwd and cuda_bwd the GPU ones.
template <class Fwd, class Bwd>
Tensor linear_pool(const char* op, const Tensor& x, const pool::Pool2dDims& d, Fwd fwd, Bwd bwd, PoolLauncher cuda_fwd,
                   PoolLauncher cuda_bwd) {
  Tensor y = Tensor::empty(pooled_shape(x, d), x.dtype(), x.device());
  if (on_cuda(x))
    cuda_fwd(x.data<float>(), y.data<float>(), d);
  else
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      fwd(x.data<T>(), y.data<T>(), d);
    });
  Shape xs = x.shape();
  return record(op, y, {x}, [=](const Tensor& g) {
    Tensor dx = Tensor::empty(xs, g.dtype(), g.device());
    if (on_cuda(g))
      cuda_bwd(g.data<float>(), dx.data<float>(), d);
    else
      dispatch_float(g.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        bwd(g.data<T>(), dx.data<T>(), d);
      });
    return std::vector<Tensor>{dx};
  });
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "max_pool2d";
  const pool::Pool2dDims d = pool_dims(op, x, kernel, stride, padding);
  Tensor y = Tensor::empty(pooled_shape(x, d), x.dtype(), x.device());
  Tensor argmax = Tensor::empty(y.shape(), DType::i64, x.device());
  if (on_cuda(x))
    cuda::max_pool2d_forward(x.data<float>(), y.data<float>(), argmax.data<int64_t>(), d);
  else
    dispatch_float(x.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      pool::max_pool2d_forward_cpu<T>(x.data<T>(), y.data<T>(), argmax.data<int64_t>(), d);
    });
  Shape xs = x.shape();
  return record(op, y, {x}, [=](const Tensor& g) {
    Tensor dx = Tensor::empty(xs, g.dtype(), g.device());
    if (on_cuda(g))
      cuda::max_pool2d_backward(g.data<float>(), argmax.data<int64_t>(), dx.data<float>(), d);
    else
      dispatch_float(g.dtype(), "max_pool2d backward", [&](auto tag) {
        using T = decltype(tag);
        pool::max_pool2d_backward_cpu<T>(g.data<T>(), argmax.data<int64_t>(), dx.data<T>(), d);
      });
    return std::vector<Tensor>{dx};
  });
}

Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "avg_pool2d";
  const pool::Pool2dDims d = pool_dims(op, x, kernel, stride, padding);
  return linear_pool(
      op, x, d, [](auto* xp, auto* yp, const auto& dd) { pool::avg_pool2d_forward_cpu(xp, yp, dd); },
      [](auto* gp, auto* dxp, const auto& dd) { pool::avg_pool2d_backward_cpu(gp, dxp, dd); },
      &cuda::avg_pool2d_forward, &cuda::avg_pool2d_backward);
}

Tensor adaptive_avg_pool2d(const Tensor& x, int oh, int ow) {
  const char* op = "adaptive_avg_pool2d";
  check_input4d(op, x);
  DRU_CHECK(oh >= 1 && ow >= 1, "adaptive_avg_pool2d: output size {}x{} must be at least 1x1", oh, ow);
  DRU_CHECK(x.size(2) >= 1 && x.size(3) >= 1, "adaptive_avg_pool2d: input of shape {} has an empty spatial dimension",
            x.shape().str());
  pool::Pool2dDims d{x.size(0) * x.size(1), x.size(2), x.size(3), oh, ow};
  return linear_pool(
      op, x, d, [](auto* xp, auto* yp, const auto& dd) { pool::adaptive_avg_pool2d_forward_cpu(xp, yp, dd); },
      [](auto* gp, auto* dxp, const auto& dd) { pool::adaptive_avg_pool2d_backward_cpu(gp, dxp, dd); },
      &cuda::adaptive_avg_pool2d_forward, &cuda::adaptive_avg_pool2d_backward);
}

}  // namespace dru
