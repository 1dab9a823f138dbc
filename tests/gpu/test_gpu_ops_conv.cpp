// test_gpu_ops_conv.cpp — conv2d, batch_norm and the pools on CUDA against the CPU path on the same data.
//
// Each case builds the same leaves on both devices, runs the op, back-propagates a fixed random
// output gradient (y.backward(gy), so no other op has to run on CUDA) and compares the output, the
// gradient of every input and, for batch_norm, the running buffers after the update. Shapes are the
// ones AllCNN and ResNet-18 use, at small batches, plus odd sizes. TF32 is off (the default), so
// cuDNN must match the CPU to f32 rounding.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/cuda_runtime.h"
#include "tests/gpu/gpu_util.h"

using namespace dru;
using gpu_test::expect_close;

namespace {

// A fresh leaf with t's values on dev that requires a gradient.
Tensor leaf(const Tensor& t, Device dev) {
  Tensor l = dev == Device::cuda ? gpu_test::cuda(t) : t.detach().clone();
  l.requires_grad_();
  return l;
}

Tensor on(const Tensor& t, Device dev) { return dev == Device::cuda ? gpu_test::cuda(t) : t.detach().clone(); }

// t + by, element-wise, on the CPU (inputs far from zero exercise the variance's cancellation).
Tensor shifted(Tensor t, float by) {
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] += by;
  return t;
}

// ---- conv2d --------------------------------------------------------------------------------------

struct ConvCase {
  const char* name;
  int64_t N, C, H, W, O, k;
  int stride, pad;
  bool bias;
};

struct ConvRun {
  Tensor y, dx, dw, db;
};

ConvRun run_conv(const ConvCase& c, Device dev, uint64_t seed) {
  Tensor x = gpu_test::randn({c.N, c.C, c.H, c.W}, seed);
  Tensor w = gpu_test::randn({c.O, c.C, c.k, c.k}, seed + 1, 1.0 / std::sqrt(double(c.C * c.k * c.k)));
  Tensor xl = leaf(x, dev), wl = leaf(w, dev);
  Tensor bl = c.bias ? leaf(gpu_test::randn({c.O}, seed + 2), dev) : Tensor();
  Tensor y = conv2d(xl, wl, bl, c.stride, c.pad);
  y.backward(on(gpu_test::randn(y.shape(), seed + 3), dev));
  return {y, xl.grad(), wl.grad(), c.bias ? bl.grad() : Tensor()};
}

void check_conv(const ConvCase& c, uint64_t seed) {
  ConvRun g = run_conv(c, Device::cuda, seed), r = run_conv(c, Device::cpu, seed);
  const std::string n = c.name;
  expect_close(n + " y", g.y, r.y, 1e-4);
  expect_close(n + " dx", g.dx, r.dx, 1e-4);
  expect_close(n + " dw", g.dw, r.dw, 1e-4);
  if (c.bias) expect_close(n + " db", g.db, r.db, 1e-4);
}

}  // namespace

TEST_CASE("gpu: conv2d matches the CPU for the AllCNN layers - forward and all gradients") {
  const ConvCase cases[] = {
      {"allcnn 3->96 3x3 s1 p1 32x32", 2, 3, 32, 32, 96, 3, 1, 1, false},
      {"allcnn 96->96 3x3 s1 p1 32x32", 2, 96, 32, 32, 96, 3, 1, 1, false},
      {"allcnn 96->192 3x3 s2 p1 32x32", 2, 96, 32, 32, 192, 3, 2, 1, false},
      {"allcnn 192->192 3x3 s1 p1 16x16", 2, 192, 16, 16, 192, 3, 1, 1, false},
      {"allcnn 192->192 3x3 s2 p1 16x16", 2, 192, 16, 16, 192, 3, 2, 1, false},
      {"allcnn 192->192 1x1 s1 p0 8x8", 3, 192, 8, 8, 192, 1, 1, 0, false},
      {"allcnn 96->96 3x3 s1 p1 with bias", 2, 96, 32, 32, 96, 3, 1, 1, true},
  };
  uint64_t seed = 100;
  for (const ConvCase& c : cases) check_conv(c, seed += 10);
}

