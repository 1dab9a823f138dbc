// rng.h — the engine's seeded random generator over Philox4x32-10 (kernels/rng/philox.h).
//
// A Generator is (seed, offset): each draw of four words consumes one counter value, so a run is
// reproducible from its seed alone on any standard library (no std:: distributions, whose outputs
// differ between implementations). Normal variates use the Box-Muller transform on two uniforms.
#pragma once

#include <cstdint>

#include "engine/tensor.h"
#include "kernels/rng/philox.h"

namespace dru {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; used_ = 4; }

  // Everything that decides the next draws: the seed, the counter, and how many words of the current
  // four-word block are used (its words come from counter offset - 1). A resumed training run restores
  // this to draw exactly what an uninterrupted run would (engine/fit.cpp).
  struct State {
    uint64_t seed = 0, offset = 0;
    int used = 4;
  };
  State state() const { return {seed_, offset_, used_}; }
  void restore(const State& s);

  // Reserves n counter values and returns the first: a kernel may draw philox4x32(first + i, 0, seed).
  uint64_t reserve(uint64_t n) {
    check_not_capturing();
    uint64_t first = offset_;
    offset_ += n;
    return first;
  }

  // Reserves n counter values for a GPU kernel, which draws element i from counter
  // (base ? *base : 0) + first + i. Eagerly base is null and first = reserve(n). Inside a CUDA graph's
  // capture base is a replay counter over this generator's offset (cuda_runtime.h), so each replay
  // draws what an eager step would have drawn, and the offset advances by n per replay.
  struct DeviceDraw {
    const uint64_t* base = nullptr;
    uint64_t first = 0;
  };
  DeviceDraw reserve_device(uint64_t n);

  uint32_t next_u32();
  double uniform();                         // [0, 1), 53 bits
  double uniform(double lo, double hi);     // [lo, hi)
  double normal(double mean = 0.0, double std = 1.0);
  uint64_t below(uint64_t n);               // uniform integer in [0, n), unbiased
  // Fills a float tensor on the CPU.
  void fill_uniform(Tensor& t, double lo, double hi);
  void fill_normal(Tensor& t, double mean, double std);
  // Fisher-Yates permutation of 0..n-1.
  std::vector<int64_t> permutation(int64_t n);

 private:
  // A draw inside a CUDA graph's capture would be replayed with the same numbers every time.
  static void check_not_capturing();
  uint64_t seed_;
  uint64_t offset_;
  Philox4 block_{};
  int used_ = 4;  // words of block_ already consumed
};

}  // namespace dru
