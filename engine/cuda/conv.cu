// conv.cu — conv2d through cuDNN, plus the bias kernels (see conv.h).
//
// A plan per shape (and TF32 setting) holds the tensor, filter and convolution descriptors and, per
// direction (forward, backward data, backward filter), the ranked algorithms it may use and the one
// in use with its workspace size. Each direction has its own convolution descriptor because cuDNN
// wants the descriptor's math type to be the one its chosen algorithm reported. Plans are made once
// and kept for the process (like the handles in cuda_runtime.cpp, never destroyed: that could run
// after the runtime's teardown). Choosing is host-only (heuristics), so a call makes no host sync.
// The bias add and the bias gradient are our own kernels; the gradient is a fixed-order per-channel
// reduction (channel_sums.cuh), so it is deterministic.
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/cuda/channel_sums.cuh"
#include "engine/cuda/common.cuh"
#include "engine/cuda/conv.h"
#include "engine/cuda_runtime.h"

namespace dru::cuda {

namespace {

// ---- bias ---------------------------------------------------------------------------------------

// y (N, O, P) += b[o].
template <class I> __global__ void add_bias_kernel(float* __restrict__ y, const float* __restrict__ b, I n, I P, I O) {
  DRU_GRID_LOOP_T(I, i, n) y[i] += b[(i / P) % O];
}

struct SumTerm {
  const float* v;
  __device__ double channel(int64_t) const { return 0.0; }
  __device__ void add(double* acc, double, int64_t i) const { acc[0] += double(v[i]); }
};

__global__ void finish_bias_grad_kernel(const double* __restrict__ part, int chunks, int64_t O, float* __restrict__ db) {
  DRU_GRID_LOOP(o, O) {
    double s;
    sum_partials<1>(part, o, chunks, &s);
    db[o] = float(s);
  }
}

}  // namespace

void conv2d_backward_bias(const float* dy, float* db, const conv::Conv2dDims& d) {
  if (d.O == 0) return;
  const int64_t P = d.Ho() * d.Wo();
  const int chunks = channel_chunks(d.N * P);
  double* part = static_cast<double*>(workspace(size_t(d.O) * size_t(chunks) * sizeof(double)));
  channel_partials<1>(SumTerm{dy}, d.N, d.O, P, part);
  finish_bias_grad_kernel<<<grid_for(d.O), kThreads, 0, stream()>>>(part, chunks, d.O, db);
  DRU_CUDA_LAUNCHED();
}

#ifdef DRU_HAVE_CUDNN

namespace {

// Algorithms needing more workspace than this are skipped (the workspace is kept for the process).
constexpr size_t kMaxWorkspace = size_t(256) << 20;

// One direction's algorithm: the usable candidates, best first, with the math type cuDNN reported
// for each; the last is a fallback that supports every shape. `at` is the one in use: it moves on
// when cuDNN refuses one (a workspace query or a call that answers "not supported").
template <class Algo> struct Choice {
  std::vector<std::pair<Algo, cudnnMathType_t>> options;
  size_t at = 0;
  size_t ws = 0;  // workspace bytes of options[at]
  bool ready = false;
};

struct ConvPlan {
  bool tf32 = false;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  // Forward, backward data, backward filter: cuDNN wants the descriptor's math type to be the one
  // the chosen algorithm reported, so each direction has its own.
  cudnnConvolutionDescriptor_t fwd_conv = nullptr, data_conv = nullptr, filter_conv = nullptr;
  Choice<cudnnConvolutionFwdAlgo_t> fwd;
  Choice<cudnnConvolutionBwdDataAlgo_t> data;
  Choice<cudnnConvolutionBwdFilterAlgo_t> filter;
};

bool benchmark_mode() {
  static const bool on = [] {
    const char* e = std::getenv("DRU_CUDNN_BENCHMARK");
    return e && std::strcmp(e, "1") == 0;
  }();
  return on;
}

// FP32 convolutions use TF32 tensor cores under CUDNN_DEFAULT_MATH on Ampere and later; FMA_MATH
// keeps them to plain FP32 FMAs, which is what parity with the CPU needs.
cudnnMathType_t base_math(bool tf32) { return tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

std::string dims_str(const conv::Conv2dDims& d) {
  return fmt::format("input ({}, {}, {}, {}), weight ({}, {}, {}, {}), stride {}, padding {}", d.N, d.C, d.H, d.W, d.O,
                     d.C, d.kh, d.kw, d.stride, d.pad);
}

cudnnConvolutionDescriptor_t make_conv_desc(const conv::Conv2dDims& d, bool tf32) {
  cudnnConvolutionDescriptor_t c = nullptr;
  DRU_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&c));
  DRU_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(c, int(d.pad), int(d.pad), int(d.stride), int(d.stride), 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  DRU_CUDNN_CHECK(cudnnSetConvolutionMathType(c, base_math(tf32)));
  return c;
}

std::unique_ptr<ConvPlan> make_plan(const conv::Conv2dDims& d, bool tf32) {
  const int64_t Ho = d.Ho(), Wo = d.Wo();
  const int64_t limit = (int64_t(1) << 31) - 1;
  DRU_CHECK(d.N * d.C * d.H * d.W <= limit && d.N * d.O * Ho * Wo <= limit && d.O * d.C * d.kh * d.kw <= limit,
            "conv2d: {} has a tensor of 2^31 or more elements, beyond cuDNN's 32-bit sizes; use a smaller batch",
            dims_str(d));
  auto p = std::make_unique<ConvPlan>();
  p->tf32 = tf32;
  DRU_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  DRU_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(d.N), int(d.C), int(d.H),
                                             int(d.W)));
  DRU_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  DRU_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(d.N), int(d.O), int(Ho),
                                             int(Wo)));
  DRU_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  DRU_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(d.O), int(d.C), int(d.kh),
                                             int(d.kw)));
  p->fwd_conv = make_conv_desc(d, tf32);
  p->data_conv = make_conv_desc(d, tf32);
  p->filter_conv = make_conv_desc(d, tf32);
  int n = 0, c = 0, h = 0, w = 0;
  DRU_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->fwd_conv, p->x, p->w, &n, &c, &h, &w));
  DRU_CHECK(n == d.N && c == d.O && h == Ho && w == Wo,
            "conv2d: cuDNN computes output ({}, {}, {}, {}) for {}, expected ({}, {}, {}, {})", n, c, h, w, dims_str(d),
            d.N, d.O, Ho, Wo);
  return p;
}