TEST_CASE("gpu: conv2d matches the CPU for the ResNet-18 layers - forward and all gradients") {
  const ConvCase cases[] = {
      {"resnet stem 3->64 7x7 s2 p3 64x64", 2, 3, 64, 64, 64, 7, 2, 3, false},
      {"resnet stem 3->64 7x7 s2 p3 odd 57x61", 2, 3, 57, 61, 64, 7, 2, 3, false},
      {"resnet 64->64 3x3 s1 p1 28x28", 2, 64, 28, 28, 64, 3, 1, 1, false},
      {"resnet 64->128 3x3 s2 p1 28x28", 2, 64, 28, 28, 128, 3, 2, 1, false},
      {"resnet downsample 64->128 1x1 s2 p0", 2, 64, 28, 28, 128, 1, 2, 0, false},
      {"resnet 256->512 3x3 s2 p1 14x14", 2, 256, 14, 14, 512, 3, 2, 1, false},
      {"resnet 512->512 3x3 s1 p1 7x7", 2, 512, 7, 7, 512, 3, 1, 1, false},
      {"resnet downsample 256->512 1x1 s2 with bias", 2, 256, 14, 14, 512, 1, 2, 0, true},
  };
  uint64_t seed = 200;
  for (const ConvCase& c : cases) check_conv(c, seed += 10);
}

TEST_CASE("gpu: conv2d odd sizes with bias - 5->7 channels on 11x13 and a 2x3 batch") {
  const ConvCase cases[] = {
      {"odd 5->7 3x3 s2 p0 11x13 bias", 3, 5, 11, 13, 7, 3, 2, 0, true},
      {"odd 5->7 5x5 s1 p2 11x13 bias", 3, 5, 11, 13, 7, 5, 1, 2, true},
      {"odd 4->3 2x2 s3 p1 9x10 bias", 2, 4, 9, 10, 3, 2, 3, 1, true},
      {"odd 1->1 3x3 s1 p0 3x3 bias", 1, 1, 3, 3, 1, 3, 1, 0, true},
  };
  uint64_t seed = 300;
  for (const ConvCase& c : cases) check_conv(c, seed += 10);
}

// ---- batch_norm ----------------------------------------------------------------------------------

namespace {

struct BnCase {
  const char* name;
  Shape shape;
  bool affine, running, training;
};

struct BnRun {
  Tensor y, dx, dw, db, rm, rv;
};

BnRun run_bn(const BnCase& c, Device dev, uint64_t seed) {
  const int64_t C = c.shape[1];
  Tensor x = leaf(shifted(gpu_test::randn(c.shape, seed, 2.0), 3.0f), dev);
  Tensor w = c.affine ? leaf(gpu_test::uniform({C}, seed + 1, 0.5, 1.5), dev) : Tensor();
  Tensor b = c.affine ? leaf(gpu_test::randn({C}, seed + 2, 0.1), dev) : Tensor();
  Tensor rm = c.running ? on(gpu_test::randn({C}, seed + 3, 0.5), dev) : Tensor();
  Tensor rv = c.running ? on(gpu_test::uniform({C}, seed + 4, 0.5, 1.5), dev) : Tensor();
  Tensor y = batch_norm(x, w, b, rm, rv, c.training, 0.1, 1e-5);
  y.backward(on(gpu_test::randn(y.shape(), seed + 5), dev));
  return {y, x.grad(), c.affine ? w.grad() : Tensor(), c.affine ? b.grad() : Tensor(), rm, rv};
}

void check_bn(const BnCase& c, uint64_t seed) {
  BnRun g = run_bn(c, Device::cuda, seed), r = run_bn(c, Device::cpu, seed);
  const std::string n = c.name;
  expect_close(n + " y", g.y, r.y, 1e-5);
  expect_close(n + " dx", g.dx, r.dx, 1e-4);
  if (c.affine) {
    expect_close(n + " dweight", g.dw, r.dw, 1e-4);
    expect_close(n + " dbias", g.db, r.db, 1e-4);
  }
  if (c.running) {
    expect_close(n + " running_mean", g.rm, r.rm, 1e-5);
    expect_close(n + " running_var", g.rv, r.rv, 1e-5);
  }
}

}  // namespace

