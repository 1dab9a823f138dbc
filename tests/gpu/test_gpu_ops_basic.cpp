// test_gpu_ops_basic.cpp — CUDA parity of the basic ops (element-wise, reductions, permute, indexing,
// dropout): each op's forward and the gradient of every input against the CPU path on the same data,
// plus determinism (bit-identical gradients run to run) and the absence of host syncs in a step.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "engine/cuda_runtime.h"
#include "engine/ops.h"
#include "tests/gpu/gpu_util.h"

using namespace dru;
using gpu_test::expect_close;

namespace {

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

Tensor dev(const Tensor& t) { return gpu_test::cuda(t); }

// Runs f on requires-grad CPU leaves and on CUDA copies of them; compares the output, then the
// gradient of every input of sum(f(inputs) * w) for fixed random weights w.
void parity(const std::string& name, const std::vector<Tensor>& inputs, const OpFn& f, double tol, double gtol) {
  std::vector<Tensor> xc, xg;
  for (const Tensor& t : inputs) {
    Tensor c = t.detach().clone();
    c.requires_grad_();
    xc.push_back(c);
    Tensor g = dev(t);
    g.requires_grad_();
    xg.push_back(g);
  }
  Tensor yc = f(xc), yg = f(xg);
  expect_close(name + " forward", yg, yc, tol);
  Tensor w = gpu_test::randn(yc.shape(), 99);
  sum(mul(yc, w)).backward();
  sum(mul(yg, dev(w))).backward();
  for (size_t i = 0; i < inputs.size(); ++i)
    expect_close(name + " grad " + std::to_string(i), xg[i].grad(), xc[i].grad(), gtol);
}

void parity1(const std::string& name, const Tensor& x, const std::function<Tensor(const Tensor&)>& f, double tol,
             double gtol) {
  parity(name, {x}, [&](const std::vector<Tensor>& in) { return f(in[0]); }, tol, gtol);
}

std::vector<double> values(const Tensor& t) { return t.to_vector(); }

Tensor ids_tensor(const std::vector<int64_t>& v, const Shape& s) { return Tensor::from(v, s); }

}  // namespace

TEST_CASE("gpu: broadcast add sub mul div match the CPU") {
  const double tol = 1e-6, gtol = 1e-5;
  Tensor a = gpu_test::randn(Shape{4, 3, 5}, 1), b = gpu_test::randn(Shape{3, 1}, 2);
  parity("add (4,3,5)+(3,1)", {a, b}, [](auto& in) { return add(in[0], in[1]); }, tol, gtol);
  parity("sub (4,3,5)-(3,1)", {a, b}, [](auto& in) { return sub(in[0], in[1]); }, tol, gtol);
  parity("sub (3,1)-(4,3,5)", {b, a}, [](auto& in) { return sub(in[0], in[1]); }, tol, gtol);
  Tensor c = gpu_test::randn(Shape{2, 1, 4}, 3), d = gpu_test::randn(Shape{1, 5, 1}, 4);
  parity("mul (2,1,4)*(1,5,1)", {c, d}, [](auto& in) { return mul(in[0], in[1]); }, tol, gtol);
  Tensor pos = gpu_test::uniform(Shape{3, 1}, 5, 0.5, 2.0);
  parity("div (4,3,5)/(3,1)", {a, pos}, [](auto& in) { return div(in[0], in[1]); }, tol, gtol);
  // Channel broadcast as in batch norm and biases: (N,C,H,W) by (C,1,1) and (1,C,1,1).
  Tensor x = gpu_test::randn(Shape{8, 16, 7, 9}, 6), ch = gpu_test::randn(Shape{16, 1, 1}, 7);
  parity("mul (8,16,7,9)*(16,1,1)", {x, ch}, [](auto& in) { return mul(in[0], in[1]); }, tol, 1e-4);
  Tensor ch4 = gpu_test::uniform(Shape{1, 16, 1, 1}, 8, 0.5, 2.0);
  parity("div (8,16,7,9)/(1,16,1,1)", {x, ch4}, [](auto& in) { return div(in[0], in[1]); }, tol, 1e-4);
  // Five dimensions, broadcast on both sides.
  Tensor p = gpu_test::randn(Shape{2, 3, 1, 4, 5}, 9), q = gpu_test::randn(Shape{3, 2, 1, 5}, 10);
  parity("add (2,3,1,4,5)+(3,2,1,5)", {p, q}, [](auto& in) { return add(in[0], in[1]); }, tol, gtol);
  // Same shape, odd length: the float4 loop plus a tail.
  Tensor u = gpu_test::randn(Shape{100'003}, 11), v = gpu_test::uniform(Shape{100'003}, 12, 0.5, 2.0);
  parity("mul same shape 100003", {u, v}, [](auto& in) { return mul(in[0], in[1]); }, tol, gtol);
  parity("div same shape 100003", {u, v}, [](auto& in) { return div(in[0], in[1]); }, tol, gtol);
  // Unaligned views (offset by one element): the scalar loop.
  parity("add unaligned views", {u, v},
         [](auto& in) { return add(in[0].slice(0, 1, 100'002), in[1].slice(0, 2, 100'003)); },
         tol, gtol);
}

