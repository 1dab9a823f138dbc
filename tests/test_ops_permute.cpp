// test_ops_permute.cpp — permute: known answers against index arithmetic, gradient checks in f64,
// integer dtypes and argument errors.
#include <doctest/doctest.h>

#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace dru;
using dru::test::gradcheck;
using dru::test::param64;

namespace {

// out[i] = x[j] with j[dims[k]] = i[k], by explicit index arithmetic (the definition).
std::vector<double> permute_reference(const Tensor& x, const std::vector<int>& dims) {
  int n = x.ndim();
  std::vector<double> xv = x.to_vector(), out(xv.size());
  std::vector<int64_t> in_stride(size_t(n), 1);
  for (int i = n - 2; i >= 0; --i) in_stride[size_t(i)] = in_stride[size_t(i + 1)] * x.size(i + 1);
  std::vector<int64_t> idx(size_t(n), 0);
  for (size_t o = 0; o < out.size(); ++o) {
    int64_t src = 0;
    for (int k = 0; k < n; ++k) src += idx[size_t(k)] * in_stride[size_t(dims[size_t(k)])];
    out[o] = xv[size_t(src)];
    for (int k = n - 1; k >= 0; --k) {
      if (++idx[size_t(k)] < x.size(dims[size_t(k)])) break;
      idx[size_t(k)] = 0;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("permute: known answers against index arithmetic") {
  const std::vector<std::pair<Shape, std::vector<int>>> cases = {
      {Shape{2, 3, 4, 5}, {0, 2, 1, 3}},     // the attention head split: a trailing block of 5
      {Shape{2, 3, 4, 5}, {3, 1, 0, 2}},     // element-wise strides
      {Shape{3, 7}, {1, 0}},                 // a transpose
      {Shape{2, 3, 4}, {0, 1, 2}},           // identity: one block
      {Shape{2, 1, 3, 2, 2}, {4, 2, 0, 3, 1}},
  };
  for (auto& [s, dims] : cases) {
    Tensor x = Tensor::arange(s.numel()).reshape(s);
    Tensor y = permute(x, dims);
    for (int k = 0; k < s.ndim; ++k) CHECK(y.size(k) == s[dims[size_t(k)]]);
    CHECK(y.to_vector() == permute_reference(x, dims));
  }
  // Negative dims count from the end.
  Tensor x = Tensor::arange(24).reshape(Shape{2, 3, 4});
  CHECK(permute(x, {-1, 0, 1}).to_vector() == permute(x, {2, 0, 1}).to_vector());
  // Integer tensors are copied too (no gradient).
  Tensor ids = Tensor::from(std::vector<int64_t>{0, 1, 2, 3, 4, 5}, Shape{2, 3});
  Tensor t = permute(ids, {1, 0});
  CHECK(t.dtype() == DType::i64);
  CHECK(t.to_vector() == std::vector<double>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("gradcheck: permute") {
  gradcheck("permute head split", [](auto& in) { return permute(in[0], {0, 2, 1, 3}); }, {param64({2, 3, 2, 4}, 31)});
  gradcheck("permute strided", [](auto& in) { return permute(in[0], {2, 0, 1}); }, {param64({2, 3, 4}, 32)});
  gradcheck("permute transpose", [](auto& in) { return permute(in[0], {1, 0}); }, {param64({3, 5}, 33)});
  // Round trip through a product so the upstream gradient is not all ones.
  gradcheck("permute then multiply",
            [](auto& in) { return mul(permute(in[0], {1, 2, 0}), permute(in[1], {2, 0, 1})); },
            {param64({4, 2, 3}, 34), param64({3, 4, 2}, 35)});
}

TEST_CASE("permute: errors name the dims and the shape") {
  Tensor x = Tensor::zeros(Shape{2, 3, 4});
  CHECK_THROWS_WITH_AS(permute(x, {0, 1}), doctest::Contains("name 2 dimensions; input of shape (2, 3, 4) has 3"),
                       Error);
  CHECK_THROWS_WITH_AS(permute(x, {0, 1, 1}), doctest::Contains("is not a permutation"), Error);
  CHECK_THROWS_WITH_AS(permute(x, {0, 1, 3}), doctest::Contains("is not a permutation"), Error);
}