TEST_CASE("gpu: batch_norm training matches the CPU - output gradients and running buffers") {
  const BnCase cases[] = {
      {"bn train 2-D (7, 5)", Shape{7, 5}, true, true, true},
      {"bn train 2-D (64, 33)", Shape{64, 33}, true, true, true},
      {"bn train 3-D (4, 6, 19)", Shape{4, 6, 19}, true, true, true},
      {"bn train 4-D allcnn (2, 96, 32, 32)", Shape{2, 96, 32, 32}, true, true, true},
      {"bn train 4-D resnet (3, 64, 28, 28)", Shape{3, 64, 28, 28}, true, true, true},
      {"bn train 4-D odd (3, 7, 5, 5)", Shape{3, 7, 5, 5}, true, true, true},
      {"bn train 4-D many values (16, 3, 64, 65)", Shape{16, 3, 64, 65}, true, true, true},
      {"bn train no affine (4, 6, 19)", Shape{4, 6, 19}, false, true, true},
      {"bn train no running buffers (3, 7, 5, 5)", Shape{3, 7, 5, 5}, true, false, true},
  };
  uint64_t seed = 400;
  for (const BnCase& c : cases) check_bn(c, seed += 10);
}

TEST_CASE("gpu: batch_norm eval matches the CPU - output and gradients from the running buffers") {
  const BnCase cases[] = {
      {"bn eval 2-D (7, 5)", Shape{7, 5}, true, true, false},
      {"bn eval 3-D (4, 6, 19)", Shape{4, 6, 19}, true, true, false},
      {"bn eval 4-D (2, 96, 16, 16)", Shape{2, 96, 16, 16}, true, true, false},
      {"bn eval 4-D no affine (3, 7, 5, 5)", Shape{3, 7, 5, 5}, false, true, false},
  };
  uint64_t seed = 500;
  for (const BnCase& c : cases) check_bn(c, seed += 10);
}

// ---- pools ---------------------------------------------------------------------------------------

namespace {

enum class PoolKind { max, avg, adaptive };

struct PoolCase {
  const char* name;
  Shape shape;
  PoolKind kind;
  int a, b, c;  // kernel, stride, padding; or oh, ow for the adaptive pool
};

Tensor apply_pool(const PoolCase& c, const Tensor& x) {
  switch (c.kind) {
    case PoolKind::max: return max_pool2d(x, c.a, c.b, c.c);
    case PoolKind::avg: return avg_pool2d(x, c.a, c.b, c.c);
    case PoolKind::adaptive: return adaptive_avg_pool2d(x, c.a, c.b);
  }
  return Tensor();
}

// Output and input gradient; integer-valued inputs (ties == true) make max pool windows tie.
std::pair<Tensor, Tensor> run_pool(const PoolCase& c, Device dev, uint64_t seed, bool ties) {
  Tensor x = gpu_test::randn(c.shape, seed);
  if (ties) {
    float* p = x.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) p[i] = std::floor(std::fabs(p[i]) * 1.5f);  // mostly 0, 1, 2
  }
  Tensor xl = leaf(x, dev);
  Tensor y = apply_pool(c, xl);
  y.backward(on(gpu_test::randn(y.shape(), seed + 1), dev));
  return {y, xl.grad()};
}

