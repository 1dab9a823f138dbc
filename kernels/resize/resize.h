// resize.h — area-averaging ("box") resize of an 8-bit RGB image to S x S, in exact integer arithmetic.
//
// Math: scale both axes so that the input is W*S units wide and the output W*S units too. Input column
// x then covers [x*S, (x+1)*S) and output column ox covers [ox*W, (ox+1)*W), so the overlap of the two,
// the weight of input column x in output column ox, is an integer in [0, min(S, W)]. An output pixel is
//   out(oy, ox) = round( sum_y sum_x wy(oy, y) * wx(ox, x) * in(y, x) / (W * H) )
// where the weights of one output pixel sum to W * H: the mean of the input area it covers, with
// fractional edge pixels weighted by the fraction covered. Rounding is half up. Because everything is
// an integer, any implementation (the Python fixture in tools/fixtures/make_image_fixture.py, a CUDA
// kernel) gets bit-identical bytes. Shrinking and enlarging use the same formula.
// Layouts: input (H, W, 3) interleaved, as stb_image returns it; output (3, S, S) planar, as Samples::x.
#pragma once

#include <cstdint>

#include "kernels/common/hd.h"

namespace dru {

// Weight of input index i (of n_in) in output index o (of n_out): the overlap of [i*n_out, (i+1)*n_out)
// with [o*n_in, (o+1)*n_in).
DRU_HD int64_t area_weight(int64_t o, int64_t i, int64_t n_in, int64_t n_out) {
  int64_t lo = i * n_out > o * n_in ? i * n_out : o * n_in;
  int64_t hi = (i + 1) * n_out < (o + 1) * n_in ? (i + 1) * n_out : (o + 1) * n_in;
  return hi > lo ? hi - lo : 0;
}

// The input indices with a non-zero weight in output o: [first, last].
DRU_HD void area_span(int64_t o, int64_t n_in, int64_t n_out, int64_t* first, int64_t* last) {
  *first = (o * n_in) / n_out;
  *last = ((o + 1) * n_in - 1) / n_out;
}

// Rounds sum / denom half up (sum, denom > 0 integers).
DRU_HD uint8_t area_round(uint64_t sum, uint64_t denom) { return uint8_t((2 * sum + denom) / (2 * denom)); }

// src (h, w, 3) bytes -> dst (3, S, S) bytes. Sums stay below 255 * w * h, far inside 64 bits.
// Returns false when w, h or S is not positive.
bool area_resize_rgb_cpu(const uint8_t* src, int w, int h, uint8_t* dst, int S);

}  // namespace dru
