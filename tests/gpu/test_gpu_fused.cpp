// test_gpu_fused.cpp — the fused kernel families on CUDA against their CPU references: the regression
// losses (value, gradients of pred and target, a device-resident result, no host sync, bit-identical
// reruns), ReduceLROnPlateau on the device (the lr sequence of the CPU rule, and Adam reading it), the
// attention-transfer loss, and the image augmentation (identical bytes to the CPU path).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "data/augment.h"
#include "engine/cuda_runtime.h"
#include "engine/ops_fused.h"
#include "kernels/adam/adam.h"
#include "kernels/adam/adam_cuda.h"
#include "kernels/at_loss/at_loss.h"
#include "kernels/at_loss/at_loss_cuda.h"
#include "kernels/plateau/plateau_cuda.h"
#include "tests/gpu/gpu_util.h"
#include "unlearn/methods.h"

using namespace dru;
using gpu_test::expect_close;
using gpu_test::randn;

namespace {

// A detached copy on the GPU (gpu_test::cuda; the name alone is ambiguous next to namespace dru::cuda).
Tensor dev(const Tensor& t) { return gpu_test::cuda(t); }

using LossFn = Tensor (*)(const Tensor&, const Tensor&);

// Forward and backward of a two-input loss on both devices, with gradient `scale` fed to backward (a
// non-1 scale exercises the device-scalar multiply); compares value and both gradients.
void check_pair_loss(const char* name, LossFn f, const Shape& s, double scale, uint64_t seed) {
  Tensor p = randn(s, seed), t = randn(s, seed + 1);
  // A few exact ties: sign(0) = 0 in l1's gradient.
  for (int64_t i = 0; i < std::min<int64_t>(3, p.numel()); ++i) t.data<float>()[i] = p.data<float>()[i];
  Tensor pc = p.detach().requires_grad_(), tc = t.detach().requires_grad_();
  Tensor pg = dev(p).requires_grad_(), tg = dev(t).requires_grad_();
  Tensor lc = f(pc, tc), lg = f(pg, tg);
  CHECK(lg.device() == Device::cuda);
  CHECK(lg.ndim() == 0);
  lc.backward(Tensor::full(Shape{}, scale));
  lg.backward(Tensor::full(Shape{}, scale, DType::f32, Device::cuda));
  std::string n = fmt::format("{} {} g={}", name, s.str(), scale);
  expect_close(n + " value", lg.detach(), lc.detach(), 1e-5);
  expect_close(n + " d/dpred", pg.grad(), pc.grad(), 1e-6);
  expect_close(n + " d/dtarget", tg.grad(), tc.grad(), 1e-6);
}

// The loss and its gradient, copied to the host, for the rerun check.
std::pair<std::vector<double>, std::vector<double>> run_l1(const Tensor& p, const Tensor& t) {
  Tensor pg = p.detach().requires_grad_();
  Tensor l = l1_loss(pg, t);
  l.backward();
  return {l.to_vector(), pg.grad().to_vector()};
}

}  // namespace

TEST_CASE("gpu: l1_loss and mse_loss forward and backward match the CPU") {
  for (const Shape& s : {Shape{256}, Shape{1 << 20}, Shape{1001, 3}, Shape{7}, Shape{64, 1}})
    for (double scale : {1.0, 0.37}) {
      check_pair_loss("l1_loss", l1_loss, s, scale, 11);
      check_pair_loss("mse_loss", mse_loss, s, scale, 21);
    }
}

TEST_CASE("gpu: losses stay on the device and make no host sync") {
  Tensor p = dev(randn(Shape{100'003}, 3)).requires_grad_(), t = dev(randn(Shape{100'003}, 4));
  Tensor qp = dev(randn(Shape{999, 3}, 5)).requires_grad_(), qt = dev(randn(Shape{999}, 6));
  Tensor a = dev(randn(Shape{8, 16, 4, 4}, 7)).requires_grad_(), b = dev(randn(Shape{8, 16, 4, 4}, 8));
  cuda::synchronize();
  const int64_t before = cuda::host_syncs();
  Tensor l = mse_loss(p, t);
  l.backward();
  Tensor q = quantile_loss(qp, qt, {0.1, 0.5, 0.9});
  q.backward();
  Tensor at = attention_transfer_loss(a, b);
  at.backward();
  CHECK(cuda::host_syncs() == before);
}

TEST_CASE("gpu: l1_loss reruns are bit-identical") {
  Tensor p = dev(randn(Shape{(1 << 20) + 17}, 7)), t = dev(randn(Shape{(1 << 20) + 17}, 8));
  auto a = run_l1(p, t), b = run_l1(p, t);
  CHECK(a.first == b.first);
  CHECK(a.second == b.second);
}