void check_pool(const PoolCase& c, uint64_t seed, bool ties = false) {
  auto [gy, gdx] = run_pool(c, Device::cuda, seed, ties);
  auto [ry, rdx] = run_pool(c, Device::cpu, seed, ties);
  const std::string n = c.name;
  expect_close(n + " y", gy, ry, 1e-6);
  expect_close(n + " dx", gdx, rdx, 1e-6);
  // The kernels add in the CPU's order: the gradients are equal, not just close.
  CHECK_MESSAGE(gdx.to_vector() == rdx.to_vector(), n << ": dx differs from the CPU bit for bit");
}

}  // namespace

TEST_CASE("gpu: max_pool2d matches the CPU - ResNet stem odd sizes and ties") {
  const PoolCase cases[] = {
      {"max 3x3 s2 p1 resnet (2, 64, 56, 56)", Shape{2, 64, 56, 56}, PoolKind::max, 3, 2, 1},
      {"max 3x3 s2 p1 odd (3, 5, 7, 9)", Shape{3, 5, 7, 9}, PoolKind::max, 3, 2, 1},
      {"max 2x2 s2 p0 odd (2, 3, 7, 5)", Shape{2, 3, 7, 5}, PoolKind::max, 2, 2, 0},
      {"max 3x3 s1 p1 overlapping (2, 3, 6, 7)", Shape{2, 3, 6, 7}, PoolKind::max, 3, 1, 1},
  };
  uint64_t seed = 600;
  for (const PoolCase& c : cases) check_pool(c, seed += 10);
  for (const PoolCase& c : cases) check_pool(c, seed += 10, /*ties=*/true);
}

TEST_CASE("gpu: avg_pool2d matches the CPU - AllCNN head and padded windows") {
  const PoolCase cases[] = {
      {"avg 8x8 s8 allcnn head (2, 192, 8, 8)", Shape{2, 192, 8, 8}, PoolKind::avg, 8, 8, 0},
      {"avg 3x3 s2 p1 odd (3, 5, 7, 9)", Shape{3, 5, 7, 9}, PoolKind::avg, 3, 2, 1},
      {"avg 2x2 s1 p1 (2, 3, 5, 6)", Shape{2, 3, 5, 6}, PoolKind::avg, 2, 1, 1},
      {"avg 3x3 s3 p1 (2, 4, 10, 11)", Shape{2, 4, 10, 11}, PoolKind::avg, 3, 3, 1},
  };
  uint64_t seed = 700;
  for (const PoolCase& c : cases) check_pool(c, seed += 10);
}

TEST_CASE("gpu: adaptive_avg_pool2d matches the CPU - 7x7 to 1x1 and uneven bins") {
  const PoolCase cases[] = {
      {"adaptive 7x7 -> 1x1 resnet (2, 512, 7, 7)", Shape{2, 512, 7, 7}, PoolKind::adaptive, 1, 1, 0},
      {"adaptive 5x5 -> 2x2 (3, 5, 5, 5)", Shape{3, 5, 5, 5}, PoolKind::adaptive, 2, 2, 0},
      {"adaptive 7x9 -> 3x4 (2, 3, 7, 9)", Shape{2, 3, 7, 9}, PoolKind::adaptive, 3, 4, 0},
      {"adaptive 4x3 -> 6x5 upsampling bins (2, 3, 4, 3)", Shape{2, 3, 4, 3}, PoolKind::adaptive, 6, 5, 0},
      {"adaptive 13x11 -> 5x3 (2, 2, 13, 11)", Shape{2, 2, 13, 11}, PoolKind::adaptive, 5, 3, 0},
  };
  uint64_t seed = 800;
  for (const PoolCase& c : cases) check_pool(c, seed += 10);
}

// ---- determinism, host syncs, errors ---------------------------------------------------------------

