// scratch.h — uninitialised, 64-byte-aligned scratch buffers for CPU kernels.
//
// new[] only promises 16-byte alignment, so a buffer's position within cache lines then depends on
// whatever the heap held before: an unrelated 24-byte allocation at start-up once made the conv-net
// step 15% slower (vector loads split across cache lines in the GEMM packing and the transforms).
// Aligning every large scratch buffer makes kernel speed independent of heap history.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace dru {

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

template <class T> using Scratch64 = std::unique_ptr<T[], AlignedFree>;

template <class T> Scratch64<T> aligned_scratch(size_t n) {
  size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes ? bytes : 64);
  if (!p) throw std::bad_alloc();
  return Scratch64<T>(static_cast<T*>(p));
}

}  // namespace dru
