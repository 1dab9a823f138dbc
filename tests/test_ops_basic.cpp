// test_ops_basic.cpp — gradient checks (f64, central differences) and known answers for the
// element-wise, reduction, matrix, indexing, dropout and loss ops.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace dru;
using dru::test::gradcheck;
using dru::test::param64;
using dru::test::randn64;

TEST_CASE("gradcheck: relu") { gradcheck("relu", [](auto& in) { return relu(in[0]); }, {param64({3, 4}, 1)}); }
TEST_CASE("gradcheck: elu") { gradcheck("elu", [](auto& in) { return elu(in[0], 0.7); }, {param64({3, 4}, 2)}); }
TEST_CASE("gradcheck: sigmoid") { gradcheck("sigmoid", [](auto& in) { return sigmoid(in[0]); }, {param64({3, 4}, 3, -4, 4)}); }
TEST_CASE("gradcheck: tanh") { gradcheck("tanh", [](auto& in) { return tanh(in[0]); }, {param64({3, 4}, 4, -2, 2)}); }
TEST_CASE("gradcheck: gelu") { gradcheck("gelu", [](auto& in) { return gelu(in[0]); }, {param64({3, 4}, 5, -3, 3)}); }
TEST_CASE("gradcheck: hardswish") {
  gradcheck("hardswish", [](auto& in) { return hardswish(in[0]); }, {param64({4, 5}, 6, -5, 5)});
}
TEST_CASE("gradcheck: pow") {
  gradcheck("pow", [](auto& in) { return pow(in[0], 2.5); }, {param64({3, 4}, 7, 0.2, 2.0)});
  gradcheck("pow square", [](auto& in) { return pow(in[0], 2.0); }, {param64({3, 4}, 8)});
}
TEST_CASE("gradcheck: exp log sqrt") {
  gradcheck("exp", [](auto& in) { return exp(in[0]); }, {param64({5}, 9)});
  gradcheck("log", [](auto& in) { return log(in[0]); }, {param64({5}, 10, 0.5, 3)});
  gradcheck("sqrt", [](auto& in) { return sqrt(in[0]); }, {param64({5}, 11, 0.5, 3)});
}
TEST_CASE("gradcheck: sum and mean over dimensions") {
  gradcheck("sum all", [](auto& in) { return sum(in[0]); }, {param64({2, 3, 4}, 12)});
  gradcheck("sum dims", [](auto& in) { return sum(in[0], {0, 2}); }, {param64({2, 3, 4}, 13)});
  gradcheck("mean keepdim", [](auto& in) { return mean(in[0], {1}, true); }, {param64({2, 3, 4}, 14)});
  gradcheck("mean all", [](auto& in) { return mean(in[0]); }, {param64({3, 5}, 15)});
}
TEST_CASE("gradcheck: l2_normalize") {
  gradcheck("l2_normalize dim 1", [](auto& in) { return l2_normalize(in[0], 1); }, {param64({3, 4}, 16)});
  gradcheck("l2_normalize dim 0 of 3-D", [](auto& in) { return l2_normalize(in[0], 0); }, {param64({3, 2, 2}, 17)});
}
TEST_CASE("gradcheck: matmul") {
  gradcheck("matmul", [](auto& in) { return matmul(in[0], in[1]); }, {param64({3, 4}, 18), param64({4, 5}, 19)});
  gradcheck("bmm", [](auto& in) { return matmul(in[0], in[1]); }, {param64({2, 3, 4}, 20), param64({2, 4, 2}, 21)});
}
TEST_CASE("gradcheck: linear") {
  gradcheck("linear", [](auto& in) { return linear(in[0], in[1], in[2]); },
            {param64({3, 4}, 22), param64({5, 4}, 23), param64({5}, 24)});
  gradcheck("linear 3-D no bias", [](auto& in) { return linear(in[0], in[1], Tensor()); },
            {param64({2, 3, 4}, 25), param64({2, 4}, 26)});
}
TEST_CASE("gradcheck: embedding") {
  Tensor ids = Tensor::from(std::vector<int64_t>{1, 3, 1, 0, 2, 3}, Shape{2, 3});
  gradcheck("embedding", [ids](auto& in) { return embedding(ids, in[0]); }, {param64({4, 3}, 27)});
  CHECK_THROWS_WITH_AS(embedding(Tensor::from(std::vector<int64_t>{4}, Shape{1}), randn64({4, 3}, 1)),
                       doctest::Contains("id 4 is outside the vocabulary [0, 4)"), Error);
}
TEST_CASE("gradcheck: concat") {
  gradcheck("concat dim 1", [](auto& in) { return concat({in[0], in[1]}, 1); }, {param64({2, 3}, 28), param64({2, 2}, 29)});
  gradcheck("concat dim 0", [](auto& in) { return concat({in[0], in[1], in[0]}, 0); },
            {param64({1, 3}, 30), param64({2, 3}, 31)});
  CHECK_THROWS_WITH_AS(concat({randn64({2, 3}, 1), randn64({3, 3}, 2)}, 1),
                       doctest::Contains("concat: shapes (2, 3) and (3, 3) differ outside dimension 1"), Error);
}
TEST_CASE("gradcheck: slice") {
  gradcheck("slice dim 0", [](auto& in) { return in[0].slice(0, 1, 3); }, {param64({4, 3}, 32)});
  gradcheck("slice dim 1", [](auto& in) { return in[0].slice(1, 0, 2); }, {param64({2, 3, 2}, 33)});
}
TEST_CASE("gradcheck: index_select with repeated indices") {
  Tensor idx = Tensor::from(std::vector<int64_t>{2, 0, 2}, Shape{3});
  gradcheck("index_select", [idx](auto& in) { return index_select(in[0], idx); }, {param64({3, 2, 2}, 34)});
  CHECK_THROWS_WITH_AS(index_select(randn64({3, 2}, 1), Tensor::from(std::vector<int64_t>{3}, Shape{1})),
                       doctest::Contains("index 3 is out of range for dimension 0 of shape (3, 2)"), Error);
}
TEST_CASE("gradcheck: masked_select") {
  Tensor mask = Tensor::from(std::vector<double>{1, 0, 1, 1}, Shape{4}, DType::u8);
  gradcheck("masked_select", [mask](auto& in) { return masked_select(in[0], mask); }, {param64({4, 3}, 35)});
  Tensor x = Tensor::arange(8).reshape(Shape{4, 2});
  CHECK(masked_select(x, mask).to_vector() == std::vector<double>{0, 1, 4, 5, 6, 7});
}
TEST_CASE("gradcheck: dropout") {
  Generator gen(7);
  Tensor x = param64({50}, 36);
  Tensor y = dropout(x, 0.3, true, gen);
  // Each element is dropped or scaled by 1/(1-p); both outcomes occur.
  int dropped = 0;
  for (int i = 0; i < 50; ++i) {
    double v = y.to_vector()[size_t(i)], u = x.to_vector()[size_t(i)];
    if (v == 0) ++dropped;
    else CHECK(v == doctest::Approx(u / 0.7));
  }
  CHECK(dropped > 5);
  CHECK(dropped < 30);
  // The gradient uses the same mask: regenerate with the same generator state.
  gradcheck("dropout", [](auto& in) { Generator g(3); return dropout(in[0], 0.4, true, g); }, {param64({20}, 37)});
  CHECK(dropout(x, 0.5, false, gen).raw() == x.raw());  // eval: identity
}
TEST_CASE("gradcheck: l1_loss mse_loss quantile_loss") {
  gradcheck("l1_loss", [](auto& in) { return l1_loss(in[0], in[1]); }, {param64({6, 1}, 38), param64({6, 1}, 39)});
  gradcheck("mse_loss", [](auto& in) { return mse_loss(in[0], in[1]); }, {param64({6}, 40), param64({6}, 41)});
  Tensor t = randn64({5}, 42);
  gradcheck("quantile_loss", [t](auto& in) { return quantile_loss(in[0], t, {0.1, 0.5, 0.9}); }, {param64({5, 3}, 43)});
}
TEST_CASE("losses: known values") {
  Tensor p = Tensor::from(std::vector<double>{1, 2, 3, 4}, Shape{4});
  Tensor t = Tensor::from(std::vector<double>{2, 2, 1, 8}, Shape{4});
  CHECK(l1_loss(p, t).item() == doctest::Approx((1 + 0 + 2 + 4) / 4.0));
  CHECK(mse_loss(p, t).item() == doctest::Approx((1 + 0 + 4 + 16) / 4.0));
  // One sample, quantiles 0.1 and 0.9, target 2, predictions 1 and 3: 0.1*1 + (0.9-1)*(-1) = 0.2.
  Tensor qp = Tensor::from(std::vector<double>{1, 3}, Shape{1, 2});
  CHECK(quantile_loss(qp, Tensor::from(std::vector<double>{2}, Shape{1}), {0.1, 0.9}).item() == doctest::Approx(0.2));
  CHECK_THROWS_WITH_AS(l1_loss(p, t.reshape(Shape{4, 1})),
                       doctest::Contains("l1_loss: prediction shape (4,) differs from target shape (4, 1)"), Error);
}
TEST_CASE("ops: activation known values match PyTorch formulas") {
  Tensor x = Tensor::from(std::vector<double>{-3.5, -1, 0.5, 2, 3.5}, Shape{5}, DType::f64);
  auto hs = hardswish(x).to_vector();
  CHECK(hs[0] == 0.0);
  CHECK(hs[1] == doctest::Approx(-1 * 2 / 6.0));
  CHECK(hs[4] == 3.5);
  CHECK(gelu(x).to_vector()[3] == doctest::Approx(1.9544997361036416));
  CHECK(elu(x, 1.0).to_vector()[1] == doctest::Approx(std::exp(-1.0) - 1));
}