TEST_CASE("gpu: quantile_loss forward and backward match the CPU") {
  const std::vector<double> qs{0.1, 0.5, 0.9};
  for (int64_t N : {1, 255, 4099, 50'000}) {
    Tensor p = randn(Shape{N, 3}, 31), t = randn(Shape{N}, 32);
    t.data<float>()[0] = p.data<float>()[1];  // a tie: the subgradient 0
    Tensor pc = p.detach().requires_grad_(), pg = dev(p).requires_grad_();
    Tensor lc = quantile_loss(pc, t, qs), lg = quantile_loss(pg, dev(t), qs);
    lc.backward(Tensor::full(Shape{}, 2.5));
    lg.backward(Tensor::full(Shape{}, 2.5, DType::f32, Device::cuda));
    expect_close(fmt::format("quantile_loss N={} value", N), lg.detach(), lc.detach(), 1e-5);
    expect_close(fmt::format("quantile_loss N={} d/dpred", N), pg.grad(), pc.grad(), 1e-6);
  }
  // (N, 1) targets are accepted as on the CPU.
  Tensor lg = quantile_loss(dev(randn(Shape{10, 3}, 1)), dev(randn(Shape{10, 1}, 2)), qs);
  CHECK(lg.device() == Device::cuda);
}

TEST_CASE("gpu: loss argument errors") {
  Tensor p = dev(randn(Shape{4}, 1));
  CHECK_THROWS_AS(l1_loss(p, randn(Shape{4}, 2)), Error);          // mixed devices
  CHECK_THROWS_AS(l1_loss(p, dev(randn(Shape{5}, 2))), Error);    // shapes differ
  CHECK_THROWS_AS(mse_loss(p.to(DType::f64), p.to(DType::f64)), Error);  // f64 on CUDA
}

TEST_CASE("gpu: ReduceLROnPlateau on the device follows the CPU rule") {
  PlateauConfig cfg;
  cfg.patience = 2;
  cfg.factor = 0.5;
  cfg.cooldown = 1;
  cfg.min_lr = 0.0011;
  const std::vector<float> metrics{1.0f, 0.9f, 0.95f, 0.95f, 0.95f, 0.8f, 0.85f, 0.85f, 0.85f, 0.85f, 0.85f, 0.7f,
                                   NAN,  0.7f, 0.7f,  0.7f,  0.7f,  0.7f, 0.7f,  0.7f,  0.7f,  0.7f,  0.7f,  0.7f};
  const int E = int(metrics.size());
  PlateauState host = plateau_init(cfg, 0.01);
  Tensor state = Tensor::empty(Shape{int64_t(sizeof(PlateauState))}, DType::u8, Device::cuda);
  cuda::copy(state.raw(), Device::cuda, &host, Device::cpu, sizeof(PlateauState));
  Tensor metric = Tensor::from(metrics, Shape{E}).to(Device::cuda);
  Tensor lrs = Tensor::zeros(Shape{E}, DType::f32, Device::cuda);
  Tensor reduced = Tensor::zeros(Shape{int64_t(E) * 4}, DType::u8, Device::cuda);  // E ints
  for (int e = 0; e < E; ++e)
    plateau_step_cuda(static_cast<PlateauState*>(state.raw()), cfg, metric.data<float>() + e, lrs.data<float>() + e,
                      reinterpret_cast<int*>(reduced.data<uint8_t>()) + e);
  std::vector<double> got = lrs.to_vector();
  std::vector<double> flags_bytes = reduced.to_vector();
  int mismatches = 0, reductions = 0;
  for (int e = 0; e < E; ++e) {
    bool r = plateau_step(host, cfg, double(metrics[size_t(e)]));
    reductions += r;
    uint8_t b[4];
    for (int k = 0; k < 4; ++k) b[k] = uint8_t(flags_bytes[size_t(e * 4 + k)]);
    int flag;
    std::memcpy(&flag, b, 4);
    if (float(got[size_t(e)]) != float(host.lr) || flag != int(r)) {
      ++mismatches;
      MESSAGE("epoch " << e << ": cuda lr " << got[size_t(e)] << " flag " << flag << ", cpu lr " << host.lr << " "
                       << r);
    }
  }
  CHECK(reductions >= 2);  // the script does reduce (and reaches min_lr)
  CHECK(mismatches == 0);
  PlateauState back;
  Tensor hs = state.to(Device::cpu);
  std::memcpy(&back, hs.raw(), sizeof(PlateauState));
  CHECK(back.lr == host.lr);
  CHECK(back.best == host.best);
  CHECK(back.num_bad_epochs == host.num_bad_epochs);
  CHECK(back.cooldown_counter == host.cooldown_counter);
  CHECK(back.last_epoch == host.last_epoch);
}

TEST_CASE("gpu: Adam reads the lr the plateau kernel wrote") {
  PlateauConfig cfg;
  cfg.patience = 0;
  PlateauState host = plateau_init(cfg, 0.02);
  Tensor state = Tensor::empty(Shape{int64_t(sizeof(PlateauState))}, DType::u8, Device::cuda);
  cuda::copy(state.raw(), Device::cuda, &host, Device::cpu, sizeof(PlateauState));
  Tensor metric = Tensor::from(std::vector<float>{1.0f, 2.0f}, Shape{2}).to(Device::cuda);
  Tensor lr = Tensor::zeros(Shape{1}, DType::f32, Device::cuda);
  const int64_t n = 1000;
  Tensor p = randn(Shape{n}, 1), g = randn(Shape{n}, 2), m = Tensor::zeros(Shape{n}), v = Tensor::zeros(Shape{n});
  Tensor dp = dev(p), dg = dev(g), dm = dev(m), dv = dev(v);
  auto* st = static_cast<PlateauState*>(state.raw());
  plateau_step_cuda(st, cfg, metric.data<float>(), lr.data<float>(), nullptr);      // best: lr stays 0.02
  plateau_step_cuda(st, cfg, metric.data<float>() + 1, lr.data<float>(), nullptr);  // worse: lr 0.002
  adam_step_cuda(dp.data<float>(), dg.data<float>(), dm.data<float>(), dv.data<float>(), n, lr.data<float>(), 0.9,
                 0.999, 1e-8, 0, 1);
  adam_step_cpu(p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), n, double(float(0.02 * 0.1)), 0.9,
                0.999, 1e-8, 0, 1);
  expect_close("adam after plateau", dp, p, 1e-6);
}

