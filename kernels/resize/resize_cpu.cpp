// resize_cpu.cpp — the CPU area resize (see resize.h): a horizontal pass per input row into 64-bit
// sums, then a vertical pass, both over precomputed integer weight spans.
#include <algorithm>
#include <cstddef>
#include <vector>

#include "kernels/resize/resize.h"

namespace dru {

namespace {

// For each output index: the first input index and its weights, contiguous.
struct Spans {
  std::vector<int64_t> first, begin;  // begin[o] indexes weights; begin[n_out] = weights.size()
  std::vector<uint32_t> weights;
  Spans(int64_t n_in, int64_t n_out) {
    for (int64_t o = 0; o < n_out; ++o) {
      int64_t a, b;
      area_span(o, n_in, n_out, &a, &b);
      first.push_back(a);
      begin.push_back(int64_t(weights.size()));
      for (int64_t i = a; i <= b; ++i) weights.push_back(uint32_t(area_weight(o, i, n_in, n_out)));
    }
    begin.push_back(int64_t(weights.size()));
  }
};

}  // namespace

bool area_resize_rgb_cpu(const uint8_t* src, int w, int h, uint8_t* dst, int S) {
  if (w <= 0 || h <= 0 || S <= 0) return false;
  const Spans sx(w, S), sy(h, S);
  // rows[y][c][ox]: row y resized horizontally, in units of (1/w) of a pixel value.
  std::vector<uint64_t> rows(std::size_t(h) * 3 * S);
  for (int y = 0; y < h; ++y) {
    const uint8_t* in = src + std::size_t(y) * w * 3;
    uint64_t* out = rows.data() + std::size_t(y) * 3 * S;
    for (int ox = 0; ox < S; ++ox) {
      uint64_t r = 0, g = 0, b = 0;
      const uint32_t* wt = sx.weights.data() + sx.begin[ox];
      const int64_t n = sx.begin[ox + 1] - sx.begin[ox];
      const uint8_t* px = in + sx.first[ox] * 3;
      for (int64_t k = 0; k < n; ++k, px += 3) {
        r += uint64_t(wt[k]) * px[0];
        g += uint64_t(wt[k]) * px[1];
        b += uint64_t(wt[k]) * px[2];
      }
      out[ox] = r;
      out[S + ox] = g;
      out[2 * S + ox] = b;
    }
  }
  const uint64_t denom = uint64_t(w) * uint64_t(h);
  std::vector<uint64_t> acc(std::size_t(3) * S);
  for (int oy = 0; oy < S; ++oy) {
    std::fill(acc.begin(), acc.end(), 0);
    const uint32_t* wt = sy.weights.data() + sy.begin[oy];
    const int64_t n = sy.begin[oy + 1] - sy.begin[oy];
    for (int64_t k = 0; k < n; ++k) {
      const uint64_t* row = rows.data() + std::size_t(sy.first[oy] + k) * 3 * S;
      for (int j = 0; j < 3 * S; ++j) acc[j] += wt[k] * row[j];
    }
    for (int c = 0; c < 3; ++c)
      for (int ox = 0; ox < S; ++ox)
        dst[(std::size_t(c) * S + oy) * S + ox] = area_round(acc[std::size_t(c) * S + ox], denom);
  }
  return true;
}

}  // namespace dru
