// lstm_bench.cu — bench_lstm: one LSTM layer's forward + backward on the GPU (engine/cuda/seq.cu: the
// input projection as one GEMM, the whole recurrence in one launch per direction for D <= 128) at the
// STS-B model's shapes, validated against the CPU op first, timed like the other kernel benches. Its
// PyTorch twin is the "lstm torch-cudnn" row of tools/bench_torch_cuda.py (nn.LSTM, cuDNN), same shapes.
// The work is latency- and compute-bound, not bandwidth-bound: the rows report time, with no byte count
// (gbps 0), as the PyTorch rows do.
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/rng.h"
#include "kernels/common/bench.cuh"

using namespace dru;

namespace {

Tensor random(const Shape& s, uint64_t seed, double scale) {
  Generator g(seed);
  Tensor t = Tensor::empty(s);
  g.fill_uniform(t, -scale, scale);
  return t;
}

struct Layer {
  std::vector<Tensor> leaves;  // x, w_ih, w_hh, b_ih, b_hh
  Tensor run() const { return lstm(leaves[0], {{leaves[1], leaves[2], leaves[3], leaves[4]}}); }
};

Layer make_layer(int64_t n, int64_t t, int64_t in, int64_t d, Device dev) {
  const double k = 1.0 / std::sqrt(double(d));
  Layer l;
  l.leaves = {random(Shape{n, t, in}, 1, 1.0), random(Shape{4 * d, in}, 2, k), random(Shape{4 * d, d}, 3, k),
              random(Shape{4 * d}, 4, k), random(Shape{4 * d}, 5, k)};
  for (Tensor& v : l.leaves) v = v.to(dev).requires_grad_();
  return l;
}

double worst(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector(), y = b.to_vector();
  double e = 0;
  for (size_t i = 0; i < x.size(); ++i) e = std::max(e, std::fabs(x[i] - y[i]) / std::max(1.0, std::fabs(y[i])));
  return e;
}

}  // namespace

int main() {
  bench::require_gpu("bench_lstm");
  for (auto [n, t, in, d] : {std::array<int64_t, 4>{256, 10, 300, 64}, std::array<int64_t, 4>{32, 30, 300, 64}}) {
    const std::string shape = "N=" + std::to_string(n) + ",T=" + std::to_string(t) + ",I=" + std::to_string(in) +
                              ",H=" + std::to_string(d);
    Layer cpu = make_layer(n, t, in, d, Device::cpu), gpu = make_layer(n, t, in, d, Device::cuda);
    Tensor g = random(Shape{n, t, d}, 6, 1.0);
    Tensor g_dev = g.to(Device::cuda);
    cpu.run().backward(g);
    gpu.run().backward(g_dev);
    double err = 0;
    for (size_t i = 0; i < cpu.leaves.size(); ++i) err = std::max(err, worst(gpu.leaves[i].grad(), cpu.leaves[i].grad()));
    bench::validate("lstm " + shape + " gradients vs CPU", err, 1e-4);
    double ms = bench::median_ms([&] {
      for (Tensor& l : gpu.leaves) l.impl->grad = Tensor();  // fresh gradients, as after zero_grad
      gpu.run().backward(g_dev);
    });
    bench::row("lstm", "v1", n * t * in, ms, 0.0, ",\"shape\":\"" + shape + "\"");
  }
  return 0;
}
