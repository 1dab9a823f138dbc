// test_gpu_ops_seq.cpp — matmul, linear, softmax, layer_norm, lstm and attention on CUDA against the
// CPU path on the same data: outputs, and the gradients of every input after backpropagating the same
// random output gradient on both devices (out.backward(g) is sum(out * g) without needing the
// element-wise ops on CUDA). Also: bit-identical gradients on a second run, no host synchronisation
// inside forward and backward, and the mixed-device error.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/cuda_runtime.h"
#include "engine/ops.h"
#include "tests/gpu/gpu_util.h"

using namespace dru;
using gpu_test::expect_close;
using gpu_test::randn;

namespace {

constexpr double kGemmTol = 1e-4;
constexpr double kElemTol = 1e-5;

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs f on CPU leaves and on CUDA copies of them, backpropagates the same random gradient through
// both outputs and compares the outputs and the gradients of the inputs named in `names`.
void check_parity(const std::string& op, const std::vector<Tensor>& cpu_values, const std::vector<std::string>& names,
                  const Fn& f, double fwd_tol, double grad_tol, uint64_t seed = 99) {
  std::vector<Tensor> on_cpu, on_gpu;
  for (const Tensor& v : cpu_values) {
    Tensor a = v.detach().clone(), b = gpu_test::cuda(v);
    on_cpu.push_back(a.requires_grad_());
    on_gpu.push_back(b.requires_grad_());
  }
  Tensor y_cpu = f(on_cpu), y_gpu = f(on_gpu);
  REQUIRE(y_gpu.device() == Device::cuda);
  expect_close(op + " forward", y_gpu, y_cpu, fwd_tol);
  Tensor g = randn(y_cpu.shape(), seed);
  y_cpu.backward(g);
  y_gpu.backward(gpu_test::cuda(g));
  for (size_t i = 0; i < names.size(); ++i)
    expect_close(op + " d" + names[i], on_gpu[i].grad(), on_cpu[i].grad(), grad_tol);
}

// PyTorch's LSTM initialisation, U(-1/sqrt(D), 1/sqrt(D)), for the 4 tensors of each layer.
std::vector<Tensor> lstm_values(int64_t n, int64_t t, int64_t in, int64_t d, int layers, uint64_t seed) {
  std::vector<Tensor> v{randn(Shape{n, t, in}, seed)};
  const double k = 1.0 / std::sqrt(double(d));
  for (int l = 0; l < layers; ++l) {
    const int64_t li = l == 0 ? in : d;
    v.push_back(gpu_test::uniform(Shape{4 * d, li}, seed + 10 * l + 1, -k, k));
    v.push_back(gpu_test::uniform(Shape{4 * d, d}, seed + 10 * l + 2, -k, k));
    v.push_back(gpu_test::uniform(Shape{4 * d}, seed + 10 * l + 3, -k, k));
    v.push_back(gpu_test::uniform(Shape{4 * d}, seed + 10 * l + 4, -k, k));
  }
  return v;
}

Tensor run_lstm(const std::vector<Tensor>& v) {
  std::vector<LstmLayerWeights> layers;
  for (size_t i = 1; i + 3 < v.size(); i += 4) layers.push_back({v[i], v[i + 1], v[i + 2], v[i + 3]});
  return lstm(v[0], layers);
}

std::vector<std::string> lstm_names(int layers) {
  std::vector<std::string> names{"x"};
  for (int l = 0; l < layers; ++l)
    for (const char* w : {"w_ih", "w_hh", "b_ih", "b_hh"}) names.push_back(fmt::format("{}{}", w, l));
  return names;
}

void check_lstm(int64_t n, int64_t t, int64_t in, int64_t d, int layers, double tol) {
  check_parity(fmt::format("lstm N={} T={} I={} D={} layers={}", n, t, in, d, layers),
               lstm_values(n, t, in, d, layers, 7), lstm_names(layers), run_lstm, tol, tol);
}

// A (N, S) key mask: key j of batch b attends unless j >= len[b]; stored as dtype t.
Tensor key_mask(const std::vector<int64_t>& lens, int64_t s, DType t) {
  std::vector<double> m;
  for (int64_t len : lens)
    for (int64_t j = 0; j < s; ++j) m.push_back(j < len ? (t == DType::i64 ? 3.0 : 1.0) : 0.0);  // any non-zero attends
  return Tensor::from(m, Shape{int64_t(lens.size()), s}, t);
}

void check_attention(int64_t n, int64_t h, int64_t t, int64_t s, int64_t dh, const Tensor& mask_cpu) {
  Tensor mask_gpu = mask_cpu.defined() ? mask_cpu.to(Device::cuda) : Tensor();
  std::vector<Tensor> v{randn(Shape{n, h, t, dh}, 31), randn(Shape{n, h, s, dh}, 32), randn(Shape{n, h, s, dh}, 33)};
  check_parity(
      fmt::format("attention N={} H={} T={} S={} Dh={} mask={}", n, h, t, s, dh,
                  mask_cpu.defined() ? dtype_name(mask_cpu.dtype()) : "none"),
      v, {"q", "k", "v"},
      [&](const std::vector<Tensor>& x) {
        return scaled_dot_product_attention(x[0], x[1], x[2], x[0].device() == Device::cuda ? mask_gpu : mask_cpu);
      },
      kGemmTol, kGemmTol);
}

// The values of a CUDA tensor; f32 -> f64 is exact, so equal vectors mean equal bits (no NaN here).
std::vector<double> bits(const Tensor& t) { return t.to_vector(); }

}  // namespace

