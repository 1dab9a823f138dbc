// arena.h — one flat parameter arena (DESIGN decision 4).
//
// Parameters, their gradients (and, in the optimiser, Adam's moments) live in contiguous buffers with
// a name -> (offset, shape) table. After finalize(), every registered parameter tensor is a view into
// `values` and its gradient buffer a view into `grads`, so autograd accumulates straight into the
// arena, zero_grad is one fill, and Adam is one loop (one kernel launch on the GPU).
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace dru {

struct ArenaEntry {
  std::string name;
  int64_t offset = 0;  // in elements
  Shape shape;
  Tensor param;        // the view handed to modules
};

class ParamArena {
 public:
  // Moves every tensor's data into one buffer of their common dtype and device and rebinds each
  // tensor (its impl, so every holder of the handle sees the move) to a view of it, with a gradient
  // view into `grads` and requires_grad set. Names must be unique.
  void finalize(const std::vector<std::pair<std::string, Tensor>>& params);

  bool finalized() const { return values.defined(); }
  int64_t size() const { return values.defined() ? values.numel() : 0; }
  void zero_grad();
  const std::vector<ArenaEntry>& entries() const { return entries_; }
  const ArenaEntry& find(const std::string& name) const;

  Tensor values;  // (P) all parameters
  Tensor grads;   // (P) all gradients

 private:
  std::vector<ArenaEntry> entries_;
};

}  // namespace dru
