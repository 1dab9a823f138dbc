// fuzz_face_csv.cpp — libFuzzer target for the face-age csv reader (data/face_csv.cpp) and the area
// resize (kernels/resize/resize_cpu.cpp). Any csv text must either give well-formed rows or throw
// dru::Error; the resize, given sizes taken from the input's first bytes and the rest as pixels, must
// stay inside its buffers (ASan) and keep a constant image constant. Run by ctest as
// "fuzz: face csv reader" (CMakeLists.txt, dru_add_fuzz_test).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "data/images_internal.h"
#include "engine/check.h"
#include "kernels/resize/resize.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();  // a reader returned malformed data instead of throwing
}

void check_rows(const std::vector<dru::FaceRow>& rows) {
  require(!rows.empty());
  int64_t last = 1;
  for (const dru::FaceRow& r : rows) {
    require(!r.path.empty() && std::isfinite(r.age) && r.age >= 0);
    require(r.split == "train" || r.split == "val" || r.split == "test");
    require(r.line > last);
    last = r.line;
  }
}

void check_resize(const uint8_t* data, size_t size) {
  if (size < 4) return;
  const int w = 1 + data[0] % 40, h = 1 + data[1] % 40, S = 1 + data[2] % 48;
  std::vector<uint8_t> src(size_t(w) * h * 3), dst(size_t(3) * S * S);
  for (size_t i = 0; i < src.size(); ++i) src[i] = data[3 + i % (size - 3)];
  require(dru::area_resize_rgb_cpu(src.data(), w, h, dst.data(), S));
  std::vector<uint8_t> flat(src.size(), data[2]);
  require(dru::area_resize_rgb_cpu(flat.data(), w, h, dst.data(), S));
  for (uint8_t v : dst) require(v == data[2]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    check_rows(dru::images_detail::parse_face_csv(text, "fuzz.csv"));
  } catch (const dru::Error&) {
    // A clear error is the expected answer to bad input.
  }
  check_resize(data, size);
  return 0;
}