TEST_CASE("gpu: matmul 2-D at odd sizes forward and backward") {
  check_parity(
      "matmul 37x53 * 53x29", {randn(Shape{37, 53}, 1), randn(Shape{53, 29}, 2)}, {"a", "b"},
      [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); }, kGemmTol, kGemmTol);
  check_parity(
      "matmul 1x300 * 300x1", {randn(Shape{1, 300}, 3), randn(Shape{300, 1}, 4)}, {"a", "b"},
      [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); }, kGemmTol, kGemmTol);
}

TEST_CASE("gpu: matmul batched forward and backward") {
  check_parity(
      "matmul 5x(7x11 * 11x13)", {randn(Shape{5, 7, 11}, 5), randn(Shape{5, 11, 13}, 6)}, {"a", "b"},
      [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); }, kGemmTol, kGemmTol);
  check_parity(
      "matmul 16x(128x64 * 64x128)", {randn(Shape{16, 128, 64}, 7), randn(Shape{16, 64, 128}, 8)}, {"a", "b"},
      [](const std::vector<Tensor>& x) { return matmul(x[0], x[1]); }, kGemmTol, kGemmTol);
}

TEST_CASE("gpu: linear with 3-D input with and without bias") {
  auto with_bias = [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); };
  auto without = [](const std::vector<Tensor>& x) { return linear(x[0], x[1], Tensor()); };
  check_parity("linear (3, 5, 37) -> 29 with bias",
               {randn(Shape{3, 5, 37}, 11), randn(Shape{29, 37}, 12), randn(Shape{29}, 13)}, {"x", "w", "b"}, with_bias,
               kGemmTol, kGemmTol);
  check_parity("linear (3, 5, 37) -> 29 without bias", {randn(Shape{3, 5, 37}, 11), randn(Shape{29, 37}, 12)},
               {"x", "w"}, without, kGemmTol, kGemmTol);
  // Model-sized: bert-lite's feed-forward (N T = 32 x 64 rows, 256 -> 1024); the bias gradient then
  // sums 2048 rows in the two-pass column sum.
  check_parity("linear (32, 64, 256) -> 1024 with bias",
               {randn(Shape{32, 64, 256}, 14), randn(Shape{1024, 256}, 15, 0.06), randn(Shape{1024}, 16)},
               {"x", "w", "b"}, with_bias, kGemmTol, kGemmTol);
  check_parity("linear (200, 3) -> 1 with bias",
               {randn(Shape{200, 3}, 17), randn(Shape{1, 3}, 18), randn(Shape{1}, 19)}, {"x", "w", "b"}, with_bias,
               kGemmTol, kGemmTol);
}

TEST_CASE("gpu: softmax over the last and a middle dim") {
  auto last = [](const std::vector<Tensor>& x) { return softmax(x[0], -1); };
  auto middle = [](const std::vector<Tensor>& x) { return softmax(x[0], 1); };
  check_parity("softmax (4, 6, 37) dim -1", {randn(Shape{4, 6, 37}, 21, 3.0)}, {"x"}, last, kElemTol, kElemTol);
  check_parity("softmax (3, 1000) dim -1", {randn(Shape{3, 1000}, 22, 5.0)}, {"x"}, last, kElemTol, kElemTol);
  check_parity("softmax (4, 37, 5) dim 1", {randn(Shape{4, 37, 5}, 23, 3.0)}, {"x"}, middle, kElemTol, kElemTol);
  // A row of -inf gives zeros (not NaN) on both devices; a single -inf entry gets probability 0.
  Tensor x = randn(Shape{3, 9}, 24);
  for (int64_t j = 0; j < 9; ++j) x.data<float>()[j] = -std::numeric_limits<float>::infinity();
  x.data<float>()[9 + 4] = -std::numeric_limits<float>::infinity();
  check_parity("softmax with -inf rows dim -1", {x}, {"x"}, last, kElemTol, kElemTol);
}

