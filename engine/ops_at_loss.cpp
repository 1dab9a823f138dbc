// ops_at_loss.cpp — attention_transfer_loss (ops_fused.h): one fused tape node over the at_loss family.
// Like the regression losses (ops_loss.cpp) the forward also computes the gradient, and on CUDA the
// loss stays a 0-dim device tensor and the backward scales by the incoming gradient on the device.
#include "engine/ops.h"
#include "engine/ops_fused.h"
#include "kernels/at_loss/at_loss.h"
#include "kernels/at_loss/at_loss_cuda.h"

namespace dru {

Tensor attention_transfer_loss(const Tensor& a, const Tensor& b) {
  const char* op = "attention_transfer_loss";
  check_same(op, a, b);
  check_float(op, a);
  DRU_CHECK(a.shape() == b.shape() && a.ndim() >= 2,
            "{}: activations {} and {} must have the same shape (m, C, ...)", op, a.shape().str(), b.shape().str());
  DRU_CHECK(a.numel() > 0, "{}: empty activations of shape {}", op, a.shape().str());
  const int64_t m = a.size(0), C = a.size(1), S = a.numel() / (m * C);
  const bool want_grad = needs_grad({&a});
  Tensor grad = want_grad ? Tensor::empty(a.shape(), a.dtype(), a.device()) : Tensor();
  Tensor out;
  if (on_cuda(a)) {
    check_cuda_f32(op, a);
    out = Tensor::empty(Shape{}, DType::f32, Device::cuda);
    cuda::at_loss_fused(a.data<float>(), b.data<float>(), want_grad ? grad.data<float>() : nullptr,
                        out.data<float>(), m, C, S);
  } else {
    double v = dispatch_float(a.dtype(), op, [&](auto tag) {
      using T = decltype(tag);
      return at_loss_forward_backward_cpu(a.data<T>(), b.data<T>(), want_grad ? grad.data<T>() : nullptr, m, C, S);
    });
    out = Tensor::scalar(v, a.dtype());
  }
  // b is recorded nowhere: the frozen model's activation is a constant here, as b.detach() was.
  return record(op, out, {a}, [grad](const Tensor& g) { return std::vector<Tensor>{scale_fused_grad(grad, g, false)[0]}; });
}

}  // namespace dru