// Plans by (N, C, H, W, O, kh, kw, stride, pad, tf32). The mutex also covers the lazy algorithm
// choice: launchers hold it for their whole (host-side, asynchronous) call.
std::mutex& plan_mutex() {
  static std::mutex m;
  return m;
}

ConvPlan& plan_for(const conv::Conv2dDims& d) {
  static std::map<std::array<int64_t, 10>, std::unique_ptr<ConvPlan>> plans;
  const bool tf32 = cuda::tf32();
  std::array<int64_t, 10> key{d.N, d.C, d.H, d.W, d.O, d.kh, d.kw, d.stride, d.pad, tf32 ? 1 : 0};
  std::unique_ptr<ConvPlan>& p = plans[key];
  if (!p) p = make_plan(d, tf32);
  return *p;
}

// The usable results in cuDNN's order (fastest first): supported, deterministic (two runs must agree
// bit for bit) and within the workspace limit; then the fallback. With TF32 each keeps the math type
// cuDNN reported for it; without, every option runs under FMA_MATH whatever was reported (so no
// tensor-core math can slip in), and an algorithm that has no FMA kernel is refused by cuDNN when
// settled or run, which moves on to the next option.
template <class Perf, class Algo>
void set_options(Choice<Algo>& ch, const std::vector<Perf>& r, int count, bool tf32, Algo fallback) {
  ch.options.clear();
  auto add = [&](Algo a, cudnnMathType_t m) {
    for (const auto& o : ch.options)
      if (o.first == a && o.second == m) return;
    ch.options.emplace_back(a, m);
  };
  for (int i = 0; i < count; ++i) {
    if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].determinism != CUDNN_DETERMINISTIC) continue;
    if (r[i].memory > kMaxWorkspace) continue;
    add(r[i].algo, tf32 ? r[i].mathType : CUDNN_FMA_MATH);
  }
  add(fallback, base_math(tf32));
  ch.at = 0;
}