TEST_CASE("gpu: layer_norm with and without affine") {
  auto affine = [](const std::vector<Tensor>& x) { return layer_norm(x[0], x[1], x[2], 1e-5); };
  auto plain = [](const std::vector<Tensor>& x) { return layer_norm(x[0], Tensor(), Tensor(), 1e-5); };
  auto weight_only = [](const std::vector<Tensor>& x) { return layer_norm(x[0], x[1], Tensor(), 1e-5); };
  std::vector<Tensor> small{randn(Shape{3, 7, 37}, 41, 2.0), gpu_test::uniform(Shape{37}, 42, 0.5, 1.5),
                            randn(Shape{37}, 43)};
  check_parity("layer_norm (3, 7, 37) affine", small, {"x", "w", "b"}, affine, kGemmTol, kGemmTol);
  check_parity("layer_norm (3, 7, 37) plain", {small[0]}, {"x"}, plain, kGemmTol, kGemmTol);
  check_parity("layer_norm (3, 7, 37) weight only", {small[0], small[1]}, {"x", "w"}, weight_only, kGemmTol, kGemmTol);
  // bert-lite's size: 32 x 64 rows of 256 (the weight and bias gradients sum 2048 rows in 16 chunks).
  check_parity("layer_norm (32, 64, 256) affine",
               {randn(Shape{32, 64, 256}, 44), gpu_test::uniform(Shape{256}, 45, 0.5, 1.5), randn(Shape{256}, 46)},
               {"x", "w", "b"}, affine, kGemmTol, kGemmTol);
}

TEST_CASE("gpu: lstm one and two layers small and model sized") {
  check_lstm(3, 5, 7, 6, 1, kGemmTol);
  check_lstm(3, 5, 7, 6, 2, kGemmTol);
  check_lstm(32, 20, 100, 64, 1, kGemmTol);
  check_lstm(32, 20, 100, 64, 2, kGemmTol);
  check_lstm(1, 1, 3, 2, 1, kGemmTol);    // a single step: no recurrent GEMM at all
  check_lstm(5, 7, 4, 128, 1, kGemmTol);  // the largest D of the one-launch recurrence: 512 threads a block
  check_lstm(300, 3, 4, 5, 1, kGemmTol);  // many sequences, D not a multiple of the warp
  check_lstm(3, 4, 5, 130, 2, kGemmTol);  // D > 128: a GEMM and a cell kernel per step instead
}

TEST_CASE("gpu: attention with and without a key mask") {
  check_attention(2, 3, 5, 7, 8, Tensor());
  check_attention(2, 3, 5, 7, 8, key_mask({7, 3}, 7, DType::u8));
  // Batch 1 is fully padded: its queries attend to nothing and give zeros (the CPU's semantics).
  check_attention(2, 3, 5, 7, 8, key_mask({4, 0}, 7, DType::i64));
  check_attention(4, 4, 64, 64, 64, key_mask({64, 50, 17, 1}, 64, DType::u8));  // bert-lite's head size
}

TEST_CASE("gpu: lstm linear and layer_norm gradients are bit-identical on a rerun") {
  std::vector<Tensor> v = lstm_values(32, 20, 100, 64, 2, 3);
  auto lstm_grads = [&] {
    std::vector<Tensor> leaves;
    for (const Tensor& t : v) {
      Tensor c = gpu_test::cuda(t);
      leaves.push_back(c.requires_grad_());
    }
    Tensor y = run_lstm(leaves);
    y.backward(gpu_test::cuda(randn(y.shape(), 5)));
    std::vector<std::vector<double>> out;
    for (const Tensor& l : leaves) out.push_back(bits(l.grad()));
    return out;
  };
  std::vector<std::vector<double>> first = lstm_grads(), second = lstm_grads();
  for (size_t i = 0; i < first.size(); ++i)
    CHECK_MESSAGE(first[i] == second[i], "lstm gradient " << i << " differs on a rerun");

  auto other_grads = [] {
    Tensor x = gpu_test::cuda(randn(Shape{64, 40, 96}, 8)), w = gpu_test::cuda(randn(Shape{48, 96}, 9)),
           b = gpu_test::cuda(randn(Shape{48}, 10));
    Tensor lw = gpu_test::cuda(randn(Shape{48}, 11)), lb = gpu_test::cuda(randn(Shape{48}, 12));
    w.requires_grad_();
    b.requires_grad_();
    lw.requires_grad_();
    lb.requires_grad_();
    Tensor y = layer_norm(linear(x, w, b), lw, lb, 1e-5);
    y.backward(gpu_test::cuda(randn(y.shape(), 13)));
    return std::vector<std::vector<double>>{bits(w.grad()), bits(b.grad()), bits(lw.grad()), bits(lb.grad())};
  };
  CHECK(other_grads() == other_grads());
}

