// test_ops_seq.cpp — softmax, layer_norm, LSTM and attention: gradient checks in f64, known answers
// from PyTorch (tests/fixtures/*_fixture.json, written by tools/fixtures/make_seq_fixture.py), masking
// semantics and argument errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/ops.h"
#include "tests/fixture.h"
#include "tests/gradcheck.h"

using namespace dru;
using dru::test::gradcheck;
using dru::test::param64;
using dru::test::randn64;

namespace {

// Worst |a - b| / max(1, |b|), printed against its tolerance.
double check_close(const std::string& what, const std::vector<double>& a, const std::vector<double>& b, double tol) {
  REQUIRE_MESSAGE(a.size() == b.size(), what << ": " << a.size() << " values vs " << b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(1.0, std::fabs(b[i])));
  MESSAGE(what << ": worst error " << worst << " (tolerance " << tol << ")");
  CHECK_MESSAGE(worst <= tol, what << ": error " << worst << " exceeds " << tol);
  return worst;
}

nlohmann::json load_fixture(const std::string& name) {
  return dru::test::load_fixture(name, "tools/fixtures/make_seq_fixture.py");
}

Tensor tensor_of(const nlohmann::json& j, DType t = DType::f64) {
  return Tensor::from(j.at("values").get<std::vector<double>>(), Shape(j.at("shape").get<std::vector<int64_t>>()), t);
}

std::vector<double> values_of(const nlohmann::json& j) { return j.at("values").get<std::vector<double>>(); }

// Layers from a flat list: w_ih, w_hh, b_ih, b_hh for layer 0, then layer 1, ... starting at in[first].
std::vector<LstmLayerWeights> layers_from(const std::vector<Tensor>& in, size_t first) {
  std::vector<LstmLayerWeights> layers;
  for (size_t i = first; i + 3 < in.size(); i += 4) layers.push_back({in[i], in[i + 1], in[i + 2], in[i + 3]});
  return layers;
}

// Random LSTM weights for hidden sizes ds, input width i; PyTorch's init range 1/sqrt(D).
std::vector<Tensor> lstm_params64(int64_t i, const std::vector<int64_t>& ds, uint64_t seed) {
  std::vector<Tensor> p;
  for (int64_t d : ds) {
    double r = 1.0 / std::sqrt(double(d));
    p.push_back(param64({4 * d, i}, seed++, -r, r));
    p.push_back(param64({4 * d, d}, seed++, -r, r));
    p.push_back(param64({4 * d}, seed++, -r, r));
    p.push_back(param64({4 * d}, seed++, -r, r));
    i = d;
  }
  return p;
}

}  // namespace

TEST_CASE("gradcheck: softmax") {
  for (int dim : {0, 1, -1})
    gradcheck("softmax dim " + std::to_string(dim), [dim](auto& in) { return softmax(in[0], dim); },
              {param64({2, 3, 4}, 21, -3.0, 3.0)});
}

TEST_CASE("softmax: known values / stable for large inputs / zeros for an all -inf row") {
  Tensor x = Tensor::from(std::vector<double>{1, 2, 3, 1001, 1002, 1003}, Shape{2, 3}, DType::f64);
  std::vector<double> expect{0.09003057317038046, 0.24472847105479764, 0.6652409557748219};
  std::vector<double> y = softmax(x, 1).to_vector();
  check_close("softmax small", {y.begin(), y.begin() + 3}, expect, 1e-15);
  check_close("softmax shifted by 1000", {y.begin() + 3, y.end()}, expect, 1e-12);
  Tensor xf = Tensor::from(std::vector<double>{1, 2, 3, 1001, 1002, 1003}, Shape{2, 3}, DType::f32);
  check_close("softmax f32", softmax(xf, -1).to_vector(), y, 1e-6);
  double inf = std::numeric_limits<double>::infinity();
  Tensor masked = Tensor::from(std::vector<double>{-inf, -inf, 0, -inf}, Shape{2, 2}, DType::f64);
  CHECK(softmax(masked, 1).to_vector() == std::vector<double>{0, 0, 1, 0});
}

