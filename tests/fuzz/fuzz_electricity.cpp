// fuzz_electricity.cpp — libFuzzer target for the electricity readers (data/electricity.cpp): the UCI
// ';'-separated 15-minute file, the hourly csv and the format detection. Any input must either give a
// well-formed hourly matrix or throw dru::Error; a crash, a sanitizer report, a hang or another exception
// type is a bug. Run by ctest as "fuzz: electricity readers" (CMakeLists.txt, dru_add_fuzz_test).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>

#include "data/electricity.h"
#include "engine/check.h"

namespace {

void check_matrix(const dru::HourlyLoad& l) {
  bool ok = !l.customers.empty() && l.hours > 0 && l.kw.size() == size_t(l.hours) * l.customers.size();
  for (double v : l.kw) ok = ok && std::isfinite(v) && v >= 0;
  if (!ok) std::abort();  // a reader returned a malformed matrix instead of throwing
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  using Reader = dru::HourlyLoad (*)(std::istream&, const std::string&);
  for (Reader read : {&dru::parse_electricity, &dru::parse_uci_electricity, &dru::parse_hourly_electricity}) {
    std::istringstream in(text);
    try {
      check_matrix(read(in, "fuzz"));
    } catch (const dru::Error&) {
      // A clear error is the expected answer to bad input.
    }
  }
  return 0;
}
