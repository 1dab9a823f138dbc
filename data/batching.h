// batching.h — batches of a resident split: a seeded order per epoch and gathering by index.
//
// The order of epoch e is a Philox permutation drawn from (seed, e) alone, so a resumed run sees the
// same batches as an uninterrupted one. A batch is gathered with one index_select per field: no
// per-sample heap work inside the training loop (labels and keys stay behind; they are for reports).
// The last batch may be smaller (the paper's loaders use drop_last=False).
#pragma once

#include <vector>

#include "data/dataset.h"

namespace dru {

struct Batch {
  Tensor x, x2, mask, y;  // as in Samples, B rows
  Tensor index;           // (B) i64: which samples of the split
};

class BatchOrder {
 public:
  // shuffle=false keeps the data order every epoch (the STS-B notebook's fixed order).
  BatchOrder(int64_t n, int64_t batch_size, bool shuffle, uint64_t seed);
  void begin_epoch(int epoch);  // epochs count from 1
  int64_t batches() const { return (n_ + batch_ - 1) / batch_; }
  Tensor indices(int64_t b) const;  // (B) i64 of batch b of the current epoch

 private:
  int64_t n_, batch_;
  bool shuffle_;
  uint64_t seed_;
  std::vector<int64_t> order_;
};

Batch gather_batch(const Samples& s, const Tensor& index);

}  // namespace dru
