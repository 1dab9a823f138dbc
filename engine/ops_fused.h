// ops_fused.h — fused ops that exist for one caller each and so stay out of ops.h: each is one tape
// node computed by one kernels/ family on the CPU (f32, f64) or CUDA (f32).
#pragma once

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace dru {

// Blindspot's attention-transfer distance (kernels/at_loss/at_loss.h): a and b are (m, C, ...) of the
// same shape, b the frozen model's activation (it never gets a gradient). Returns a 0-dim tensor on
// a's device: mean over samples and positions of (q(a) - q(b))^2, q(x) = l2_normalize(mean_c x^2) per
// sample. One pass computes the loss and dL/da; the backward scales dL/da by the incoming gradient.
Tensor attention_transfer_loss(const Tensor& a, const Tensor& b);

// The backward of a fused scalar node (the losses, attention transfer): the saved d out / d input times
// the incoming one-element gradient g, and with with_negated also its negation (for a loss's target),
// both from one launch. On CUDA the kernel reads g; the host never waits for it.
std::vector<Tensor> scale_fused_grad(const Tensor& saved, const Tensor& g, bool with_negated);

}  // namespace dru
