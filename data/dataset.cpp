// dataset.cpp — see dataset.h.
#include "data/dataset.h"

#include <utility>

#include "engine/ops.h"

namespace dru {

Samples Samples::select(const std::vector<int64_t>& idx) const {
  for (int64_t i : idx)
    DRU_CHECK(i >= 0 && i < size(), "Samples::select: index {} is outside the {} samples", i, size());
  Tensor ids = Tensor::from(idx, Shape{int64_t(idx.size())});
  auto take = [&](const Tensor& t) { return t.defined() ? index_select(t, ids) : Tensor(); };
  auto pick = [&](const std::vector<std::string>& v) {
    std::vector<std::string> out;
    if (v.empty()) return out;
    for (int64_t i : idx) out.push_back(v[size_t(i)]);
    return out;
  };
  Samples s;
  NoGradGuard ng;
  s.x = take(x);
  s.x2 = take(x2);
  s.mask = take(mask);
  s.y = take(y);
  for (int64_t i : idx) s.label.push_back(label[size_t(i)]);
  s.group = pick(group);
  s.key = pick(key);
  return s;
}

int64_t Samples::tensor_bytes() const {
  int64_t bytes = 0;
  for (const Tensor* t : {&x, &x2, &mask, &y})
    if (t->defined()) bytes += int64_t(t->nbytes());
  return bytes;
}

Samples Samples::to(Device dev) const {
  Samples s = *this;
  for (Tensor* t : {&s.x, &s.x2, &s.mask, &s.y})
    if (t->defined()) *t = t->to(dev);
  return s;
}

Samples& DataSet::split(const std::string& which) {
  return const_cast<Samples&>(std::as_const(*this).split(which));
}

const Samples& DataSet::split(const std::string& which) const {
  if (which == "train") return train;
  if (which == "val") return val;
  if (which == "test") return test;
  DRU_FAIL("data set {}: no split named '{}' (train, val, test)", name, which);
}

}  // namespace dru
