// ops_loss.cpp — loss ops. Each is one fused tape node (DESIGN decision 3): the forward pass also
// computes d loss / d pred, and the backward only scales that saved gradient by the incoming scalar.
// On CUDA the loss is a 0-dim device tensor and the backward scales by the incoming gradient on the
// device too: neither direction waits for the GPU.
#include "engine/ops.h"
#include "engine/ops_fused.h"
#include "kernels/loss/loss.h"
#include "kernels/loss/loss_cuda.h"

namespace dru {

namespace {

// Records a scalar loss (out: a 0-dim tensor on pred's device) whose gradient w.r.t. pred was
// precomputed; target gets the negated gradient (every loss here depends on pred - target) when it
// requires one.
Tensor fused_loss(const char* op, const Tensor& pred, const Tensor& target, Tensor out, Tensor grad_pred,
                  bool target_is_difference) {
  bool gt = target.requires_grad() && target_is_difference;
  return record(op, out, {pred, target},
                [grad_pred, gt](const Tensor& g) { return scale_fused_grad(grad_pred, g, gt); });
}

// The CUDA forward of l1/mse: a 0-dim loss and the gradient, from one fused launch.
template <class F> Tensor fused_cuda(const char* op, const Tensor& pred, const Tensor& target, F&& launch) {
  check_cuda_f32(op, pred);
  Tensor grad = Tensor::empty(pred.shape(), DType::f32, Device::cuda);
  Tensor out = Tensor::empty(Shape{}, DType::f32, Device::cuda);
  launch(pred.data<float>(), target.data<float>(), grad.data<float>(), out.data<float>(), pred.numel());
  return fused_loss(op, pred, target, out, grad, true);
}

void check_pair(const char* op, const Tensor& pred, const Tensor& target) {
  check_same(op, pred, target);
  check_float(op, pred);
  DRU_CHECK(pred.shape() == target.shape(),
            "{}: prediction shape {} differs from target shape {} (reshape one; broadcasting here usually hides a bug)",
            op, pred.shape().str(), target.shape().str());
  DRU_CHECK(pred.numel() > 0, "{}: empty prediction of shape {}", op, pred.shape().str());
}

}  // namespace

std::vector<Tensor> scale_fused_grad(const Tensor& saved, const Tensor& g, bool with_negated) {
  if (on_cuda(saved)) {
    Tensor s = g.dtype() == DType::f32 ? g : g.to(DType::f32);
    if (!on_cuda(s)) s = s.to(Device::cuda);  // a queued host-to-device copy, no wait
    Tensor scaled = Tensor::empty(saved.shape(), DType::f32, Device::cuda);
    Tensor negated = with_negated ? Tensor::empty(saved.shape(), DType::f32, Device::cuda) : Tensor();
    cuda::scale_by_device_scalar(saved.data<float>(), s.data<float>(), scaled.data<float>(),
                                 with_negated ? negated.data<float>() : nullptr, saved.numel());
    return {scaled, negated};
  }
  double s = g.item();
  Tensor scaled = s == 1.0 ? saved : mul(saved, s);
  return {scaled, with_negated ? neg(scaled) : Tensor()};
}

Tensor l1_loss(const Tensor& pred, const Tensor& target) {
  check_pair("l1_loss", pred, target);
  if (on_cuda(pred)) return fused_cuda("l1_loss", pred, target, cuda::l1_loss_fused);
  Tensor grad = Tensor::empty(pred.shape(), pred.dtype());
  double v = dispatch_float(pred.dtype(), "l1_loss", [&](auto tag) {
    using T = decltype(tag);
    return l1_loss_forward_backward_cpu(pred.data<T>(), target.data<T>(), grad.data<T>(), pred.numel());
  });
  return fused_loss("l1_loss", pred, target, Tensor::scalar(v, pred.dtype()), grad, true);
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  check_pair("mse_loss", pred, target);
  if (on_cuda(pred)) return fused_cuda("mse_loss", pred, target, cuda::mse_loss_fused);
  Tensor grad = Tensor::empty(pred.shape(), pred.dtype());
  double v = dispatch_float(pred.dtype(), "mse_loss", [&](auto tag) {
    using T = decltype(tag);
    return mse_loss_forward_backward_cpu(pred.data<T>(), target.data<T>(), grad.data<T>(), pred.numel());
  });
  return fused_loss("mse_loss", pred, target, Tensor::scalar(v, pred.dtype()), grad, true);
}

Tensor quantile_loss(const Tensor& pred, const Tensor& target, const std::vector<double>& quantiles) {
  const char* op = "quantile_loss";
  check_same(op, pred, target);
  check_float(op, pred);
  DRU_CHECK(pred.ndim() == 2 && pred.size(1) == int64_t(quantiles.size()),
            "quantile_loss: prediction has shape {}; expected (N, {}) for {} quantiles", pred.shape().str(),
            quantiles.size(), quantiles.size());
  DRU_CHECK(target.numel() == pred.size(0) && (target.ndim() == 1 || (target.ndim() == 2 && target.size(1) == 1)),
            "quantile_loss: target has shape {}; expected ({},) or ({}, 1)", target.shape().str(), pred.size(0),
            pred.size(0));
  for (double q : quantiles) DRU_CHECK(q > 0 && q < 1, "quantile_loss: quantile {} is not in (0, 1)", q);
  // The target's gradient is the negated row sum of the prediction gradient; targets are data here.
  DRU_CHECK(!target.requires_grad(), "quantile_loss: a target that requires a gradient is not supported");
  if (on_cuda(pred)) {
    check_cuda_f32(op, pred);
    DRU_CHECK(quantiles.size() <= size_t(cuda::kMaxLossQuantiles), "quantile_loss: {} quantiles; CUDA takes at most {}",
              quantiles.size(), cuda::kMaxLossQuantiles);
    Tensor grad = Tensor::empty(pred.shape(), DType::f32, Device::cuda);
    Tensor out = Tensor::empty(Shape{}, DType::f32, Device::cuda);
    cuda::quantile_loss_fused(pred.data<float>(), target.data<float>(), quantiles.data(), int(quantiles.size()),
                              grad.data<float>(), out.data<float>(), pred.size(0));
    return fused_loss(op, pred, target, out, grad, false);
  }
  Tensor grad = Tensor::empty(pred.shape(), pred.dtype());
  double v = dispatch_float(pred.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    return quantile_loss_forward_backward_cpu(pred.data<T>(), target.data<T>(), quantiles.data(), grad.data<T>(),
                                              pred.size(0), pred.size(1));
  });
  return fused_loss(op, pred, target, Tensor::scalar(v, pred.dtype()), grad, false);
}

}  // namespace dru