// Settles on the first option from ch.at whose workspace size cuDNN reports (it refuses unsupported
// ones there), setting the descriptor's math type to that option's. ws_size(algo, &bytes) -> status.
template <class Algo, class WsFn>
void settle(Choice<Algo>& ch, cudnnConvolutionDescriptor_t conv, WsFn ws_size, const conv::Conv2dDims& d,
            const char* dir) {
  for (; ch.at < ch.options.size(); ++ch.at) {
    DRU_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, ch.options[ch.at].second));
    size_t bytes = 0;
    if (ws_size(ch.options[ch.at].first, &bytes) == CUDNN_STATUS_SUCCESS) {
      ch.ws = bytes;
      ch.ready = true;
      return;
    }
  }
  DRU_FAIL("conv2d {}: cuDNN supports none of its algorithms for {}", dir, dims_str(d));
}

// Runs run(algo, workspace, bytes) -> status with the option in use. When cuDNN refuses it (a call
// fails before doing any work: the output is written only by a call that succeeds) it moves to the
// next option, for good — the plan remembers — and tries again; it throws when none is left.
template <class Algo, class WsFn, class RunFn>
void run_choice(Choice<Algo>& ch, cudnnConvolutionDescriptor_t conv, WsFn ws_size, RunFn run,
                const conv::Conv2dDims& d, const char* dir) {
  for (;;) {
    void* ws = workspace(ch.ws);
    const cudnnStatus_t s = run(ch.options[ch.at].first, ws, ch.ws);
    if (s == CUDNN_STATUS_SUCCESS) return;
    // Inside a CUDA graph's capture the failure may be the capture's, not the algorithm's: refuse the
    // capture rather than give the algorithm up for good (eager runs would then differ).
    if (capturing())
      fail_at(__FILE__, __LINE__,
              fmt::format("conv2d {}: cuDNN error {} ({}) for {} while capturing a CUDA graph", dir, int(s),
                          cudnnGetErrorString(s), dims_str(d)));
    if (ch.at + 1 >= ch.options.size())
      fail_at(__FILE__, __LINE__,
              fmt::format("conv2d {}: cuDNN error {} ({}) for {}, algorithm {}", dir, int(s), cudnnGetErrorString(s),
                          dims_str(d), int(ch.options[ch.at].first)));
    ++ch.at;
    settle(ch, conv, ws_size, d, dir);
  }
}

// Number of results to ask cuDNN for (at least 1).
template <class CountFn> int result_count(CountFn count_fn) {
  int n = 0;
  DRU_CUDNN_CHECK(count_fn(cudnn(), &n));
  return n < 1 ? 1 : n;
}

}  // namespace

void conv2d_forward(const float* x, const float* w, const float* b, float* y, const conv::Conv2dDims& d) {
  std::lock_guard<std::mutex> lock(plan_mutex());
  ConvPlan& p = plan_for(d);
  cudnnHandle_t h = cudnn();
  auto ws_size = [&](cudnnConvolutionFwdAlgo_t a, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.fwd_conv, p.y, a, bytes);
  };
  if (!p.fwd.ready) {
    const int max_n = result_count(cudnnGetConvolutionForwardAlgorithmMaxCount);
    std::vector<cudnnConvolutionFwdAlgoPerf_t> r(static_cast<size_t>(max_n));
    int got = 0;
    if (benchmark_mode())
      DRU_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, p.x, x, p.w, w, p.fwd_conv, p.y, y, max_n, &got,
                                                             r.data(), workspace(kMaxWorkspace), kMaxWorkspace));
    else
      DRU_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.fwd_conv, p.y, max_n, &got, r.data()));
    set_options(p.fwd, r, got, p.tf32, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM);
    settle(p.fwd, p.fwd_conv, ws_size, d, "forward");
  }
  const float one = 1.0f, zero = 0.0f;
  run_choice(
      p.fwd, p.fwd_conv, ws_size,
      [&](cudnnConvolutionFwdAlgo_t a, void* ws, size_t bytes) {
        return cudnnConvolutionForward(h, &one, p.x, x, p.w, w, p.fwd_conv, a, ws, bytes, &zero, p.y, y);
      },
      d, "forward");
  if (!b) return;
  const int64_t P = d.Ho() * d.Wo(), n = d.N * d.O * P;
  if (n == 0) return;
  with_index_type(n, [&](auto tag) {
    using I = decltype(tag);
    add_bias_kernel<I><<<grid_for(n), kThreads, 0, stream()>>>(y, b, I(n), I(P), I(d.O));
  });
  DRU_CUDA_LAUNCHED();
}

