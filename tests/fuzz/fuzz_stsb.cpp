// fuzz_stsb.cpp — libFuzzer target for the STS-B readers (data/stsb.cpp, data/glove.cpp): the tab-only
// tsv reader, the GloVe reader over memory and, for inputs that start like gzip, over a file through
// zlib, and the paper's text cleaning. Any input must either give well-formed rows / vectors / words or
// throw dru::Error; a crash, a sanitizer report, a hang or another exception type is a bug. Run by
// ctest as "fuzz: stsb readers" (CMakeLists.txt, dru_add_fuzz_test).
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <unordered_set>

#include "data/glove.h"
#include "data/stsb.h"
#include "engine/check.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();  // a reader returned malformed data instead of throwing
}

void check_rows(const std::vector<dru::StsbRow>& rows) {
  require(!rows.empty());
  std::unordered_set<std::string> keys;
  for (const dru::StsbRow& r : rows) {
    require(r.score >= 0 && r.score <= 5 && r.line >= 2 && !r.index.empty());
    require(keys.insert(r.index).second);
    require(r.sentence1.find('\t') == std::string::npos && r.sentence2.find('\n') == std::string::npos);
  }
}

void check_vectors(const dru::WordVectors& wv) {
  require(wv.dim > 0 && wv.values.size() == wv.words.size() * size_t(wv.dim) && wv.index.size() == wv.words.size());
  for (float v : wv.values) require(std::isfinite(v));
  for (size_t i = 0; i < wv.words.size(); ++i) require(wv.find(wv.words[i]) == wv.values.data() + i * size_t(wv.dim));
}

void check_words(const std::vector<std::string>& words) {
  for (const std::string& w : words) {
    require(!w.empty());
    for (char c : w) require((c >= 'a' && c <= 'z') || c == '\'');
  }
}

const std::string& gz_path() {
  static const std::string p = "/tmp/dru_fuzz_stsb_" + std::to_string(::getpid()) + ".gz";
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    std::istringstream in(text);
    check_rows(dru::parse_stsb_tsv(in, "fuzz"));
  } catch (const dru::Error&) {
    // A clear error is the expected answer to bad input.
  }
  try {
    check_vectors(dru::parse_glove(text, "fuzz"));
  } catch (const dru::Error&) {
  }
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {  // gzip: through zlib, as read_glove reads .gz files
    if (FILE* f = std::fopen(gz_path().c_str(), "wb")) {
      std::fwrite(data, 1, size, f);
      std::fclose(f);
      try {
        check_vectors(dru::read_glove(gz_path()));
      } catch (const dru::Error&) {
      }
      std::remove(gz_path().c_str());
    }
  }
  check_words(dru::clean_text(text, {}));
  check_words(dru::clean_text(text, {"the", "a"}));
  return 0;
}
