// test_tensor.cpp — Tensor basics: shapes, views, copies, printing, misuse messages, autograd tape.
#include <doctest/doctest.h>

#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace dru;

TEST_CASE("tensor: factories / shape and element access") {
  Tensor t = Tensor::from(std::vector<double>{1, 2, 3, 4, 5, 6}, Shape{2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.numel() == 6);
  CHECK(t.dtype() == DType::f32);
  CHECK(t.at({1, 2}) == 6.0);
  CHECK(Tensor::zeros(Shape{2, 2}, DType::f64).to_vector() == std::vector<double>{0, 0, 0, 0});
  CHECK(Tensor::full(Shape{3}, 2.5).to_vector() == std::vector<double>{2.5, 2.5, 2.5});
  CHECK_THROWS_WITH_AS(Tensor::from(std::vector<double>{1, 2}, Shape{3}), doctest::Contains("2 values given for shape (3,)"),
                       Error);
  CHECK_THROWS_AS(Shape({1, 2, 3, 4, 5, 6}), Error);
}

TEST_CASE("tensor: reshape and dim-0 slice are views - other slices copy") {
  Tensor t = Tensor::arange(12).reshape(Shape{3, 4});
  Tensor r = t.reshape(Shape{4, 3});
  CHECK(r.raw() == t.raw());
  Tensor s = t.slice(0, 1, 3);
  CHECK(s.shape() == Shape{2, 4});
  CHECK(s.raw() == static_cast<char*>(t.raw()) + 4 * sizeof(float));
  Tensor c = t.slice(1, 1, 3);
  CHECK(c.to_vector() == std::vector<double>{1, 2, 5, 6, 9, 10});
  CHECK_THROWS_WITH_AS(t.reshape(Shape{5}), doctest::Contains("reshape: cannot view shape (3, 4)"), Error);
  CHECK_THROWS_AS(t.slice(1, 2, 9), Error);
}

TEST_CASE("tensor: dtype conversion / clone and printing") {
  Tensor t = Tensor::from(std::vector<double>{1.5, -2}, Shape{2}, DType::f64);
  Tensor f = t.to(DType::f32);
  CHECK(f.dtype() == DType::f32);
  CHECK(f.to_vector() == std::vector<double>{1.5, -2});
  Tensor c = t.clone();
  c.fill_(7);
  CHECK(t.to_vector()[0] == 1.5);
  std::string s = Tensor::arange(4).reshape(Shape{2, 2}).str();
  CHECK(s.find("shape=(2, 2), f32, cpu") != std::string::npos);
  CHECK(s.find("[[0, 1],\n [2, 3]]") != std::string::npos);
  std::string big = Tensor::arange(100).str();
  CHECK(big.find("...") != std::string::npos);
}

TEST_CASE("tensor: misuse names the op and both shapes") {
  Tensor a = Tensor::zeros(Shape{2, 3});
  Tensor b = Tensor::zeros(Shape{4, 3});
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("add: shapes (2, 3) and (4, 3) cannot be broadcast"), Error);
  Tensor d = Tensor::zeros(Shape{2, 3}, DType::f64);
  CHECK_THROWS_WITH_AS(mul(a, d), doctest::Contains("mul: dtypes differ (f32 with shape (2, 3) and f64 with shape (2, 3))"),
                       Error);
  CHECK_THROWS_WITH_AS(a.data<double>(), doctest::Contains("asked for f64"), Error);
}

TEST_CASE("autograd: accumulation into leaves / no-grad scope / detach / graph freed") {
  Tensor x = Tensor::from(std::vector<double>{1, 2, 3}, Shape{3}, DType::f64);
  x.requires_grad_();
  Tensor y = sum(mul(x, x));
  y.backward();
  CHECK(x.grad().to_vector() == std::vector<double>{2, 4, 6});
  sum(x).backward();  // accumulates
  CHECK(x.grad().to_vector() == std::vector<double>{3, 5, 7});
  CHECK(y.grad_fn()->inputs.empty());  // graph freed after backward
  CHECK(!y.grad_fn()->backward);
  {
    NoGradGuard ng;
    Tensor z = mul(x, x);
    CHECK(!z.requires_grad());
  }
  Tensor dz = mul(x.detach(), x);
  CHECK(!x.detach().requires_grad());
  CHECK(dz.requires_grad());
  CHECK_THROWS_WITH_AS(sum(x.detach()).backward(), doctest::Contains("does not require a gradient"), Error);
}

TEST_CASE("gradcheck: add sub mul div with broadcasting") {
  using namespace dru::test;
  gradcheck("add", [](auto& in) { return add(in[0], in[1]); }, {param64({2, 3, 4}, 1), param64({3, 1}, 2)});
  gradcheck("sub", [](auto& in) { return sub(in[0], in[1]); }, {param64({4}, 3), param64({2, 3, 4}, 4)});
  gradcheck("mul", [](auto& in) { return mul(in[0], in[1]); }, {param64({2, 1, 4}, 5), param64({3, 1}, 6)});
  gradcheck("div", [](auto& in) { return div(in[0], in[1]); }, {param64({2, 3}, 7), param64({2, 3}, 8, 0.5, 2.0)});
  gradcheck("scalar", [](auto& in) { return add(mul(in[0], 3.0), 1.0); }, {param64({5}, 9)});
}
