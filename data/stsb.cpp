// stsb.cpp — the STS-B tsv reader, the word-list reader, text cleaning and the sentence embedding (see
// stsb.h). The loaders that build tensors are in stsb_load.cpp, so that this file and glove.cpp build on
// their own for the fuzz target (tests/fuzz/fuzz_stsb.cpp).
#include "data/stsb.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <istream>
#include <unordered_map>

#include "data/glove.h"
#include "engine/check.h"

namespace dru {

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = line.find('\t', start);
    out.push_back(line.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

// Python's \s on ASCII: space, \t \n \v \f \r and the separators 0x1c-0x1f.
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }
// The length in bytes of the whitespace character (Python's \s, Unicode included) starting at s[i], or 0.
size_t space_length(const std::string& s, size_t i) {
  auto at = [&](size_t k) { return i + k < s.size() ? uint8_t(s[i + k]) : 0; };
  if (is_space(s[i])) return 1;
  if (at(0) == 0xC2 && (at(1) == 0x85 || at(1) == 0xA0)) return 2;  // U+0085, U+00A0
  if (at(0) == 0xE1 && at(1) == 0x9A && at(2) == 0x80) return 3;    // U+1680
  if (at(0) == 0xE2 && at(1) == 0x80 && (at(2) <= 0x8A || at(2) == 0xA8 || at(2) == 0xA9 || at(2) == 0xAF))
    return at(2) >= 0x80 ? 3 : 0;                                 // U+2000-200A, 2028, 2029, 202F
  if (at(0) == 0xE2 && at(1) == 0x81 && at(2) == 0x9F) return 3;  // U+205F
  if (at(0) == 0xE3 && at(1) == 0x80 && at(2) == 0x80) return 3;  // U+3000
  return 0;
}

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

}  // namespace

std::vector<StsbRow> parse_stsb_tsv(std::istream& in, const std::string& name) {
  std::string line;
  std::vector<std::string> header;
  int64_t lineno = 0;
  while (header.empty() && std::getline(in, line)) {
    ++lineno;
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 byte-order mark
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!trim(line).empty()) header = split_tabs(line);
  }
  DRU_CHECK(!header.empty(),
            "{}: the file is empty (expected a tab-separated header naming sentence1, sentence2, score)", name);
  int c1 = -1, c2 = -1, cs = -1, ci = -1;
  for (size_t i = 0; i < header.size(); ++i) {
    std::string h = trim(header[i]);
    int* slot = h == "sentence1" ? &c1 : h == "sentence2" ? &c2 : h == "score" ? &cs : h == "index" ? &ci : nullptr;
    DRU_CHECK(slot == nullptr || *slot < 0, "{}:{}: the header names column '{}' twice", name, lineno, h);
    if (slot) *slot = int(i);
  }
  DRU_CHECK(c1 >= 0 && c2 >= 0 && cs >= 0,
            "{}:{}: the header lacks sentence1, sentence2 or score (is this an STS-B tsv, tab-separated?)", name,
            lineno);

  std::vector<StsbRow> rows;
  std::unordered_map<std::string, int64_t> seen;  // index -> line, to reject repeated keys
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    std::vector<std::string> f = split_tabs(line);
    DRU_CHECK(f.size() == header.size(), "{}:{}: {} tab-separated fields, the header has {}", name, lineno, f.size(),
              header.size());
    StsbRow r;
    r.line = lineno;
    r.sentence1 = f[size_t(c1)];
    r.sentence2 = f[size_t(c2)];
    const std::string s = trim(f[size_t(cs)]);
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), r.score);
    DRU_CHECK(!s.empty() && ec == std::errc() && ptr == s.data() + s.size(), "{}:{}: score '{}' is not a number", name,
              lineno, f[size_t(cs)]);
    DRU_CHECK(!std::isnan(r.score), "{}:{}: score is NaN", name, lineno);
    DRU_CHECK(r.score >= 0 && r.score <= 5, "{}:{}: score {} is outside [0, 5]", name, lineno, s);
    r.index = ci >= 0 ? trim(f[size_t(ci)]) : std::to_string(rows.size());
    DRU_CHECK(!r.index.empty(), "{}:{}: the index field is empty", name, lineno);
    auto [it, fresh] = seen.try_emplace(r.index, lineno);
    DRU_CHECK(fresh, "{}:{}: index '{}' already appeared at line {}", name, lineno, r.index, it->second);
    rows.push_back(std::move(r));
  }
  DRU_CHECK(!in.bad(), "{}: read error after line {}", name, lineno);
  DRU_CHECK(!rows.empty(), "{}: the header has no rows under it", name);
  return rows;
}