TEST_CASE("gpu: conv2d batch_norm and pool gradients are bit-identical across two runs") {
  const ConvCase convs[] = {
      {"allcnn 96->96 3x3 s1 p1", 4, 96, 32, 32, 96, 3, 1, 1, true},
      {"allcnn 96->192 3x3 s2 p1", 4, 96, 32, 32, 192, 3, 2, 1, false},
      {"resnet 7x7 s2 p3", 4, 3, 64, 64, 64, 7, 2, 3, false},
      {"resnet 256->512 3x3 s2 p1", 4, 256, 14, 14, 512, 3, 2, 1, false},
  };
  for (const ConvCase& c : convs) {
    ConvRun a = run_conv(c, Device::cuda, 900), b = run_conv(c, Device::cuda, 900);
    CHECK_MESSAGE(a.y.to_vector() == b.y.to_vector(), c.name << ": y differs between runs");
    CHECK_MESSAGE(a.dw.to_vector() == b.dw.to_vector(), c.name << ": dw differs between runs");
    CHECK_MESSAGE(a.dx.to_vector() == b.dx.to_vector(), c.name << ": dx differs between runs");
    if (c.bias) CHECK_MESSAGE(a.db.to_vector() == b.db.to_vector(), c.name << ": db differs between runs");
  }
  const BnCase bn{"bn (8, 96, 16, 16)", Shape{8, 96, 16, 16}, true, true, true};
  BnRun a = run_bn(bn, Device::cuda, 910), b = run_bn(bn, Device::cuda, 910);
  CHECK(a.y.to_vector() == b.y.to_vector());
  CHECK(a.dx.to_vector() == b.dx.to_vector());
  CHECK(a.dw.to_vector() == b.dw.to_vector());
  CHECK(a.db.to_vector() == b.db.to_vector());
  CHECK(a.rv.to_vector() == b.rv.to_vector());
  const PoolCase mp{"max", Shape{2, 64, 56, 56}, PoolKind::max, 3, 2, 1};
  CHECK(run_pool(mp, Device::cuda, 920, true).second.to_vector() ==
        run_pool(mp, Device::cuda, 920, true).second.to_vector());
}

TEST_CASE("gpu: conv2d batch_norm and the pools make no host synchronisation") {
  Tensor x = leaf(gpu_test::randn({2, 3, 32, 32}, 1000), Device::cuda);
  Tensor w = leaf(gpu_test::randn({16, 3, 3, 3}, 1001, 0.3), Device::cuda);
  Tensor b = leaf(gpu_test::randn({16}, 1002), Device::cuda);
  Tensor gamma = leaf(gpu_test::uniform({16}, 1003, 0.5, 1.5), Device::cuda);
  Tensor beta = leaf(gpu_test::randn({16}, 1004), Device::cuda);
  Tensor rm = gpu_test::cuda(Tensor::zeros({16})), rv = gpu_test::cuda(Tensor::ones({16}));
  Tensor gy = gpu_test::cuda(gpu_test::randn({2, 16, 1, 1}, 1005));
  const int64_t before = cuda::host_syncs();
  Tensor h = batch_norm(conv2d(x, w, b, 1, 1), gamma, beta, rm, rv, true);
  h = avg_pool2d(max_pool2d(h, 3, 2, 1), 2, 2, 1);
  h = adaptive_avg_pool2d(h, 1, 1);
  h.backward(gy);
  CHECK(cuda::host_syncs() == before);
  CHECK(x.grad().defined());
  CHECK(w.grad().defined());
}

TEST_CASE("gpu: conv2d batch_norm and pools refuse mixed devices and f64 on CUDA") {
  Tensor x = gpu_test::cuda(Tensor::zeros({2, 3, 8, 8})), w = Tensor::zeros({4, 3, 3, 3});
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor()), doctest::Contains("conv2d: devices differ"), Error);
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), rm, rv, true),
                       doctest::Contains("batch_norm: devices differ"), Error);
  Tensor x64 = Tensor::zeros({2, 3, 8, 8}, DType::f64).to(Device::cuda);
  CHECK_THROWS_WITH_AS(max_pool2d(x64, 2, 2), doctest::Contains("max_pool2d: tensor of shape (2, 3, 8, 8) on cuda has dtype f64"),
                       Error);
}