TEST_CASE("gpu: scalar tensors broadcast against full ones") {
  Tensor s = gpu_test::randn(Shape{}, 20), x = gpu_test::randn(Shape{3, 4}, 21);
  parity("add (3,4)+()", {x, s}, [](auto& in) { return add(in[0], in[1]); }, 1e-6, 1e-5);
  parity("mul ()*(3,4)", {s, x}, [](auto& in) { return mul(in[0], in[1]); }, 1e-6, 1e-5);
  parity("mul ()*()", {s, gpu_test::randn(Shape{}, 22)}, [](auto& in) { return mul(in[0], in[1]); }, 1e-6, 1e-5);
  parity("sum of a scalar", {s}, [](auto& in) { return sum(in[0]); }, 1e-6, 1e-6);
}

TEST_CASE("gpu: unary math and activations match the CPU") {
  const double tol = 1e-5, gtol = 1e-5;
  Tensor x = gpu_test::randn(Shape{37, 29}, 30, 2.0);        // odd size, both signs
  Tensor pos = gpu_test::uniform(Shape{37, 29}, 31, 0.1, 4.0);  // for log, sqrt and fractional powers
  Tensor wide = gpu_test::uniform(Shape{5003}, 32, -5.0, 5.0);  // all hardswish branches
  parity1("add scalar", x, [](const Tensor& t) { return add(t, 0.37); }, tol, gtol);
  parity1("mul scalar", x, [](const Tensor& t) { return mul(t, -1.7); }, tol, gtol);
  parity1("neg", x, [](const Tensor& t) { return neg(t); }, tol, gtol);
  parity1("pow 2", x, [](const Tensor& t) { return pow(t, 2.0); }, tol, gtol);
  parity1("pow 3", x, [](const Tensor& t) { return pow(t, 3.0); }, tol, gtol);
  parity1("pow 0.5", pos, [](const Tensor& t) { return pow(t, 0.5); }, tol, gtol);
  parity1("pow 0", x, [](const Tensor& t) { return pow(t, 0.0); }, tol, gtol);
  parity1("exp", x, [](const Tensor& t) { return exp(t); }, tol, gtol);
  parity1("log", pos, [](const Tensor& t) { return log(t); }, tol, gtol);
  parity1("sqrt", pos, [](const Tensor& t) { return sqrt(t); }, tol, gtol);
  parity1("relu", x, [](const Tensor& t) { return relu(t); }, tol, gtol);
  parity1("elu 0.7", x, [](const Tensor& t) { return elu(t, 0.7); }, tol, gtol);
  parity1("sigmoid", x, [](const Tensor& t) { return sigmoid(t); }, tol, gtol);
  parity1("tanh", x, [](const Tensor& t) { return tanh(t); }, tol, gtol);
  parity1("gelu", x, [](const Tensor& t) { return gelu(t); }, tol, gtol);
  parity1("hardswish", wide, [](const Tensor& t) { return hardswish(t); }, tol, gtol);
  parity1("relu large 1000003", gpu_test::randn(Shape{1'000'003}, 33), [](const Tensor& t) { return relu(t); }, tol,
          gtol);
}

