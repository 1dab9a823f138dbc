// test_ops_conv.cpp — conv2d, batch_norm and the 2-D pools: gradient checks in f64, known answers
// computed by hand (PyTorch's semantics: zero padding, biased/unbiased batch variance, count_include_pad,
// first-max routing, adaptive bins), determinism across thread counts, and argument errors.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>

#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace dru;
using dru::test::gradcheck;
using dru::test::param64;
using dru::test::randn64;

namespace {

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
  CHECK_MESSAGE(worst <= tol, "worst difference " << worst << " exceeds " << tol);
}

Tensor f64(const std::vector<double>& v, const Shape& s) { return Tensor::from(v, s, DType::f64); }

}  // namespace

// ---- conv2d ------------------------------------------------------------------------------------

TEST_CASE("gradcheck: conv2d") {
  auto conv = [](int stride, int pad, bool bias) {
    return [=](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], bias ? in[2] : Tensor(), stride, pad); };
  };
  // 3x3, stride 1, padding 1, with bias: the AllCNN layer.
  gradcheck("conv2d 3x3 s1 p1", conv(1, 1, true), {param64({2, 2, 4, 4}, 1), param64({3, 2, 3, 3}, 2), param64({3}, 3)});
  // Rectangular kernel and image, stride 2 with padding: the im2col edge cases.
  gradcheck("conv2d 3x2 s2 p1", conv(2, 1, true), {param64({2, 2, 5, 4}, 4), param64({3, 2, 3, 2}, 5), param64({3}, 6)});
  // Stride 2, no padding, no bias, odd leftover columns dropped.
  gradcheck("conv2d 2x2 s2 p0", conv(2, 0, false), {param64({1, 3, 5, 5}, 7), param64({2, 3, 2, 2}, 8)});
  // 1x1 stride 1: the path that skips im2col.
  gradcheck("conv2d 1x1", conv(1, 0, true), {param64({2, 3, 3, 2}, 9), param64({4, 3, 1, 1}, 10), param64({4}, 11)});
  // Padding larger than the kernel reach: whole rows and columns of col are zero.
  gradcheck("conv2d 2x2 s1 p2", conv(1, 2, false), {param64({1, 1, 2, 3}, 12), param64({2, 1, 2, 2}, 13)});
  // Only some inputs need a gradient: the backward skips the others (dw and db are then computed apart).
  gradcheck("conv2d x and b only", conv(2, 1, true), {param64({2, 2, 4, 3}, 14), randn64({3, 2, 3, 3}, 15), param64({3}, 16)});
  gradcheck("conv2d w only", conv(1, 1, true), {randn64({2, 2, 4, 3}, 17), param64({3, 2, 3, 3}, 18), randn64({3}, 19)});
}

TEST_CASE("conv2d: known answer with stride 2 and padding 1 - forward and backward") {
  // x = 1..9 in 3x3, w = [[1, 2], [3, 4]], b = 0.5. The four 2x2 windows of the zero-padded 5x5
  // image are [[0,0],[0,1]], [[0,0],[2,3]], [[0,4],[0,7]], [[5,6],[8,9]].
  Tensor x = f64({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3}).requires_grad_();
  Tensor w = f64({1, 2, 3, 4}, {1, 1, 2, 2}).requires_grad_();
  Tensor b = f64({0.5}, {1}).requires_grad_();
  Tensor y = conv2d(x, w, b, 2, 1);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.to_vector() == std::vector<double>{4.5, 18.5, 36.5, 77.5});
  sum(y).backward();
  // The windows tile the padded image, so each pixel meets exactly one weight.
  CHECK(x.grad().to_vector() == std::vector<double>{4, 3, 4, 2, 1, 2, 4, 3, 4});
  CHECK(w.grad().to_vector() == std::vector<double>{5, 10, 10, 20});
  CHECK(b.grad().to_vector() == std::vector<double>{4});
}

TEST_CASE("conv2d: known answer for a 1x1 convolution mixing channels") {
  Tensor x = Tensor::from(std::vector<double>{1, 2, 3, 4, 10, 20, 30, 40}, Shape{1, 2, 2, 2});
  Tensor w = Tensor::from(std::vector<double>{1, 1, 2, -1}, Shape{2, 2, 1, 1});
  Tensor y = conv2d(x, w, Tensor(), 1, 0);
  CHECK(y.to_vector() == std::vector<double>{11, 22, 33, 44, -8, -16, -24, -32});
}

