// glove.cpp — see glove.h. Lines are split by hand and numbers parsed with std::from_chars (locale-free
// and several times faster than strtof, which matters for the 5.6 GB 840B file).
#include "data/glove.h"

#include <zlib.h>

#include <charconv>
#include <cmath>
#include <memory>

#include "engine/check.h"

namespace dru {

namespace {

class GloveBuilder {
 public:
  GloveBuilder(const std::string& name, const std::unordered_set<std::string>* wanted) : name_(name), wanted_(wanted) {}

  void add(std::string_view line, int64_t lineno) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    fields_.clear();
    for (size_t i = 0; i < line.size();) {
      if (line[i] == ' ') {
        ++i;
        continue;
      }
      size_t end = line.find(' ', i);
      if (end == std::string_view::npos) end = line.size();
      fields_.push_back(line.substr(i, end - i));
      i = end;
    }
    if (fields_.empty()) return;  // a blank line
    const int64_t n = int64_t(fields_.size());
    if (wv_.dim == 0 && n == 2 && header_count_ < 0) {
      // word2vec's text format opens with "count dim"; read as GloVe it would give 1-d vectors.
      int64_t count = 0, dim = 0;
      if (parse_int(fields_[0], count) && parse_int(fields_[1], dim) && count > 0 && dim > 0) {
        header_count_ = count;
        wv_.dim = dim;
        return;
      }
    }
    if (wv_.dim == 0) {
      DRU_CHECK(n >= 2, "{}:{}: the first line holds no vector (expected 'word v1 ... vD', spaces between)", name_,
                lineno);
      wv_.dim = n - 1;
    }
    const int64_t dim = wv_.dim;
    DRU_CHECK(n >= dim + 1, "{}:{}: {} values after the word, the first line has {} (a truncated line?)", name_, lineno,
              n - 1, dim);
    ++wv_.lines;
    // The word runs up to the end of the field before the vector's D fields (spaces kept).
    const std::string_view& last_word_field = fields_[size_t(n - dim - 1)];
    std::string word(fields_[0].data(), size_t(last_word_field.data() + last_word_field.size() - fields_[0].data()));
    if (n > dim + 1) ++wv_.spaced_words;
    if (wanted_ && !wanted_->count(word)) return;
    auto [it, fresh] = wv_.index.try_emplace(word, wv_.size());
    if (fresh) {
      wv_.words.push_back(word);
      wv_.values.resize(wv_.values.size() + size_t(dim));
    } else {
      ++wv_.repeated_words;
    }
    float* out = wv_.values.data() + it->second * dim;
    for (int64_t k = 0; k < dim; ++k) {
      std::string_view f = fields_[size_t(n - dim + k)];
      float v = 0;
      auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      DRU_CHECK(ec == std::errc() && ptr == f.data() + f.size() && std::isfinite(v),
                "{}:{}: value {} of '{}' is '{}', not a finite number", name_, lineno, k + 1, word, f);
      out[k] = v;
    }
  }

  WordVectors finish() {
    DRU_CHECK(wv_.dim > 0 && (wv_.lines > 0 || header_count_ < 0), "{}: holds no word vectors (an empty file?)", name_);
    DRU_CHECK(header_count_ < 0 || header_count_ == wv_.lines,
              "{}: the header line promises {} vectors, the file holds {} (a truncated file?)", name_, header_count_,
              wv_.lines);
    return std::move(wv_);
  }

 private:
  std::string name_;
  const std::unordered_set<std::string>* wanted_;
  static bool parse_int(std::string_view f, int64_t& v) {
    auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
    return ec == std::errc() && ptr == f.data() + f.size();
  }

  std::vector<std::string_view> fields_;
  int64_t header_count_ = -1;  // the vector count a word2vec header line gives, -1 without one
  WordVectors wv_;
};

// Feeds the complete lines of text[0, size) to b; returns where the unfinished last line starts.
size_t add_lines(GloveBuilder& b, std::string_view text, int64_t& lineno) {
  size_t start = 0;
  for (;;) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) return start;
    b.add(text.substr(start, nl - start), ++lineno);
    start = nl + 1;
  }
}

}  // namespace

WordVectors parse_glove(std::string_view text, const std::string& name, const std::unordered_set<std::string>* wanted) {
  GloveBuilder b(name, wanted);
  int64_t lineno = 0;
  size_t rest = add_lines(b, text, lineno);
  if (rest < text.size()) b.add(text.substr(rest), ++lineno);
  return b.finish();
}

WordVectors read_glove(const std::string& path, const std::unordered_set<std::string>* wanted) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> gz(gzopen(path.c_str(), "rb"), gzclose);
  DRU_CHECK(gz != nullptr, "{}: cannot open the GloVe file (check the path)", path);
  gzbuffer(gz.get(), 1 << 17);
  GloveBuilder b(path, wanted);
  int64_t lineno = 0;
  std::string carry;
  std::vector<char> buf(size_t(1) << 20);
  for (;;) {
    // A stream cut short reads as the end of the file with Z_BUF_ERROR set, hence gzerror below.
    int got = gzread(gz.get(), buf.data(), unsigned(buf.size()));
    if (got <= 0) break;
    carry.append(buf.data(), size_t(got));
    size_t rest = add_lines(b, carry, lineno);
    carry.erase(0, rest);
  }
  int err = Z_OK;
  const char* msg = gzerror(gz.get(), &err);
  DRU_CHECK(err == Z_OK, "{}: cannot read the file after line {}: {} (a truncated or corrupt .gz?)", path, lineno, msg);
  if (!carry.empty()) b.add(carry, ++lineno);
  return b.finish();
}

}  // namespace dru
