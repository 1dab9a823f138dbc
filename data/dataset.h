// dataset.h — resident data sets: every split's samples stacked into tensors, plus what forget rules
// and reports need to know about each sample.
//
// The three readers (images.h, stsb.h, electricity.h) all produce a DataSet. A DataSet stays in memory
// (and, with the CUDA backend, on the device): batches are gathered by an index tensor with no
// per-sample work in the training loop (batching.h). Forget/retain selection (forget.h) reads the
// per-sample label, group and key. Shape letters: N samples, S image side, T time or tokens, D vector size.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace dru {

// One split, resident. Every defined tensor has N rows on dim 0.
struct Samples {
  Tensor x;     // images (N, 3, S, S) u8 | sentence-1 vectors (N, T, D) f32 | token ids (N, T) i64 |
                // electricity inputs (N, T, F) f32
  Tensor x2;    // sentence-2 vectors (N, T, D) f32 | segment ids (N, T) i64 | customer ids (N) i64
  Tensor mask;  // token mask (N, T) u8 (BERT-lite)
  Tensor y;     // targets (N, 1) f32 | electricity (N, H) f32, H hours ahead
  std::vector<double> label;      // what label-range forget rules test: age, similarity score, mean load
  std::vector<std::string> group; // what group rules test: customer id ("MT_003"); empty elsewhere
  std::vector<std::string> key;   // a stable sample id for forget-by-file rules: image path, pair index

  int64_t size() const { return int64_t(label.size()); }
  // The samples at idx (any order, repeats allowed), every field gathered.
  Samples select(const std::vector<int64_t>& idx) const;
  // Bytes of the tensor fields: what keeping them on a device costs.
  int64_t tensor_bytes() const;
  // The same samples with every tensor field on dev; labels, groups and keys stay (they are for reports).
  Samples to(Device dev) const;
};

struct DataSet {
  std::string name;         // "images", "stsb", "electricity"
  std::string label_name;   // "age", "score", "load": the word forget rules use (age<=30)
  Samples train, val, test;
  Samples& split(const std::string& which);  // "train", "val" or "test"; throws otherwise
  const Samples& split(const std::string& which) const;
};

}  // namespace dru