TEST_CASE("conv2d: float agrees with double - results do not depend on the thread count") {
  Tensor x64 = randn64({5, 3, 7, 6}, 21), w64 = randn64({4, 3, 3, 3}, 22), b64 = randn64({4}, 23);
  Tensor g64 = randn64({5, 4, 4, 3}, 24);
  auto run = [&](DType t, int threads) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor x = x64.to(t).clone().requires_grad_(), w = w64.to(t).clone().requires_grad_();
    Tensor b = b64.to(t).clone().requires_grad_();
    Tensor y = conv2d(x, w, b, 2, 1);
    y.backward(g64.to(t));
    omp_set_num_threads(saved);
    return std::vector<std::vector<double>>{y.to_vector(), x.grad().to_vector(), w.grad().to_vector(),
                                            b.grad().to_vector()};
  };
  auto ref = run(DType::f64, 1);
  auto f1 = run(DType::f32, 1), f3 = run(DType::f32, 3);
  for (size_t k = 0; k < ref.size(); ++k) {
    check_close(f1[k], ref[k], 1e-4);
    CHECK(f1[k] == f3[k]);  // bitwise: dw and db are summed in a fixed chunk order
  }
}

TEST_CASE("conv2d: Winograd F(2x2 3x3) in float agrees with the im2col reference in double") {
  // 16+ channels, stride 1 and a 3x3 kernel select Winograd in float; odd sizes exercise clipped tiles,
  // and paddings 0 and 2 exercise the input gradient's padding 2 - p.
  for (int pad : {0, 1, 2}) {
    CAPTURE(pad);
    Tensor x64 = randn64({3, 16, 7, 9}, 31), w64 = randn64({24, 16, 3, 3}, 32), b64 = randn64({24}, 33);
    Tensor probe = conv2d(x64, w64, b64, 1, pad);
    Tensor g64 = randn64(probe.shape(), 34);
    auto run = [&](DType t) {
      Tensor x = x64.to(t).clone().requires_grad_(), w = w64.to(t).clone().requires_grad_();
      Tensor b = b64.to(t).clone().requires_grad_();
      Tensor y = conv2d(x, w, b, 1, pad);
      y.backward(g64.to(t));
      return std::vector<std::vector<double>>{y.to_vector(), x.grad().to_vector(), w.grad().to_vector(),
                                              b.grad().to_vector()};
    };
    auto ref = run(DType::f64), got = run(DType::f32);
    for (size_t k = 0; k < ref.size(); ++k) check_close(got[k], ref[k], 5e-5);  // measured: 4e-6 at most
  }
}

// ---- batch_norm ----------------------------------------------------------------------------------

TEST_CASE("gradcheck: batch_norm (train 4-D)") {
  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
  gradcheck(
      "batch_norm train 4-D",
      [&](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], rm, rv, true); },
      {param64({3, 2, 2, 3}, 31), param64({2}, 32, 0.5, 1.5), param64({2}, 33)});
}

TEST_CASE("gradcheck: batch_norm (train 2-D)") {
  Tensor rm = Tensor::zeros({3}, DType::f64), rv = Tensor::ones({3}, DType::f64);
  gradcheck(
      "batch_norm train 2-D",
      [&](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], rm, rv, true); },
      {param64({4, 3}, 34), param64({3}, 35, 0.5, 1.5), param64({3}, 36)});
}

TEST_CASE("gradcheck: batch_norm (train 3-D / no affine / no running stats)") {
  Tensor none;
  gradcheck(
      "batch_norm train 3-D",
      [&](const std::vector<Tensor>& in) { return batch_norm(in[0], Tensor(), Tensor(), none, none, true); },
      {param64({2, 3, 4}, 37)});
}

TEST_CASE("gradcheck: batch_norm (eval)") {
  Tensor rm = randn64({2}, 38), rv = randn64({2}, 39, 0.5, 2.0);
  gradcheck(
      "batch_norm eval",
      [&](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], rm, rv, false); },
      {param64({2, 2, 3, 2}, 40), param64({2}, 41, 0.5, 1.5), param64({2}, 42)});
}