TEST_CASE("gradcheck: layer_norm") {
  gradcheck("layer_norm affine", [](auto& in) { return layer_norm(in[0], in[1], in[2]); },
            {param64({2, 3, 5}, 31, -2.0, 2.0), param64({5}, 32), param64({5}, 33)});
  gradcheck("layer_norm without affine", [](auto& in) { return layer_norm(in[0], Tensor(), Tensor()); },
            {param64({4, 6}, 34, -2.0, 2.0)});
  gradcheck("layer_norm weight only", [](auto& in) { return layer_norm(in[0], in[1], Tensor(), 1e-3); },
            {param64({3, 4}, 35), param64({4}, 36)});
}

TEST_CASE("layer_norm: matches PyTorch (fixture)") {
  nlohmann::json j = load_fixture("layer_norm_fixture.json");
  Tensor x = tensor_of(j["x"]), w = tensor_of(j["weight"]), b = tensor_of(j["bias"]), W = tensor_of(j["W"]);
  x.requires_grad_();
  w.requires_grad_();
  b.requires_grad_();
  Tensor y = layer_norm(x, w, b, j["eps"].get<double>());
  check_close("layer_norm f64 out", y.to_vector(), values_of(j["out"]), 1e-5);
  sum(mul(y, W)).backward();
  check_close("layer_norm grad x", x.grad().to_vector(), values_of(j["grad_x"]), 1e-5);
  check_close("layer_norm grad weight", w.grad().to_vector(), values_of(j["grad_weight"]), 1e-5);
  check_close("layer_norm grad bias", b.grad().to_vector(), values_of(j["grad_bias"]), 1e-5);
  Tensor yf = layer_norm(x.detach().to(DType::f32), w.detach().to(DType::f32), b.detach().to(DType::f32),
                         j["eps"].get<double>());
  check_close("layer_norm f32 out", yf.to_vector(), values_of(j["out"]), 1e-5);
}

TEST_CASE("gradcheck: lstm (1 layer)") {
  std::vector<Tensor> in{param64({2, 3, 2}, 41)};
  for (Tensor& p : lstm_params64(2, {3}, 42)) in.push_back(p);
  gradcheck("lstm 1 layer", [](auto& v) { return lstm(v[0], layers_from(v, 1)); }, in);
}

TEST_CASE("gradcheck: lstm (2 layers)") {
  // Different hidden sizes per layer and I != D, so any mix-up of the weight shapes shows.
  std::vector<Tensor> in{param64({2, 4, 3}, 51)};
  for (Tensor& p : lstm_params64(3, {4, 2}, 52)) in.push_back(p);
  gradcheck("lstm 2 layers", [](auto& v) { return lstm(v[0], layers_from(v, 1)); }, in);
}

TEST_CASE("gradcheck: lstm (3 layers / input without gradient)") {
  std::vector<Tensor> in{randn64({1, 5, 2}, 61)};
  for (Tensor& p : lstm_params64(2, {2, 3, 2}, 62)) in.push_back(p);
  gradcheck("lstm 3 layers weights only", [](auto& v) { return lstm(v[0], layers_from(v, 1)); }, in);
}