TEST_CASE("gpu: lstm and attention forward and backward make no host sync") {
  std::vector<Tensor> v = lstm_values(8, 12, 10, 16, 2, 4);
  std::vector<Tensor> leaves;
  for (const Tensor& t : v) {
    Tensor c = gpu_test::cuda(t);
    leaves.push_back(c.requires_grad_());
  }
  // Separate leaves for the two attention-shaped chains: accumulating into one leaf would need add_.
  Tensor q = gpu_test::cuda(randn(Shape{2, 2, 6, 8}, 1)), k = gpu_test::cuda(randn(Shape{2, 2, 6, 8}, 2)),
         z = gpu_test::cuda(randn(Shape{2, 2, 6, 8}, 3));
  Tensor mask = key_mask({6, 2}, 6, DType::i64).to(Device::cuda);
  q.requires_grad_();
  z.requires_grad_();
  Tensor g_lstm = gpu_test::cuda(randn(Shape{8, 12, 16}, 6)), g_att = gpu_test::cuda(randn(Shape{2, 2, 6, 8}, 7));
  const int64_t before = cuda::host_syncs();
  run_lstm(leaves).backward(g_lstm);
  scaled_dot_product_attention(q, k, k, mask).backward(g_att);
  softmax(layer_norm(z, Tensor(), Tensor(), 1e-5), 1).backward(g_att);
  CHECK(cuda::host_syncs() == before);
}

TEST_CASE("gpu: mixed devices are refused with the device message") {
  Tensor a = randn(Shape{3, 4}, 1), b = gpu_test::cuda(randn(Shape{4, 2}, 2));
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("devices differ"), dru::Error);
  CHECK_THROWS_WITH_AS(linear(b.reshape(Shape{2, 4}), a, Tensor()), doctest::Contains("devices differ"), dru::Error);
  Tensor q = gpu_test::cuda(randn(Shape{1, 1, 2, 4}, 3));
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, q, q, Tensor::ones(Shape{1, 2}, DType::u8)),
                       doctest::Contains("devices differ"), dru::Error);
}

// Not a check: prints the time of one lstm forward and backward at the stsb-lstm and electricity-lstm
// sizes (run with -tc='*timing*' --no-skip and compare with torch.nn.LSTM on the same card).
TEST_CASE("gpu: lstm timing at model sizes" * doctest::skip()) {
  for (auto [n, t, in, d] : {std::array<int64_t, 4>{32, 30, 300, 64}, std::array<int64_t, 4>{256, 60, 300, 64},
                             std::array<int64_t, 4>{64, 48, 19, 64}}) {
    std::vector<Tensor> leaves;
    for (const Tensor& v : lstm_values(n, t, in, d, 1, 5)) {
      Tensor c = gpu_test::cuda(v);
      leaves.push_back(c.requires_grad_());
    }
    Tensor g = gpu_test::cuda(randn(Shape{n, t, d}, 6));
    auto step = [&] {
      for (Tensor& l : leaves) l.impl->grad = Tensor();  // a fresh gradient each time (no add_ needed)
      run_lstm(leaves).backward(g);
    };
    for (int i = 0; i < 10; ++i) step();
    cuda::synchronize();
    const int reps = 100;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) step();
    cuda::synchronize();
    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
    // One step alone: the time to queue it against the time until the GPU is done (host- or GPU-bound).
    auto t1 = std::chrono::steady_clock::now();
    step();
    auto t2 = std::chrono::steady_clock::now();
    cuda::synchronize();
    auto t3 = std::chrono::steady_clock::now();
    {
      NoGradGuard no_grad;
      for (int i = 0; i < reps; ++i) run_lstm(leaves);
    }
    cuda::synchronize();
    auto t4 = std::chrono::steady_clock::now();
    auto micro = [](auto a, auto b) { return std::chrono::duration<double, std::micro>(b - a).count(); };
    fmt::print(
        "  lstm N={} T={} I={} D={}: forward + backward {:.1f} us (one alone: queued in {:.1f}, done in {:.1f}); "
        "forward only {:.1f} us\n",
        n, t, in, d, us, micro(t1, t2), micro(t1, t3), micro(t3, t4) / reps);
  }
}