TEST_CASE("batch_norm: one training step matches the PyTorch formula for output and running statistics") {
  const int64_t N = 3, C = 2, L = 4, M = N * L;
  const double momentum = 0.1, eps = 1e-5;
  Tensor x = randn64({N, C, L}, 43, -2.0, 3.0);
  Tensor w = f64({1.5, -0.5}, {C}), b = f64({0.25, 2.0}, {C});
  Tensor rm = f64({0.5, -1.0}, {C}), rv = f64({2.0, 0.75}, {C});
  std::vector<double> rm0 = rm.to_vector(), rv0 = rv.to_vector(), xv = x.to_vector();
  Tensor y = batch_norm(x, w, b, rm, rv, true, momentum, eps);
  std::vector<double> yv = y.to_vector();
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0, ss = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) mean += xv[size_t((n * C + c) * L + l)] / double(M);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) ss += std::pow(xv[size_t((n * C + c) * L + l)] - mean, 2);
    const double biased = ss / double(M), unbiased = ss / double(M - 1);
    CHECK(rm.to_vector()[size_t(c)] == doctest::Approx((1 - momentum) * rm0[size_t(c)] + momentum * mean).epsilon(1e-12));
    CHECK(rv.to_vector()[size_t(c)] ==
          doctest::Approx((1 - momentum) * rv0[size_t(c)] + momentum * unbiased).epsilon(1e-12));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        size_t i = size_t((n * C + c) * L + l);
        double want = (xv[i] - mean) / std::sqrt(biased + eps) * w.to_vector()[size_t(c)] + b.to_vector()[size_t(c)];
        CHECK(yv[i] == doctest::Approx(want).epsilon(1e-12));
      }
  }
  // Eval uses the running buffers and leaves them alone.
  std::vector<double> rm1 = rm.to_vector(), rv1 = rv.to_vector();
  Tensor ye = batch_norm(x, Tensor(), Tensor(), rm, rv, false, momentum, eps);
  CHECK(rm.to_vector() == rm1);
  CHECK(rv.to_vector() == rv1);
  CHECK(ye.at({1, 1, 2}) == doctest::Approx((x.at({1, 1, 2}) - rm1[1]) / std::sqrt(rv1[1] + eps)).epsilon(1e-12));
}

// ---- pooling -------------------------------------------------------------------------------------

TEST_CASE("gradcheck: max_pool2d") {
  // Uniform random values are distinct by far more than the finite-difference step.
  gradcheck("max_pool2d k2 s2", [](auto& in) { return max_pool2d(in[0], 2, 2); }, {param64({2, 2, 4, 5}, 51)});
  gradcheck("max_pool2d k3 s2 p1", [](auto& in) { return max_pool2d(in[0], 3, 2, 1); }, {param64({1, 2, 5, 4}, 52)});
  gradcheck("max_pool2d k3 s1 p1 (overlapping)", [](auto& in) { return max_pool2d(in[0], 3, 1, 1); },
            {param64({1, 1, 4, 4}, 53)});
}

TEST_CASE("max_pool2d: ties route the gradient to the first maximum - padding never wins") {
  Tensor x = f64({1, 3, 3, 2, -5, -6, -7, -8, -9}, {1, 1, 3, 3}).requires_grad_();
  Tensor y = max_pool2d(x, 2, 1);
  CHECK(y.to_vector() == std::vector<double>{3, 3, 2, -5});
  sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0, 2, 0, 1, 1, 0, 0, 0, 0});
  // All-negative input with padding 1: the padded border is not a zero candidate.
  Tensor n = f64({-4, -3, -2, -1}, {1, 1, 2, 2});
  CHECK(max_pool2d(n, 2, 2, 1).to_vector() == std::vector<double>{-4, -3, -2, -1});
}

TEST_CASE("gradcheck: avg_pool2d") {
  gradcheck("avg_pool2d k2 s2", [](auto& in) { return avg_pool2d(in[0], 2, 2); }, {param64({2, 2, 4, 5}, 61)});
  gradcheck("avg_pool2d k3 s2 p1", [](auto& in) { return avg_pool2d(in[0], 3, 2, 1); }, {param64({1, 2, 5, 4}, 62)});
}

TEST_CASE("avg_pool2d: padded zeros count in the divisor (count_include_pad)") {
  Tensor x = f64({1, 2, 3, 4}, {1, 1, 2, 2}).requires_grad_();
  Tensor y = avg_pool2d(x, 2, 2, 1);  // each 2x2 window holds one pixel and three padded zeros
  CHECK(y.to_vector() == std::vector<double>{0.25, 0.5, 0.75, 1.0});
  sum(y).backward();
  CHECK(x.grad().to_vector() == std::vector<double>{0.25, 0.25, 0.25, 0.25});
}

