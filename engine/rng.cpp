// rng.cpp — see rng.h.
#include "engine/rng.h"

#include "engine/cuda_runtime.h"

#include <cmath>

namespace dru {

void Generator::check_not_capturing() {
  DRU_CHECK(!cuda::capturing(), "a CUDA graph cannot capture a step that draws random numbers on the host: the "
                                "replays would repeat the same draws; run this step without graphs");
}

Generator::DeviceDraw Generator::reserve_device(uint64_t n) {
  if (!cuda::capturing()) return {nullptr, reserve(n)};
  return {cuda::replay_counter(&offset_, n), 0};
}

void Generator::restore(const State& s) {
  DRU_CHECK(s.used >= 0 && s.used <= 4 && (s.used == 4 || s.offset > 0),
            "Generator::restore: {} words used of a block at counter {} is not a state a generator can be in", s.used,
            s.offset);
  seed_ = s.seed;
  offset_ = s.offset;
  used_ = s.used;
  if (used_ < 4) block_ = philox4x32(offset_ - 1, 0, seed_);
}

uint32_t Generator::next_u32() {
  if (used_ == 4) {
    block_ = philox4x32(reserve(1), 0, seed_);
    used_ = 0;
  }
  return block_.v[used_++];
}

double Generator::uniform() {
  uint32_t a = next_u32();
  uint32_t b = next_u32();
  return uniform01_f64(a, b);
}

double Generator::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Generator::normal(double mean, double std) {
  // Box-Muller; 1 - u keeps the argument of log in (0, 1].
  double u1 = 1.0 - uniform();
  double u2 = uniform();
  return mean + std * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

uint64_t Generator::below(uint64_t n) {
  DRU_CHECK(n > 0, "Generator::below: n must be positive");
  // Rejection sampling on 64 bits removes modulo bias.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  for (;;) {
    uint64_t x = (uint64_t(next_u32()) << 32) | next_u32();
    if (x < limit) return x % n;
  }
}

void Generator::fill_uniform(Tensor& t, double lo, double hi) {
  check_cpu("fill_uniform", t);
  dispatch_float(t.dtype(), "fill_uniform", [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(uniform(lo, hi));
  });
}

void Generator::fill_normal(Tensor& t, double mean, double std) {
  check_cpu("fill_normal", t);
  dispatch_float(t.dtype(), "fill_normal", [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(normal(mean, std));
  });
}

std::vector<int64_t> Generator::permutation(int64_t n) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(below(uint64_t(i + 1)))]);
  return p;
}

}  // namespace dru
