// ops_loss.cpp — loss ops. Each is one fused tape node (DESIGN decision 3): the forward pass also
// computes d loss / d pred, and the backward only scales that saved gradient by the incoming scalar.
#include "engine/ops.h"
#include "kernels/loss/loss.h"

namespace dru {

namespace {

// Records a scalar loss whose gradient w.r.t. pred was precomputed; target gets the negated gradient
// (every loss here depends on pred - target) when it requires one.
Tensor fused_loss(const char* op, const Tensor& pred, const Tensor& target, double value, Tensor grad_pred,
                  bool target_is_difference) {
  Tensor out = Tensor::scalar(value, pred.dtype());
  bool gt = target.requires_grad() && target_is_difference;
  return record(op, out, {pred, target}, [grad_pred, gt](const Tensor& g) {
    double s = g.item();
    Tensor gp = s == 1.0 ? grad_pred : mul(grad_pred, s);
    return std::vector<Tensor>{gp, gt ? neg(gp) : Tensor()};
  });
}

void check_pair(const char* op, const Tensor& pred, const Tensor& target) {
  check_same(op, pred, target);
  check_float(op, pred);
  check_cpu(op, pred);
  DRU_CHECK(pred.shape() == target.shape(),
            "{}: prediction shape {} differs from target shape {} (reshape one; broadcasting here usually hides a bug)",
            op, pred.shape().str(), target.shape().str());
  DRU_CHECK(pred.numel() > 0, "{}: empty prediction of shape {}", op, pred.shape().str());
}

}  // namespace

Tensor l1_loss(const Tensor& pred, const Tensor& target) {
  check_pair("l1_loss", pred, target);
  Tensor grad = Tensor::empty(pred.shape(), pred.dtype());
  double v = dispatch_float(pred.dtype(), "l1_loss", [&](auto tag) {
    using T = decltype(tag);
    return l1_loss_forward_backward_cpu(pred.data<T>(), target.data<T>(), grad.data<T>(), pred.numel());
  });
  return fused_loss("l1_loss", pred, target, v, grad, true);
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  check_pair("mse_loss", pred, target);
  Tensor grad = Tensor::empty(pred.shape(), pred.dtype());
  double v = dispatch_float(pred.dtype(), "mse_loss", [&](auto tag) {
    using T = decltype(tag);
    return mse_loss_forward_backward_cpu(pred.data<T>(), target.data<T>(), grad.data<T>(), pred.numel());
  });
  return fused_loss("mse_loss", pred, target, v, grad, true);
}

Tensor quantile_loss(const Tensor& pred, const Tensor& target, const std::vector<double>& quantiles) {
  const char* op = "quantile_loss";
  check_same(op, pred, target);
  check_float(op, pred);
  check_cpu(op, pred);
  DRU_CHECK(pred.ndim() == 2 && pred.size(1) == int64_t(quantiles.size()),
            "quantile_loss: prediction has shape {}; expected (N, {}) for {} quantiles", pred.shape().str(),
            quantiles.size(), quantiles.size());
  DRU_CHECK(target.numel() == pred.size(0) && (target.ndim() == 1 || (target.ndim() == 2 && target.size(1) == 1)),
            "quantile_loss: target has shape {}; expected ({},) or ({}, 1)", target.shape().str(), pred.size(0),
            pred.size(0));
  for (double q : quantiles) DRU_CHECK(q > 0 && q < 1, "quantile_loss: quantile {} is not in (0, 1)", q);
  Tensor grad = Tensor::empty(pred.shape(), pred.dtype());
  double v = dispatch_float(pred.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    return quantile_loss_forward_backward_cpu(pred.data<T>(), target.data<T>(), quantiles.data(), grad.data<T>(),
                                              pred.size(0), pred.size(1));
  });
  // The target's gradient is the negated row sum of the prediction gradient; targets are data here.
  DRU_CHECK(!target.requires_grad(), "quantile_loss: a target that requires a gradient is not supported");
  return fused_loss(op, pred, target, v, grad, false);
}

}  // namespace dru