namespace {

// An attention-transfer result against the CPU's: the loss (a mean of O(1/S) terms) relative to its
// own size, and dL/da (O(1 / (m S)) values) relative to its largest magnitude; both printed, tol 1e-4.
void expect_at_loss(const std::string& n, double got, double want, const Tensor& got_grad, const Tensor& want_grad) {
  const double rel = std::abs(got - want) / std::max(1e-30, std::abs(want));
  fmt::print("  {:<48} rel {:9.2e}  tol 1e-04\n", n + " value", rel);
  CHECK(rel <= 1e-4);
  std::vector<double> gg = got_grad.to_vector(), gc = want_grad.to_vector();
  REQUIRE(gg.size() == gc.size());
  double mag = 0, err = 0;
  for (size_t i = 0; i < gc.size(); ++i) {
    mag = std::max(mag, std::abs(gc[i]));
    err = std::max(err, std::abs(gc[i] - gg[i]));
  }
  fmt::print("  {:<48} rel {:9.2e}  tol 1e-04\n", n + " d/da", err / std::max(mag, 1e-30));
  CHECK(err <= 1e-4 * std::max(mag, 1e-30));
}

}  // namespace

TEST_CASE("gpu: attention_transfer_loss matches the CPU") {
  // Model layer shapes (AllCNN, ResNet-18 small stem), odd sizes, S > block size, 3-D and 2-D inputs.
  for (const Shape& s : {Shape{64, 192, 8, 8}, Shape{64, 96, 32, 32}, Shape{64, 512, 4, 4}, Shape{5, 7, 3},
                         Shape{3, 8, 33, 33}, Shape{4, 16}, Shape{1, 3, 5, 5}, Shape{2, 1, 700}})
    for (double scale : {1.0, 0.3}) {
      Tensor a = randn(s, 41), b = randn(s, 42);
      Tensor ac = a.detach().requires_grad_(), ag = dev(a).requires_grad_();
      Tensor lc = attention_transfer_loss(ac, b), lg = attention_transfer_loss(ag, dev(b));
      CHECK(lg.ndim() == 0);
      lc.backward(Tensor::full(Shape{}, scale));
      lg.backward(Tensor::full(Shape{}, scale, DType::f32, Device::cuda));
      expect_at_loss(fmt::format("attention_transfer_loss {} g={}", s.str(), scale), lg.item(), lc.item(), ag.grad(),
                     ac.grad());
    }
}

