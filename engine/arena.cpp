// arena.cpp — see arena.h.
#include "engine/arena.h"

#include <set>

namespace dru {

void ParamArena::finalize(const std::vector<std::pair<std::string, Tensor>>& params) {
  DRU_CHECK(!params.empty(), "ParamArena: no parameters to place");
  DType dt = params[0].second.dtype();
  Device dev = params[0].second.device();
  int64_t total = 0;
  std::set<std::string> seen;
  for (auto& [name, t] : params) {
    DRU_CHECK(seen.insert(name).second, "ParamArena: parameter name '{}' appears twice", name);
    DRU_CHECK(t.dtype() == dt && t.device() == dev, "ParamArena: parameter '{}' is {} on {}, others are {} on {}",
              name, dtype_name(t.dtype()), device_name(t.device()), dtype_name(dt), device_name(dev));
    DRU_CHECK(is_float(dt), "ParamArena: parameter '{}' has non-float dtype {}", name, dtype_name(dt));
    total += t.numel();
  }
  values = Tensor::empty(Shape{total}, dt, dev);
  grads = Tensor::zeros(Shape{total}, dt, dev);
  entries_.clear();
  int64_t off = 0;
  for (auto& [name, t] : params) {
    Tensor dst = values.slice(0, off, off + t.numel());
    dst.copy_(t.detach().reshape(Shape{t.numel()}));
    // Rebind the caller's impl in place: storage and offset now point into the arena.
    t.impl->storage = values.impl->storage;
    t.impl->offset = off;
    t.impl->grad_fn = nullptr;
    t.impl->requires_grad = true;
    Tensor g = grads.slice(0, off, off + t.numel()).reshape(t.shape());
    t.impl->grad = g;
    entries_.push_back(ArenaEntry{name, off, t.shape(), t});
    off += t.numel();
  }
}

void ParamArena::zero_grad() {
  if (grads.defined()) grads.fill_(0.0);
}

const ArenaEntry& ParamArena::find(const std::string& name) const {
  for (auto& e : entries_)
    if (e.name == name) return e;
  DRU_FAIL("ParamArena: no parameter named '{}'", name);
}

}  // namespace dru
