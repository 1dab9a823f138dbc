// batching.cpp — see batching.h.
#include "data/batching.h"

#include "engine/ops.h"

namespace dru {

BatchOrder::BatchOrder(int64_t n, int64_t batch_size, bool shuffle, uint64_t seed)
    : n_(n), batch_(batch_size), shuffle_(shuffle), seed_(seed) {
  DRU_CHECK(n > 0, "batches: the split is empty");
  DRU_CHECK(batch_size > 0, "batches: batch size {} must be positive", batch_size);
  begin_epoch(1);
}

void BatchOrder::begin_epoch(int epoch) {
  if (!shuffle_) {
    order_.resize(size_t(n_));
    for (int64_t i = 0; i < n_; ++i) order_[size_t(i)] = i;
    return;
  }
  order_ = Generator(seed_, uint64_t(epoch) << 32).permutation(n_);
}

Tensor BatchOrder::indices(int64_t b) const {
  DRU_CHECK(b >= 0 && b < batches(), "batches: batch {} of {}", b, batches());
  int64_t lo = b * batch_, hi = std::min(n_, lo + batch_);
  return Tensor::from(std::vector<int64_t>(order_.begin() + lo, order_.begin() + hi), Shape{hi - lo});
}

Batch gather_batch(const Samples& s, const Tensor& index) {
  NoGradGuard ng;
  auto take = [&](const Tensor& t) { return t.defined() ? index_select(t, index) : Tensor(); };
  return Batch{take(s.x), take(s.x2), take(s.mask), take(s.y), index};
}

}  // namespace dru
