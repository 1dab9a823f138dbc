// fixture.h — reading the JSON fixtures under tests/fixtures (written by the Python scripts in
// tools/fixtures and tools/reference) and the worst-error tally the golden comparisons report against
// their tolerance. Needs DRU_SOURCE_DIR (the repository).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace dru::test {

// tests/fixtures/<name>, parsed; a missing file fails the test case and names the script that writes it.
inline nlohmann::json load_fixture(const std::string& name, const std::string& script) {
  const std::string path = std::string(DRU_SOURCE_DIR) + "/tests/fixtures/" + name;
  std::ifstream f(path);
  REQUIRE_MESSAGE(f.good(), "cannot open " << path << "; run /usr/bin/python3 " << script);
  return nlohmann::json::parse(f);
}

// The worst relative error over a group of comparisons, with where it happened, printed against its
// tolerance. Each value is compared relative to max(|expected|, floor): the caller's floor keeps values
// that cancel to nearly zero from turning float rounding into huge relative errors. A NaN stays the worst.
struct Worst {
  std::string what;
  double err = 0;
  std::string where;
  void add(double got, double want, double floor, const std::string& at) {
    const double e = std::fabs(got - want) / std::max(std::fabs(want), floor);
    if (std::isnan(err)) return;
    if (where.empty() || e > err || std::isnan(e)) {
      err = e;
      where = at;
    }
  }
  void report(double tol) const {
    MESSAGE(what << ": worst relative error " << err << " at " << where << " (tolerance " << tol << ")");
    CHECK_MESSAGE(err <= tol, what << ": error " << err << " at " << where << " exceeds " << tol);
  }
};

}  // namespace dru::test