void conv2d_backward_data(const float* w, const float* dy, float* dx, const conv::Conv2dDims& d) {
  std::lock_guard<std::mutex> lock(plan_mutex());
  ConvPlan& p = plan_for(d);
  cudnnHandle_t h = cudnn();
  auto ws_size = [&](cudnnConvolutionBwdDataAlgo_t a, size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.data_conv, p.x, a, bytes);
  };
  if (!p.data.ready) {
    const int max_n = result_count(cudnnGetConvolutionBackwardDataAlgorithmMaxCount);
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> r(static_cast<size_t>(max_n));
    int got = 0;
    if (benchmark_mode())
      DRU_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, p.w, w, p.y, dy, p.data_conv, p.x, dx, max_n, &got,
                                                                  r.data(), workspace(kMaxWorkspace), kMaxWorkspace));
    else
      DRU_CUDNN_CHECK(
          cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.data_conv, p.x, max_n, &got, r.data()));
    set_options(p.data, r, got, p.tf32, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1);
    settle(p.data, p.data_conv, ws_size, d, "backward data");
  }
  const float one = 1.0f, zero = 0.0f;
  run_choice(
      p.data, p.data_conv, ws_size,
      [&](cudnnConvolutionBwdDataAlgo_t a, void* ws, size_t bytes) {
        return cudnnConvolutionBackwardData(h, &one, p.w, w, p.y, dy, p.data_conv, a, ws, bytes, &zero, p.x, dx);
      },
      d, "backward data");
}

void conv2d_backward_filter(const float* x, const float* dy, float* dw, const conv::Conv2dDims& d) {
  std::lock_guard<std::mutex> lock(plan_mutex());
  ConvPlan& p = plan_for(d);
  cudnnHandle_t h = cudnn();
  auto ws_size = [&](cudnnConvolutionBwdFilterAlgo_t a, size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x, p.y, p.filter_conv, p.w, a, bytes);
  };
  if (!p.filter.ready) {
    const int max_n = result_count(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount);
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> r(static_cast<size_t>(max_n));
    int got = 0;
    if (benchmark_mode())
      DRU_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p.x, x, p.y, dy, p.filter_conv, p.w, dw, max_n,
                                                                    &got, r.data(), workspace(kMaxWorkspace),
                                                                    kMaxWorkspace));
    else
      DRU_CUDNN_CHECK(
          cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.filter_conv, p.w, max_n, &got, r.data()));
    set_options(p.filter, r, got, p.tf32, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1);
    settle(p.filter, p.filter_conv, ws_size, d, "backward filter");
  }
  const float one = 1.0f, zero = 0.0f;
  run_choice(
      p.filter, p.filter_conv, ws_size,
      [&](cudnnConvolutionBwdFilterAlgo_t a, void* ws, size_t bytes) {
        return cudnnConvolutionBackwardFilter(h, &one, p.x, x, p.y, dy, p.filter_conv, a, ws, bytes, &zero, p.w, dw);
      },
      d, "backward filter");
}

#else  // a CUDA build without cuDNN

namespace {
[[noreturn]] void needs_cudnn(const conv::Conv2dDims& d) {
  DRU_FAIL("conv2d on CUDA needs cuDNN; rebuild with cuDNN (input ({}, {}, {}, {}), weight ({}, {}, {}, {}))", d.N, d.C,
           d.H, d.W, d.O, d.C, d.kh, d.kw);
}
}  // namespace

void conv2d_forward(const float*, const float*, const float*, float*, const conv::Conv2dDims& d) { needs_cudnn(d); }
void conv2d_backward_data(const float*, const float*, float*, const conv::Conv2dDims& d) { needs_cudnn(d); }
void conv2d_backward_filter(const float*, const float*, float*, const conv::Conv2dDims& d) { needs_cudnn(d); }

#endif

}  // namespace dru::cuda
