// image_slice.cpp — see image_slice.h. stb_image and stb_image_resize come from Debian's libstb
// (a shared library), so no *_IMPLEMENTATION macro is defined here.
#include "tests/image_slice.h"

#include <stb_image.h>
#include <stb_image_resize.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace dru::test {

ImageSlice load_image_slice(const std::string& dir, int64_t n, int size) {
  const std::string csv = dir + "/labels.csv";
  std::ifstream f(csv);
  DRU_CHECK(f.good(), "image slice: cannot open {}", csv);
  std::string line;
  std::getline(f, line);
  DRU_CHECK(line.rfind("path,age", 0) == 0, "image slice: {} starts with '{}', expected a 'path,age,...' header", csv,
            line);
  std::vector<float> pixels(size_t(n) * 3 * size * size), ages;
  std::vector<unsigned char> small(size_t(size) * size * 3);
  for (int64_t i = 0; i < n; ++i) {
    DRU_CHECK(bool(std::getline(f, line)), "image slice: {} has only {} rows, {} asked for", csv, i, n);
    std::stringstream row(line);
    std::string path, age;
    std::getline(row, path, ',');
    std::getline(row, age, ',');
    const std::string file = dir + "/" + path;
    int w = 0, h = 0, channels = 0;
    std::unique_ptr<unsigned char, void (*)(void*)> img(stbi_load(file.c_str(), &w, &h, &channels, 3), stbi_image_free);
    DRU_CHECK(img != nullptr, "image slice: cannot decode {}: {}", file, stbi_failure_reason());
    DRU_CHECK(stbir_resize_uint8(img.get(), w, h, 0, small.data(), size, size, 0, 3) == 1,
              "image slice: cannot resize {} ({}x{}) to {}x{}", file, w, h, size, size);
    // HWC bytes -> CHW in [-1, 1].
    float* out = pixels.data() + size_t(i) * 3 * size * size;
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < size * size; ++p) out[size_t(c) * size * size + p] = small[size_t(p) * 3 + c] / 127.5f - 1.0f;
    ages.push_back(std::stof(age));
  }
  return {Tensor::from(pixels, Shape{n, 3, size, size}), Tensor::from(ages, Shape{n, 1})};
}

}  // namespace dru::test
