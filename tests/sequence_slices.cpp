// sequence_slices.cpp — the test-only readers described in sequence_slices.h.
#include "tests/sequence_slices.h"

#include <zlib.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/check.h"

namespace dru::test {

namespace {

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = line.find(sep, start);
    out.push_back(line.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

std::string chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

size_t column(const std::vector<std::string>& header, const std::string& name, const std::string& path) {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  DRU_FAIL("{}: the header has no column '{}'", path, name);
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
int64_t days_since_epoch(int y, int m, int d) {
  auto leap = [](int yr) { return (yr % 4 == 0 && yr % 100 != 0) || yr % 400 == 0; };
  static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t days = 0;
  for (int yr = 1970; yr < y; ++yr) days += leap(yr) ? 366 : 365;
  for (int mo = 1; mo < m; ++mo) days += month_days[mo - 1] + (mo == 2 && leap(y) ? 1 : 0);
  return days + d - 1;
}

}  // namespace

std::vector<StsbPair> read_stsb_pairs(const std::string& path, size_t max_rows) {
  std::ifstream f(path);
  DRU_CHECK(f.good(), "read_stsb_pairs: cannot open {}", path);
  std::string line;
  DRU_CHECK(bool(std::getline(f, line)), "read_stsb_pairs: {} is empty", path);
  std::vector<std::string> header = split(chomp(line), '\t');
  size_t c1 = column(header, "sentence1", path), c2 = column(header, "sentence2", path),
         cs = column(header, "score", path);
  std::vector<StsbPair> pairs;
  for (size_t row = 2; pairs.size() < max_rows && std::getline(f, line); ++row) {
    std::vector<std::string> fields = split(chomp(line), '\t');
    DRU_CHECK(fields.size() == header.size(), "read_stsb_pairs: {} line {} has {} fields, the header {}", path, row,
              fields.size(), header.size());
    char* end = nullptr;
    double score = std::strtod(fields[cs].c_str(), &end);
    DRU_CHECK(end != fields[cs].c_str() && *end == '\0', "read_stsb_pairs: {} line {}: score '{}' is not a number",
              path, row, fields[cs]);
    pairs.push_back({fields[c1], fields[c2], score});
  }
  return pairs;
}

WordVectors read_glove(const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  DRU_CHECK(gz != nullptr, "read_glove: cannot open {}", path);
  WordVectors wv;
  std::string line;
  char buf[1 << 16];
  std::vector<float> vec;
  auto take = [&](const std::string& l) {
    size_t sp = l.find(' ');
    if (sp == std::string::npos || sp == 0) return;
    vec.clear();
    const char* p = l.c_str() + sp;
    for (;;) {
      char* end = nullptr;
      float v = std::strtof(p, &end);
      if (end == p) break;
      vec.push_back(v);
      p = end;
    }
    if (wv.dim == 0) wv.dim = int64_t(vec.size());
    if (int64_t(vec.size()) == wv.dim) wv.vectors.emplace(l.substr(0, sp), vec);
  };
  // gzgets returns at most sizeof(buf) - 1 bytes: a longer line arrives in pieces, joined here.
  while (gzgets(gz, buf, sizeof(buf)) != nullptr) {
    line += buf;
    if (line.back() != '\n') continue;
    take(chomp(line));
    line.clear();
  }
  if (!line.empty()) take(chomp(line));
  int err = 0;
  const char* msg = gzerror(gz, &err);
  std::string why = err < 0 ? msg : "";
  gzclose(gz);
  DRU_CHECK(why.empty(), "read_glove: {}: {}", path, why);
  DRU_CHECK(wv.dim > 0, "read_glove: {} holds no word vectors", path);
  return wv;
}

std::vector<std::string> tokenize(const std::string& text) {
  std::vector<std::string> tokens;
  std::string cur;
  for (char ch : text) {
    char c = char(std::tolower(static_cast<unsigned char>(ch)));
    if (c >= 'a' && c <= 'z') {
      cur += c;
    } else if (!cur.empty()) {
      tokens.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) tokens.push_back(cur);
  return tokens;
}

std::vector<float> embed_sentence(const std::vector<std::string>& tokens, const WordVectors& wv, int64_t steps) {
  const size_t d = size_t(wv.dim);
  const size_t used = std::min(tokens.size(), size_t(steps));
  std::vector<const std::vector<float>*> found(used, nullptr);
  std::vector<float> mean(d, 0.0f);
  int known = 0;
  for (size_t i = 0; i < used; ++i) {
    auto it = wv.vectors.find(tokens[i]);
    if (it == wv.vectors.end()) continue;
    found[i] = &it->second;
    for (size_t k = 0; k < d; ++k) mean[k] += it->second[k];
    ++known;
  }
  if (known > 0)
    for (float& v : mean) v /= float(known);
  std::vector<float> out(size_t(steps) * d, 0.0f);
  const size_t pad = size_t(steps) - used;  // pre-padding: the sentence ends at the last step
  for (size_t i = 0; i < used; ++i) {
    const std::vector<float>& v = found[i] ? *found[i] : mean;
    std::copy(v.begin(), v.end(), out.begin() + long((pad + i) * d));
  }
  return out;
}

ElectricitySeries read_electricity(const std::string& path) {
  std::ifstream f(path);
  DRU_CHECK(f.good(), "read_electricity: cannot open {}", path);
  std::string line;
  DRU_CHECK(bool(std::getline(f, line)), "read_electricity: {} is empty", path);
  const size_t customers = split(chomp(line), ',').size() - 1;
  DRU_CHECK(customers > 0, "read_electricity: {} has no customer columns", path);
  ElectricitySeries s;
  s.load.assign(customers, {});
  for (size_t row = 2; std::getline(f, line); ++row) {
    std::vector<std::string> fields = split(chomp(line), ',');
    if (fields.size() == 1 && fields[0].empty()) continue;
    DRU_CHECK(fields.size() == customers + 1, "read_electricity: {} line {} has {} fields, expected {}", path, row,
              fields.size(), customers + 1);
    int y = 0, mo = 0, d = 0, h = 0;
    DRU_CHECK(std::sscanf(fields[0].c_str(), "%d-%d-%d %d", &y, &mo, &d, &h) == 4 && mo >= 1 && mo <= 12,
              "read_electricity: {} line {}: timestamp '{}' is not YYYY-MM-DD HH:MM:SS", path, row, fields[0]);
    s.hour.push_back(h);
    s.weekday.push_back(int((days_since_epoch(y, mo, d) + 3) % 7));  // 1970-01-01 was a Thursday
    for (size_t c = 0; c < customers; ++c) s.load[c].push_back(std::strtod(fields[c + 1].c_str(), nullptr));
  }
  for (auto& series : s.load) {
    double mean = 0, var = 0;
    for (double v : series) mean += v;
    mean /= double(series.size());
    for (double v : series) var += (v - mean) * (v - mean);
    double sd = std::sqrt(var / double(series.size()));
    if (sd == 0) sd = 1;
    for (double& v : series) v = (v - mean) / sd;
  }
  return s;
}

ForecastWindows electricity_windows(const ElectricitySeries& s, int64_t n, int64_t history, int64_t horizon,
                                    Generator& gen) {
  const int64_t rows = int64_t(s.hour.size()), span = history + horizon;
  DRU_CHECK(rows >= span, "electricity_windows: {} rows are fewer than one window of {}", rows, span);
  std::vector<double> x(size_t(n * history * 3)), target(size_t(n * horizon));
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = size_t(gen.below(s.load.size()));
    const int64_t start = int64_t(gen.below(uint64_t(rows - span + 1)));
    ids[size_t(i)] = int64_t(c);
    for (int64_t t = 0; t < history; ++t) {
      const size_t r = size_t(start + t), at = size_t((i * history + t) * 3);
      x[at] = s.load[c][r];
      x[at + 1] = s.hour[r] / 23.0;
      x[at + 2] = s.weekday[r] / 6.0;
    }
    for (int64_t h = 0; h < horizon; ++h) target[size_t(i * horizon + h)] = s.load[c][size_t(start + history + h)];
  }
  return {Tensor::from(x, Shape{n, history, 3}), Tensor::from(ids, Shape{n}), Tensor::from(target, Shape{n, horizon})};
}

}  // namespace dru::test