TEST_CASE("gradcheck: adaptive_avg_pool2d") {
  // 5 -> 3 rows gives overlapping bins [0,2) [1,4) [3,5); 2 -> 3 columns repeats pixels.
  gradcheck("adaptive_avg_pool2d 5x2 -> 3x3", [](auto& in) { return adaptive_avg_pool2d(in[0], 3, 3); },
            {param64({2, 2, 5, 2}, 71)});
  gradcheck("adaptive_avg_pool2d global", [](auto& in) { return adaptive_avg_pool2d(in[0], 1, 1); },
            {param64({2, 3, 3, 4}, 72)});
}

TEST_CASE("adaptive_avg_pool2d: bins from floor(i*H/oh) to ceil((i+1)*H/oh) as PyTorch") {
  // One row of 5: bins [0,2) [1,4) [3,5) -> means of {0,1}, {1,2,3}, {3,4}.
  Tensor x = f64({0, 1, 2, 3, 4}, {1, 1, 1, 5}).requires_grad_();
  Tensor y = adaptive_avg_pool2d(x, 1, 3);
  CHECK(y.to_vector() == std::vector<double>{0.5, 2.0, 3.5});
  sum(y).backward();
  std::vector<double> want{0.5, 0.5 + 1.0 / 3, 1.0 / 3, 1.0 / 3 + 0.5, 0.5};
  check_close(x.grad().to_vector(), want, 1e-15);
  CHECK(adaptive_avg_pool2d(Tensor::arange(16).reshape({1, 1, 4, 4}), 2, 2).to_vector() ==
        std::vector<double>{2.5, 4.5, 10.5, 12.5});
}

// ---- argument errors -----------------------------------------------------------------------------

TEST_CASE("conv2d / pools / batch_norm: argument errors name the op and the shapes") {
  Tensor x = Tensor::zeros({2, 3, 4, 4}), w = Tensor::zeros({5, 3, 3, 3});
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({3, 4, 4}), w, Tensor()),
                       doctest::Contains("conv2d: input has shape (3, 4, 4); expected 4 dimensions"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({5, 2, 3, 3}), Tensor()),
                       doctest::Contains("conv2d: input of shape (2, 3, 4, 4) has 3 channels but weight of shape "
                                         "(5, 2, 3, 3) expects 2"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor::zeros({4})), doctest::Contains("conv2d: bias has shape (4,); expected (5,)"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({5, 3, 7, 7}), Tensor(), 1, 1),
                       doctest::Contains("conv2d: input of shape (2, 3, 4, 4) with padding 1 is smaller than the 7x7"),
                       Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), 0), doctest::Contains("conv2d: stride is 0"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({5, 3, 3, 3}, DType::f64), Tensor()),
                       doctest::Contains("conv2d: dtypes differ"), Error);

  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3}), none;
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({2}), Tensor(), Tensor(), rm, rv, true),
                       doctest::Contains("batch_norm: input has shape (2,); expected (N, C)"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor::ones({4}), Tensor(), rm, rv, true),
                       doctest::Contains("batch_norm: weight has shape (4,); expected (3,) for input of shape (2, 3, 4, 4)"),
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({1, 3}), Tensor(), Tensor(), rm, rv, true),
                       doctest::Contains("batch_norm: training needs more than 1 value per channel"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), none, none, false),
                       doctest::Contains("batch_norm: eval mode needs running_mean and running_var"), Error);

  CHECK_THROWS_WITH_AS(max_pool2d(x, 2, 2, 2), doctest::Contains("max_pool2d: padding 2 must be between 0 and half the kernel (1)"),
                       Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(x, 0, 1), doctest::Contains("avg_pool2d: kernel 0 and stride 1 must be at least 1"),
                       Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, 5, 1), doctest::Contains("max_pool2d: input of shape (2, 3, 4, 4) with padding 0 is smaller than the 5x5 kernel"),
                       Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(Tensor::zeros({3, 4}), 1, 1),
                       doctest::Contains("adaptive_avg_pool2d: input has shape (3, 4); expected 4 dimensions"), Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(x, 0, 2), doctest::Contains("adaptive_avg_pool2d: output size 0x2"), Error);
}
