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
  // Samples on a GPU (the experiment moves them there when they fit) take the row numbers uploaded
  // once for all fields, checked here once: index_select would check and upload a host index per field.
  Tensor on_device;
  auto rows_on = [&](Device dev) {
    if (dev == index.device() || index.device() != Device::cpu) return index;  // index_select says what is wrong
    if (!on_device.defined()) {
      DRU_CHECK(index.dtype() == DType::i64 && index.ndim() == 1, "gather_batch: row numbers must be a 1-D i64 tensor");
      const int64_t* r = index.data<int64_t>();
      for (int64_t i = 0; i < index.numel(); ++i)
        DRU_CHECK(r[i] >= 0 && r[i] < s.size(), "gather_batch: row {} is outside the {} samples", r[i], s.size());
      on_device = index.to(dev);
    }
    return on_device;
  };
  auto take = [&](const Tensor& t) { return t.defined() ? index_select(t, rows_on(t.device())) : Tensor(); };
  return Batch{take(s.x), take(s.x2), take(s.mask), take(s.y), index};
}

}  // namespace dru