std::vector<StsbRow> read_stsb_tsv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DRU_CHECK(in.good(), "{}: cannot open the STS-B file (check the path)", path);
  return parse_stsb_tsv(in, path);
}

std::unordered_set<std::string> read_word_list(const std::string& path) {
  std::ifstream in(path);
  DRU_CHECK(in.good(), "{}: cannot open the word list (check the path)", path);
  std::unordered_set<std::string> words;
  std::string line;
  while (std::getline(in, line)) {
    std::string w = trim(line);
    if (!w.empty()) words.insert(w);
  }
  DRU_CHECK(!words.empty(), "{}: the word list is empty", path);
  return words;
}

std::vector<std::string> clean_text(const std::string& text, const std::unordered_set<std::string>& stopwords) {
  // Steps 1-3 into t, which then holds only a-z, apostrophes and spaces, padded by a space each side.
  // Step 3's regex replaces a whole run of other characters ([^a-z' ]+) by one space, and a UTF-8
  // character is one character to Python: runs collapse here too, or step 4 would see other neighbours.
  std::string t = " ";
  t.reserve(text.size() + 2);
  bool in_run = false;
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    if (c == 'h' && i + 4 < text.size() && (text[i + 1] | 0x20) == 't' && (text[i + 2] | 0x20) == 't' &&
        (text[i + 3] | 0x20) == 'p' && space_length(text, i + 4) == 0) {
      // http\S+: "http" and at least one more non-space, all of it.
      i += 4;
      while (i < text.size() && space_length(text, i) == 0) ++i;
      t += ' ';
      in_run = false;
      continue;
    }
    if (is_lower(c) || c == '\'' || c == ' ') {
      t += c;
      in_run = false;
    } else if (!in_run) {
      t += ' ';
      in_run = true;
    }
    ++i;
  }
  t += ' ';
  // Step 4: [^a-z]'|'[^a-z], left to right, each match (two characters) becomes a space. Matches are
  // found in the original string, so a replacement never creates or hides a later match.
  std::string u;
  u.reserve(t.size());
  for (size_t i = 0; i < t.size();) {
    if (i + 1 < t.size() && ((!is_lower(t[i]) && t[i + 1] == '\'') || (t[i] == '\'' && !is_lower(t[i + 1])))) {
      u += ' ';
      i += 2;
    } else {
      u += t[i++];
    }
  }
  // Step 5.
  std::vector<std::string> words;
  for (size_t i = 0; i < u.size();) {
    if (u[i] == ' ') {
      ++i;
      continue;
    }
    size_t end = u.find(' ', i);
    std::string w = u.substr(i, end - i);
    if (!stopwords.count(w)) words.push_back(std::move(w));
    i = end;
  }
  return words;
}

int64_t embed_words(const std::vector<std::string>& words, const WordVectors& vectors, int64_t steps, float* out) {
  DRU_CHECK(steps >= 1, "embed_words: steps is {}, must be at least 1", steps);
  const int64_t d = vectors.dim, n = int64_t(words.size());
  // The mean of every known word of the sentence, before truncation (the notebook's text_embed).
  std::vector<double> mean(size_t(d), 0.0);
  std::vector<const float*> found(static_cast<size_t>(n), nullptr);
  int64_t known = 0;
  for (int64_t i = 0; i < n; ++i) {
    found[size_t(i)] = vectors.find(words[size_t(i)]);
    if (!found[size_t(i)]) continue;
    for (int64_t k = 0; k < d; ++k) mean[size_t(k)] += found[size_t(i)][k];
    ++known;
  }
  for (double& m : mean) m /= double(std::max<int64_t>(known, 1));
  // Keep the first `steps` words; pre-pad shorter sentences with zero rows.
  const int64_t used = std::min(n, steps), pad = steps - used;
  std::fill(out, out + pad * d, 0.0f);
  for (int64_t i = 0; i < used; ++i) {
    float* row = out + (pad + i) * d;
    if (const float* v = found[size_t(i)]) {
      std::copy(v, v + d, row);
    } else {
      for (int64_t k = 0; k < d; ++k) row[k] = float(mean[size_t(k)]);
    }
  }
  return known;
}

}  // namespace dru