TEST_CASE("gpu: add_ and sum_to match the CPU") {
  Tensor acc = gpu_test::randn(Shape{1001}, 40), g = gpu_test::randn(Shape{1001}, 41);
  Tensor acc_d = dev(acc);
  add_(acc, g);
  add_(acc_d, dev(g));
  expect_close("add_ in place", acc_d, acc, 1e-7);
  Tensor big = gpu_test::randn(Shape{4, 3, 5}, 42);
  expect_close("sum_to (4,3,5)->(3,1)", sum_to(dev(big), Shape{3, 1}), sum_to(big, Shape{3, 1}), 1e-5);
  expect_close("sum_to (4,3,5)->(1,3,5)", sum_to(dev(big), Shape{1, 3, 5}), sum_to(big, Shape{1, 3, 5}), 1e-5);
  expect_close("sum_to (4,3,5)->()", sum_to(dev(big), Shape{}), sum_to(big, Shape{}), 1e-5);
  Tensor nchw = gpu_test::randn(Shape{16, 32, 14, 14}, 43);
  expect_close("sum_to (16,32,14,14)->(32,1,1)", sum_to(dev(nchw), Shape{32, 1, 1}), sum_to(nchw, Shape{32, 1, 1}),
               1e-4);
}

TEST_CASE("gpu: sum and mean over dimensions match the CPU") {
  const double tol = 1e-5, gtol = 1e-6;
  Tensor x = gpu_test::randn(Shape{4, 37, 5}, 50);
  parity1("sum dim 1", x, [](const Tensor& t) { return sum(t, {1}); }, tol, gtol);
  parity1("sum dims 0 2", x, [](const Tensor& t) { return sum(t, {0, 2}); }, tol, gtol);
  parity1("sum dims 0 2 keepdim", x, [](const Tensor& t) { return sum(t, {0, 2}, true); }, tol, gtol);
  parity1("sum dim -1", x, [](const Tensor& t) { return sum(t, {-1}); }, tol, gtol);
  parity1("sum all", x, [](const Tensor& t) { return sum(t); }, tol, gtol);
  parity1("mean dim 1 keepdim", x, [](const Tensor& t) { return mean(t, {1}, true); }, tol, gtol);
  parity1("mean all", x, [](const Tensor& t) { return mean(t); }, tol, gtol);
  // Each kernel of reduce.cu: warp per row, block chunks, column chunks, short rows.
  parity1("sum rows (2048,300) dim 1", gpu_test::randn(Shape{2048, 300}, 51),
          [](const Tensor& t) { return sum(t, {1}); }, 1e-4, gtol);
  parity1("sum long rows (3,50001) dim 1", gpu_test::randn(Shape{3, 50'001}, 52),
          [](const Tensor& t) { return sum(t, {1}); }, 1e-4, gtol);
  parity1("sum columns (50001,7) dim 0", gpu_test::randn(Shape{50'001, 7}, 53),
          [](const Tensor& t) { return sum(t, {0}); }, 1e-4, gtol);
  parity1("sum many long rows (9000,1500) dim 1", gpu_test::randn(Shape{9000, 1500}, 58),
          [](const Tensor& t) { return sum(t, {1}); }, 1e-4, gtol);
  parity1("sum short rows (1000,3) dim 1", gpu_test::randn(Shape{1000, 3}, 54),
          [](const Tensor& t) { return sum(t, {1}); }, tol, gtol);
  parity1("sum (16,32,14,14) dims 0 2 3", gpu_test::randn(Shape{16, 32, 14, 14}, 55),
          [](const Tensor& t) { return sum(t, {0, 2, 3}); }, 1e-4, gtol);
  parity1("mean (6,8,5,5) dim 1", gpu_test::randn(Shape{6, 8, 5, 5}, 56), [](const Tensor& t) { return mean(t, {1}); },
          tol, gtol);
  parity1("sum (3,1,4) dim 1 of extent 1", gpu_test::randn(Shape{3, 1, 4}, 57),
          [](const Tensor& t) { return sum(t, {1}); }, tol, gtol);
  // An empty reduced dimension sums to zero.
  expect_close("sum over an empty dimension", sum(dev(Tensor::zeros(Shape{0, 3})), {0}),
               sum(Tensor::zeros(Shape{0, 3}), {0}), 0.0);
}

TEST_CASE("gpu: sum of a large tensor is accurate and deterministic") {
  const int64_t n = (int64_t(1) << 22) + 7;
  // Positive values keep the total far from 0, so the scaled error is a relative one.
  Tensor x = gpu_test::uniform(Shape{n}, 60, 0.0, 1.0);
  Tensor want = sum(x.to(DType::f64)).to(DType::f32);  // an f64 reference: the CPU's f32 loop drifts more
  Tensor xd = dev(x);
  Tensor got = sum(xd);
  expect_close("sum of 4194311 elements vs f64", got, want, 1e-5);
  expect_close("mean of 4194311 elements vs f64", mean(xd), mean(x.to(DType::f64)).to(DType::f32), 1e-5);
  CHECK(values(sum(xd)) == values(got));
}

TEST_CASE("gpu: l2_normalize matches the CPU") {
  const double tol = 1e-5, gtol = 1e-5;
  parity1("l2_normalize (6,37) dim 1", gpu_test::randn(Shape{6, 37}, 70),
          [](const Tensor& t) { return l2_normalize(t, 1); }, tol, gtol);
  parity1("l2_normalize (4,5,3) dim 1", gpu_test::randn(Shape{4, 5, 3}, 71),
          [](const Tensor& t) { return l2_normalize(t, 1); }, tol, gtol);
  parity1("l2_normalize (2,30000) dim -1", gpu_test::randn(Shape{2, 30'000}, 72),
          [](const Tensor& t) { return l2_normalize(t, -1); }, tol, gtol);
  // A zero row: the norm is clamped to eps and the map is g / eps there.
  Tensor z = gpu_test::randn(Shape{3, 8}, 73);
  for (int j = 0; j < 8; ++j) z.data<float>()[8 + j] = 0.0f;
  parity1("l2_normalize with a zero row", z, [](const Tensor& t) { return l2_normalize(t, 1, 1e-6); }, tol, gtol);
}

TEST_CASE("gpu: permute matches the CPU for floats ints and bytes") {
  const double tol = 0.0, gtol = 0.0;  // a permutation moves values: exact
  parity1("permute (2,5,3,16) 0 2 1 3", gpu_test::randn(Shape{2, 5, 3, 16}, 80),
          [](const Tensor& t) { return permute(t, {0, 2, 1, 3}); }, tol, gtol);
  parity1("permute (2,5,3,7) 0 2 1 3", gpu_test::randn(Shape{2, 5, 3, 7}, 81),
          [](const Tensor& t) { return permute(t, {0, 2, 1, 3}); }, tol, gtol);
  parity1("permute (3,4,5) 0 2 1", gpu_test::randn(Shape{3, 4, 5}, 82),
          [](const Tensor& t) { return permute(t, {0, 2, 1}); }, tol, gtol);
  parity1("permute (2,3,4,5,6) 4 2 0 3 1", gpu_test::randn(Shape{2, 3, 4, 5, 6}, 83),
          [](const Tensor& t) { return permute(t, {4, 2, 0, 3, 1}); }, tol, gtol);
  parity1("permute identity", gpu_test::randn(Shape{3, 4}, 84), [](const Tensor& t) { return permute(t, {0, 1}); },
          tol, gtol);
  Tensor ints = gpu_test::randn(Shape{2, 3, 5}, 85).to(DType::i64);
  CHECK(values(permute(dev(ints), {2, 0, 1})) == values(permute(ints, {2, 0, 1})));
  Tensor bytes = gpu_test::uniform(Shape{2, 3, 5}, 86, 0, 255).to(DType::u8);
  CHECK(values(permute(dev(bytes), {1, 2, 0})) == values(permute(bytes, {1, 2, 0})));
  Tensor wide_bytes = gpu_test::uniform(Shape{3, 2, 32}, 87, 0, 255).to(DType::u8);  // 16-byte words
  CHECK(values(permute(dev(wide_bytes), {1, 0, 2})) == values(permute(wide_bytes, {1, 0, 2})));
}

TEST_CASE("gpu: embedding with repeated ids matches the CPU") {
  Tensor w = gpu_test::randn(Shape{50, 13}, 90);
  std::vector<int64_t> v;
  for (int i = 0; i < 28; ++i) v.push_back((i * 7) % 10);  // ids 0..9, each several times
  Tensor ids = ids_tensor(v, Shape{4, 7});
  // ids on the device, and ids on the host with a device weight (checked, then uploaded).
  parity("embedding device ids", {w}, [&](auto& in) { return embedding(on_cuda(in[0]) ? dev(ids) : ids, in[0]); },
         0.0, 0.0);
  parity("embedding host ids", {w}, [&](auto& in) { return embedding(ids, in[0]); }, 0.0, 0.0);
  // Model-sized: V 30000, D 300, 32 x 64 ids with a padding id in 40% of the places.
  Tensor wb = gpu_test::randn(Shape{30'000, 300}, 91);
  std::vector<int64_t> vb;
  Generator gen(92);
  for (int i = 0; i < 32 * 64; ++i) vb.push_back(gen.uniform() < 0.4 ? 0 : int64_t(gen.below(30'000)));
  Tensor idb = ids_tensor(vb, Shape{32, 64});
  parity("embedding V30000 D300 ids 32x64", {wb},
         [&](auto& in) { return embedding(on_cuda(in[0]) ? dev(idb) : idb, in[0]); }, 0.0, 1e-6);
  CHECK_THROWS_WITH_AS(embedding(ids_tensor({3, 60}, Shape{2}), dev(w)), doctest::Contains("outside the vocabulary"),
                       dru::Error);
}

TEST_CASE("gpu: index_select and masked_select match the CPU") {
  Tensor x = gpu_test::randn(Shape{10, 3, 4}, 100);
  Tensor idx = ids_tensor({3, 1, 3, 9, 0, 3, 1}, Shape{7});
  parity("index_select device idx with repeats", {x},
         [&](auto& in) { return index_select(in[0], on_cuda(in[0]) ? dev(idx) : idx); }, 0.0, 1e-6);
  parity("index_select host idx with repeats", {x}, [&](auto& in) { return index_select(in[0], idx); }, 0.0, 1e-6);
  parity("index_select empty idx", {x}, [&](auto& in) {
    Tensor none = Tensor::empty(Shape{0}, DType::i64);
    return index_select(in[0], on_cuda(in[0]) ? dev(none) : none);
  }, 0.0, 0.0);
  Tensor labels = ids_tensor({5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, Shape{10});
  CHECK(values(index_select(dev(labels), dev(idx))) == values(index_select(labels, idx)));
  CHECK_THROWS_WITH_AS(index_select(dev(x), ids_tensor({10}, Shape{1})), doctest::Contains("out of range"),
                       dru::Error);

  Tensor y = gpu_test::randn(Shape{7, 5}, 101);
  Tensor mask = Tensor::from(std::vector<double>{1, 0, 0, 1, 1, 0, 1}, Shape{7}, DType::u8);
  parity("masked_select device mask", {y},
         [&](auto& in) { return masked_select(in[0], on_cuda(in[0]) ? dev(mask) : mask); }, 0.0, 0.0);
  parity("masked_select host mask", {y}, [&](auto& in) { return masked_select(in[0], mask); }, 0.0, 0.0);
}

TEST_CASE("gpu: concat along dims 0 and 1 matches the CPU") {
  Tensor a = gpu_test::randn(Shape{2, 3, 4}, 110), b = gpu_test::randn(Shape{5, 3, 4}, 111);
  parity("concat dim 0", {a, b}, [](auto& in) { return concat({in[0], in[1]}, 0); }, 0.0, 0.0);
  Tensor c = gpu_test::randn(Shape{2, 1, 4}, 112), d = gpu_test::randn(Shape{2, 6, 4}, 113);
  parity("concat dim 1", {a, c, d}, [](auto& in) { return concat({in[0], in[1], in[2]}, 1); }, 0.0, 0.0);
  parity("concat dim -1", {a, a}, [](auto& in) { return concat({in[0], in[1]}, -1); }, 0.0, 0.0);
  Tensor ids = ids_tensor({1, 2, 3}, Shape{3});
  CHECK(values(concat({dev(ids), dev(ids)}, 0)) == values(concat({ids, ids}, 0)));
}

TEST_CASE("gpu: dropout draws the CPU's mask for the same seed") {
  Tensor x = gpu_test::randn(Shape{33, 77}, 120);
  Generator gc(7, 11), gg(7, 11);
  Tensor xc = x.detach().clone(), xg = dev(x);
  xc.requires_grad_();
  xg.requires_grad_();
  Tensor yc = dropout(xc, 0.3, true, gc), yg = dropout(xg, 0.3, true, gg);
  CHECK(gc.offset() == gg.offset());
  expect_close("dropout forward (exact)", yg, yc, 0.0);
  std::vector<double> y = values(yg);
  int64_t zeros = 0;
  for (double v : y) zeros += v == 0.0;
  CHECK(zeros > int64_t(y.size()) / 5);  // about 30% dropped
  CHECK(zeros < int64_t(y.size()) * 2 / 5);
  Tensor w = gpu_test::randn(yc.shape(), 121);
  sum(mul(yc, w)).backward();
  sum(mul(yg, dev(w))).backward();
  expect_close("dropout grad (exact)", xg.grad(), xc.grad(), 0.0);
  // A second draw continues from the advanced offset on both sides.
  expect_close("dropout second draw (exact)", dropout(dev(x), 0.5, true, gg), dropout(x, 0.5, true, gc), 0.0);
  CHECK(dropout(xg, 0.3, false, gg).impl == xg.impl);  // eval: identity
}

TEST_CASE("gpu: embedding and index_select backward are bit-identical run to run") {
  Tensor w = gpu_test::randn(Shape{1000, 128}, 130);
  std::vector<int64_t> v;
  Generator gen(131);
  for (int i = 0; i < 32 * 64; ++i) v.push_back(gen.uniform() < 0.3 ? 1 : int64_t(gen.below(1000)));
  Tensor ids = dev(ids_tensor(v, Shape{32, 64}));
  Tensor up = dev(gpu_test::randn(Shape{32, 64, 128}, 132));
  auto embedding_grad = [&] {
    Tensor wd = dev(w);
    wd.requires_grad_();
    sum(mul(embedding(ids, wd), up)).backward();
    return values(wd.grad());
  };
  CHECK(embedding_grad() == embedding_grad());
  Tensor x = gpu_test::randn(Shape{500, 3, 7}, 133);
  std::vector<int64_t> rows;
  for (int i = 0; i < 1500; ++i) rows.push_back(v[size_t(i)] % 500);  // row 1 repeated ~450 times
  Tensor idx = dev(ids_tensor(rows, Shape{1500}));
  Tensor up2 = dev(gpu_test::randn(Shape{1500, 3, 7}, 134));
  auto select_grad = [&] {
    Tensor xd = dev(x);
    xd.requires_grad_();
    sum(mul(index_select(xd, idx), up2)).backward();
    return values(xd.grad());
  };
  CHECK(select_grad() == select_grad());
}

TEST_CASE("gpu: device ids out of range give zero rows and no gradient") {
  Tensor w = gpu_test::randn(Shape{5, 4}, 140);
  Tensor wd = dev(w);
  wd.requires_grad_();
  Tensor ids = dev(ids_tensor({1, 7, -2, 1}, Shape{4}));
  Tensor y = embedding(ids, wd);
  std::vector<double> yv = values(y), wv = values(w);
  for (int j = 0; j < 4; ++j) {
    CHECK(yv[size_t(0 * 4 + j)] == wv[size_t(1 * 4 + j)]);
    CHECK(yv[size_t(1 * 4 + j)] == 0.0);
    CHECK(yv[size_t(2 * 4 + j)] == 0.0);
  }
  sum(y).backward();
  std::vector<double> g = values(wd.grad());
  for (int r = 0; r < 5; ++r)
    for (int j = 0; j < 4; ++j) CHECK(g[size_t(r * 4 + j)] == (r == 1 ? 2.0 : 0.0));
}

TEST_CASE("gpu: a forward and backward of these ops makes no host sync") {
  Tensor x = dev(gpu_test::randn(Shape{8, 16, 6, 6}, 150)), c = dev(gpu_test::randn(Shape{16, 1, 1}, 151));
  Tensor w = dev(gpu_test::randn(Shape{100, 12}, 152));
  Tensor ids = dev(ids_tensor({1, 5, 5, 99, 0, 1}, Shape{2, 3}));
  Tensor idx = dev(ids_tensor({1, 0, 1}, Shape{3}));
  for (Tensor* t : {&x, &c, &w}) t->requires_grad_();
  Generator gen(3);
  cuda::synchronize();
  const int64_t before = cuda::host_syncs();
  Tensor h = relu(add(mul(x, c), 0.5));
  Tensor s = sum(mean(permute(dropout(h, 0.2, true, gen), {0, 2, 3, 1}), {1, 2}), {1});  // (8)
  Tensor e = l2_normalize(sum(embedding(ids, w), {1}), 1);                                 // (2, 12)
  Tensor t = concat({index_select(e, idx), exp(e)}, 0);                                   // (5, 12)
  Tensor loss = add(mean(pow(s, 2.0)), mean(gelu(t)));
  loss.backward();
  CHECK(cuda::host_syncs() == before);
  CHECK(x.grad().defined());
  CHECK(w.grad().defined());
}

TEST_CASE("gpu: mixed devices fail with the check_same message") {
  Tensor a = gpu_test::randn(Shape{3}, 160);
  CHECK_THROWS_WITH_AS(add(a, dev(a)), doctest::Contains("devices differ"), dru::Error);
  CHECK_THROWS_WITH_AS(concat({a, dev(a)}, 0), doctest::Contains("devices differ"), dru::Error);
  CHECK_THROWS_WITH_AS(index_select(a, dev(ids_tensor({0}, Shape{1}))), doctest::Contains("on cuda"), dru::Error);
}
