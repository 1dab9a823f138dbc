// philox.h — Philox4x32-10, a counter-based random number generator (Salmon et al., SC 2011).
//
// philox4x32(counter, key) maps a 128-bit counter and a 64-bit key to four independent 32-bit words
// with ten rounds of multiply-and-xor. Because the output depends only on (counter, key), element i of
// any random tensor is a pure function of (seed, offset + i): the CPU and the GPU draw the same numbers
// in any order and any thread layout, and no generator state needs to be shared between threads.
// Conversions to floats keep the top bits: uniform01 gives [0, 1) with 24 bits (f32) or 53 bits (f64).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"

namespace dru {

struct Philox4 {
  uint32_t v[4];
};

DRU_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  *hi = uint32_t(p >> 32);
  return uint32_t(p);
}

DRU_HD Philox4 philox4x32(uint64_t counter_lo, uint64_t counter_hi, uint64_t key) {
  uint32_t c0 = uint32_t(counter_lo), c1 = uint32_t(counter_lo >> 32);
  uint32_t c2 = uint32_t(counter_hi), c3 = uint32_t(counter_hi >> 32);
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo32(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;  // Weyl sequence bumps of the key
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in [0, 1) from the top 24 bits (exactly representable as float).
DRU_HD float uniform01_f32(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }
// Uniform in [0, 1) from 53 bits of two words.
DRU_HD double uniform01_f64(uint32_t a, uint32_t b) {
  uint64_t x = (uint64_t(a) << 21) ^ uint64_t(b >> 11);
  return double(x & ((uint64_t(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

}  // namespace dru
