// image_slice.h — a few real face images for tests: decode, resize, normalise (tests only; the
// dataset loaders live in data/).
//
// Reads the first n rows of DIR/labels.csv (columns path,age,...; path relative to DIR), decodes each
// JPEG with stb_image, resizes it to size x size with stb_image_resize (Mitchell filter for shrinking)
// and maps the bytes to [-1, 1] as (v / 255 - 0.5) / 0.5. Errors name the file.
#pragma once

#include <string>

#include "engine/tensor.h"

namespace dru::test {

struct ImageSlice {
  Tensor x;    // (N, 3, size, size) f32, channels R, G, B
  Tensor age;  // (N, 1) f32, years
};

ImageSlice load_image_slice(const std::string& dir, int64_t n, int size);

}  // namespace dru::test