TEST_CASE("gpu: both attention-transfer kernel versions match the CPU reference") {
  // Version 2 (several blocks per sample) against at_loss_forward_backward_cpu, and version 1 beside it:
  // tiles of 32 positions with a partial last one, S below 32, S = 1, a zero sample (clamped norm).
  struct Case {
    int64_t m, C, S;
  };
  for (Case k : {Case{64, 96, 1024}, Case{64, 512, 16}, Case{5, 7, 3}, Case{3, 8, 1089}, Case{4, 16, 1}, Case{1, 3, 25},
                 Case{2, 1, 700}}) {
    Tensor a = randn(Shape{k.m, k.C, k.S}, 61), b = randn(Shape{k.m, k.C, k.S}, 62);
    if (k.m >= 3) std::fill(a.data<float>() + k.C * k.S, a.data<float>() + 2 * k.C * k.S, 0.0f);
    Tensor want_grad = Tensor::empty(a.shape());
    const double want = at_loss_forward_backward_cpu(a.data<float>(), b.data<float>(), want_grad.data<float>(), k.m,
                                                     k.C, k.S);
    Tensor da = dev(a), db = dev(b);
    for (int version : {1, 2}) {
      Tensor grad = Tensor::empty(a.shape(), DType::f32, Device::cuda);
      Tensor loss = Tensor::empty(Shape{}, DType::f32, Device::cuda);
      cuda::at_loss_fused_version(version, da.data<float>(), db.data<float>(), grad.data<float>(), loss.data<float>(),
                                  k.m, k.C, k.S);
      const double got = loss.item();
      expect_at_loss(fmt::format("at_loss v{} ({}, {}, {})", version, k.m, k.C, k.S), got, want, grad, want_grad);
      // Forward only gives the same loss, and a rerun the same bits.
      Tensor again = Tensor::empty(Shape{}, DType::f32, Device::cuda);
      cuda::at_loss_fused_version(version, da.data<float>(), db.data<float>(), nullptr, again.data<float>(), k.m, k.C,
                                  k.S);
      CHECK(again.item() == got);
    }
  }
}

TEST_CASE("gpu: attention_transfer through unlearn matches the CPU with a zero sample") {
  // Sample 1 of a is all zeros: its norm is clamped at eps (the linear branch of l2_normalize).
  Tensor a = randn(Shape{3, 6, 4, 4}, 51), b = randn(Shape{3, 6, 4, 4}, 52);
  std::fill(a.data<float>() + 96, a.data<float>() + 192, 0.0f);
  Tensor ac = a.detach().requires_grad_(), ag = dev(a).requires_grad_();
  Tensor lc = attention_transfer(ac, b), lg = attention_transfer(ag, dev(b));
  lc.backward();
  lg.backward();
  expect_close("attention_transfer zero sample value", lg.detach(), lc.detach(), 1e-5);
  expect_close("attention_transfer zero sample d/da", ag.grad(), ac.grad(), 1e-5);
  // Forward only (no gradient wanted), and reruns are bit-identical.
  Tensor x = dev(randn(Shape{64, 192, 8, 8}, 53)), y = dev(randn(Shape{64, 192, 8, 8}, 54));
  CHECK(attention_transfer_loss(x, y).item() == attention_transfer_loss(x, y).item());
}

TEST_CASE("gpu: augmentation gives the CPU bytes") {
  const int64_t N = 37, S = 32;
  Tensor imgs = Tensor::empty(Shape{N, 3, S, S}, DType::u8);
  Generator gen(9);
  for (int64_t i = 0; i < imgs.numel(); ++i) imgs.data<uint8_t>()[i] = uint8_t(gen.uniform() * 256);
  Tensor dimgs = imgs.to(Device::cuda);
  for (bool train : {true, false})
    for (uint64_t step : {0ull, 5ull, (1ull << 40) + 3}) {
      Tensor c = augment_images(imgs, train, 42, step), g = augment_images(dimgs, train, 42, step);
      CHECK(g.device() == Device::cuda);
      CHECK_MESSAGE(c.to_vector() == g.to_vector(), "augment_images train " << train << " step " << step);
    }
  // Gather + augment from the resident set by a device index list equals gathering on the CPU first.
  const std::vector<int64_t> idx{5, 0, 36, 5, 17, 2, 9};
  const int64_t B = int64_t(idx.size());
  Tensor picked = Tensor::empty(Shape{B, 3, S, S}, DType::u8);
  for (int64_t k = 0; k < B; ++k)
    std::memcpy(picked.data<uint8_t>() + k * 3 * S * S, imgs.data<uint8_t>() + idx[size_t(k)] * 3 * S * S,
                size_t(3 * S * S));
  Tensor index = Tensor::from(idx, Shape{B});
  for (bool train : {true, false}) {
    Tensor want = augment_images(picked, train, 7, 11);
    Tensor got = augment_gather_images(dimgs, index.to(Device::cuda), train, 7, 11);
    Tensor cpu = augment_gather_images(imgs, index, train, 7, 11);
    CHECK(got.device() == Device::cuda);
    CHECK(got.to_vector() == want.to_vector());
    CHECK(cpu.to_vector() == want.to_vector());
  }
}
