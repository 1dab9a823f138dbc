// batchnorm.h — batch normalisation, forward and backward, CPU reference.
//
// Layout: x (N, C, S) row-major, S the product of the trailing dimensions (1 for (N, C) input, L for
// (N, C, L), H*W for (N, C, H, W)); statistics are per channel over the M = N*S values.
//   training   mean_c, var_c = mean and biased variance of the batch; invstd_c = 1 / sqrt(var_c + eps)
//   eval       mean_c, invstd_c from the running buffers
//   y = (x - mean_c) * invstd_c * gamma_c + beta_c      (gamma = 1, beta = 0 when null)
// Backward, with xhat = (x - mean) * invstd, Sg = sum dy, Sgx = sum dy * xhat over a channel:
//   dgamma = Sgx, dbeta = Sg,
//   dx = gamma * invstd * (dy - Sg / M - xhat * Sgx / M)   with batch statistics (they depend on x),
//   dx = gamma * invstd * dy                               with running statistics (constants).
// Running update (PyTorch): r = (1 - momentum) r + momentum * batch, with var's batch value unbiased,
// var_c * M / (M - 1). Sums accumulate in double. Channels are spread over OpenMP threads.
#pragma once

#include <cstdint>

namespace dru::bn {

struct BatchNormDims {
  int64_t N = 0, C = 0, S = 1;  // x (N, C, S)
};

// Per-channel mean and biased variance of x (requires M = N*S >= 1).
template <class T> void batch_norm_stats_cpu(const T* x, T* mean, T* var, const BatchNormDims& d);
// invstd_c = 1 / sqrt(var_c + eps) for C channels.
template <class T> void batch_norm_invstd_cpu(const T* var, T* invstd, int64_t C, double eps);
// y = (x - mean) * invstd * gamma + beta; gamma and beta may be null.
template <class T>
void batch_norm_apply_cpu(const T* x, const T* mean, const T* invstd, const T* gamma, const T* beta, T* y,
                          const BatchNormDims& d);
// Gradients of sum(y * dy). gamma may be null (= 1); any of dx, dgamma, dbeta may be null to skip
// it; outputs are overwritten. batch_stats says whether mean and invstd came from this x.
template <class T>
void batch_norm_backward_cpu(const T* x, const T* dy, const T* mean, const T* invstd, const T* gamma, T* dx,
                             T* dgamma, T* dbeta, const BatchNormDims& d, bool batch_stats);
// running_mean and running_var (C) updated in place from the batch mean and biased var over M > 1 values.
template <class T>
void batch_norm_update_running_cpu(const T* mean, const T* var, T* running_mean, T* running_var, int64_t C, int64_t M,
                                   double momentum);

}  // namespace dru::bn