TEST_CASE("lstm: matches PyTorch (fixture) / one tape node") {
  nlohmann::json j = load_fixture("lstm_fixture.json");
  for (DType t : {DType::f64, DType::f32}) {
    std::string tag = t == DType::f64 ? "f64" : "f32";
    Tensor x = tensor_of(j["x"], t).requires_grad_();
    std::vector<LstmLayerWeights> layers;
    std::vector<Tensor> params;
    for (auto& l : j["layers"]) {
      layers.push_back({tensor_of(l["weight_ih"], t), tensor_of(l["weight_hh"], t), tensor_of(l["bias_ih"], t),
                        tensor_of(l["bias_hh"], t)});
      for (Tensor* p : {&layers.back().w_ih, &layers.back().w_hh, &layers.back().b_ih, &layers.back().b_hh})
        params.push_back(p->requires_grad_());
    }
    Tensor y = lstm(x, layers);
    REQUIRE(y.shape() == Shape{2, 4, 3});
    REQUIRE(y.grad_fn());
    CHECK(std::string(y.grad_fn()->name) == "lstm");
    CHECK(y.grad_fn()->inputs.size() == 1 + 4 * layers.size());
    check_close("lstm " + tag + " out", y.to_vector(), values_of(j["out"]), 1e-5);
    sum(mul(y, tensor_of(j["W"], t))).backward();
    check_close("lstm " + tag + " grad x", x.grad().to_vector(), values_of(j["grad_x"]), 1e-5);
    const char* names[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (size_t l = 0; l < layers.size(); ++l)
      for (size_t k = 0; k < 4; ++k)
        check_close("lstm " + tag + " grad " + names[k] + "_l" + std::to_string(l), params[4 * l + k].grad().to_vector(),
                    values_of(j["layers"][l][std::string("grad_") + names[k]]), 1e-5);
  }
}

TEST_CASE("gradcheck: scaled_dot_product_attention (no mask)") {
  gradcheck("attention", [](auto& in) { return scaled_dot_product_attention(in[0], in[1], in[2], Tensor()); },
            {param64({2, 2, 3, 4}, 71), param64({2, 2, 5, 4}, 72), param64({2, 2, 5, 4}, 73)});
}

TEST_CASE("gradcheck: scaled_dot_product_attention (padding mask)") {
  Tensor mask_u8 = Tensor::from(std::vector<int64_t>{1, 1, 0, 1, 0, 1, 1, 1, 0, 0}, Shape{2, 5}).to(DType::u8);
  gradcheck("attention u8 mask", [&](auto& in) { return scaled_dot_product_attention(in[0], in[1], in[2], mask_u8); },
            {param64({2, 2, 3, 4}, 81), param64({2, 2, 5, 4}, 82), param64({2, 2, 5, 4}, 83)});
  Tensor mask_i64 = Tensor::from(std::vector<int64_t>{0, 7, 1, 0}, Shape{1, 4});
  gradcheck("attention i64 mask", [&](auto& in) { return scaled_dot_product_attention(in[0], in[1], in[2], mask_i64); },
            {param64({1, 3, 2, 2}, 84), param64({1, 3, 4, 2}, 85), param64({1, 3, 4, 2}, 86)});
}

TEST_CASE("scaled_dot_product_attention: padding equals dropping the padded keys") {
  Tensor q = randn64({1, 2, 3, 4}, 91), k = randn64({1, 2, 5, 4}, 92), v = randn64({1, 2, 5, 4}, 93);
  Tensor mask = Tensor::from(std::vector<int64_t>{1, 1, 1, 0, 0}, Shape{1, 5});
  Tensor masked = scaled_dot_product_attention(q, k, v, mask);
  Tensor dropped = scaled_dot_product_attention(q, k.slice(2, 0, 3), v.slice(2, 0, 3), Tensor());
  check_close("attention masked vs dropped", masked.to_vector(), dropped.to_vector(), 1e-14);
  // A hand-computed case: one query, two keys, Dh = 1: weights softmax(q k / 1).
  Tensor q1 = Tensor::from(std::vector<double>{2}, Shape{1, 1, 1, 1}, DType::f64);
  Tensor k1 = Tensor::from(std::vector<double>{0.5, -1}, Shape{1, 1, 2, 1}, DType::f64);
  Tensor v1 = Tensor::from(std::vector<double>{3, 5}, Shape{1, 1, 2, 1}, DType::f64);
  double p0 = 1.0 / (1.0 + std::exp(-2.0 - 1.0));
  check_close("attention by hand", scaled_dot_product_attention(q1, k1, v1, Tensor()).to_vector(),
              {3 * p0 + 5 * (1 - p0)}, 1e-14);
}

TEST_CASE("scaled_dot_product_attention: fully masked rows give zeros and finite gradients") {
  // Our choice (PyTorch gives NaN): a batch whose keys are all padding attends to nothing.
  Tensor q = param64({2, 1, 2, 3}, 101), k = param64({2, 1, 3, 3}, 102), v = param64({2, 1, 3, 3}, 103);
  Tensor mask = Tensor::from(std::vector<int64_t>{0, 0, 0, 1, 0, 1}, Shape{2, 3}).to(DType::u8);
  Tensor y = scaled_dot_product_attention(q, k, v, mask);
  std::vector<double> yv = y.to_vector();
  for (size_t i = 0; i < 6; ++i) CHECK(yv[i] == 0.0);
  sum(y).backward();
  for (Tensor* t : {&q, &k, &v})
    for (double g : t->grad().to_vector()) CHECK(std::isfinite(g));
  for (size_t i = 0; i < 6; ++i) CHECK(q.grad().to_vector()[i] == 0.0);
}

TEST_CASE("softmax / layer_norm / lstm / attention: argument errors name the op and the shapes") {
  Tensor x = Tensor::zeros(Shape{2, 3}, DType::f64);
  CHECK_THROWS_WITH_AS(softmax(x, 2), doctest::Contains("softmax: dimension 2 is out of range for shape (2, 3)"), Error);
  CHECK_THROWS_WITH_AS(softmax(Tensor::zeros(Shape{2}, DType::i64), 0), doctest::Contains("softmax: tensor of shape (2,)"),
                       Error);

  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor::ones(Shape{4}, DType::f64), Tensor()),
                       doctest::Contains("layer_norm: weight has shape (4,), expected (3,)"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor(), Tensor::ones(Shape{3})), doctest::Contains("layer_norm: dtypes differ"),
                       Error);

  Tensor xs = Tensor::zeros(Shape{2, 4, 3}, DType::f64);
  auto weights = [](int64_t i, int64_t d) {
    return LstmLayerWeights{Tensor::zeros(Shape{4 * d, i}, DType::f64), Tensor::zeros(Shape{4 * d, d}, DType::f64),
                            Tensor::zeros(Shape{4 * d}, DType::f64), Tensor::zeros(Shape{4 * d}, DType::f64)};
  };
  CHECK_THROWS_WITH_AS(lstm(x, {weights(3, 2)}), doctest::Contains("lstm: input has shape (2, 3); expected (N, T, I)"),
                       Error);
  CHECK_THROWS_WITH_AS(lstm(xs, {}), doctest::Contains("lstm: no layers given"), Error);
  CHECK_THROWS_WITH_AS(lstm(xs, {weights(5, 2)}), doctest::Contains("lstm: layer 0 w_ih has shape (8, 5); expected (4D, 3)"),
                       Error);
  CHECK_THROWS_WITH_AS(lstm(xs, {weights(3, 2), weights(3, 2)}),
                       doctest::Contains("lstm: layer 1 w_ih has shape (8, 3); expected (4D, 2)"), Error);
  LstmLayerWeights bad = weights(3, 2);
  bad.w_hh = Tensor::zeros(Shape{8, 3}, DType::f64);
  CHECK_THROWS_WITH_AS(lstm(xs, {bad}), doctest::Contains("lstm: layer 0 w_hh has shape (8, 3), expected (8, 2)"), Error);
  bad = weights(3, 2);
  bad.b_hh = Tensor();
  CHECK_THROWS_WITH_AS(lstm(xs, {bad}), doctest::Contains("lstm: layer 0 has an undefined weight"), Error);

  Tensor q = Tensor::zeros(Shape{2, 1, 3, 4}, DType::f64), k = Tensor::zeros(Shape{2, 1, 5, 4}, DType::f64);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(x, k, k, Tensor()),
                       doctest::Contains("scaled_dot_product_attention: q has shape (2, 3); expected (N, H, T, Dh)"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, Tensor::zeros(Shape{2, 1, 5, 3}, DType::f64), k, Tensor()),
                       doctest::Contains("scaled_dot_product_attention: k has shape (2, 1, 5, 3); expected (N, H, S, Dh)"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, Tensor::zeros(Shape{2, 1, 4, 4}, DType::f64), Tensor()),
                       doctest::Contains("v (the same shape as k) has shape (2, 1, 4, 4), expected (2, 1, 5, 4)"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, k, Tensor::ones(Shape{2, 5}, DType::f64)),
                       doctest::Contains("key_mask has dtype f64; expected u8 or i64"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, k, Tensor::ones(Shape{2, 4}, DType::u8)),
                       doctest::Contains("key_mask (N, S) has shape (2, 4), expected (2, 5)"), Error);
}
