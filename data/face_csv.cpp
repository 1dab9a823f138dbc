// face_csv.cpp — the face-age label csv (see images.h): header with path, age, split in any order,
// RFC 4180 quoting within a line, every row checked and named by file:line on error.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "data/images_internal.h"
#include "engine/check.h"

namespace dru {

namespace images_detail {

namespace {

constexpr double kMaxAge = 150;

// Splits one csv line. Quoted fields may hold commas and doubled quotes; surrounding spaces and a
// trailing \r are trimmed from unquoted fields.
std::vector<std::string> split_csv_line(const std::string& line, const std::string& path, int64_t lineno) {
  std::vector<std::string> out;
  std::string cur;
  size_t i = 0;
  const size_t n = line.size();
  while (true) {
    while (i < n && (line[i] == ' ' || line[i] == '\t')) ++i;
    cur.clear();
    if (i < n && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < n) {
        if (line[i] == '"') {
          if (i + 1 < n && line[i + 1] == '"') {
            cur += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        cur += line[i++];
      }
      DRU_CHECK(closed, "{}:{}: a quoted field is not closed on its line", path, lineno);
      while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      DRU_CHECK(i == n || line[i] == ',', "{}:{}: text after a closing quote", path, lineno);
    } else {
      while (i < n && line[i] != ',') cur += line[i++];
      size_t e = cur.find_last_not_of(" \t\r");
      cur.erase(e == std::string::npos ? 0 : e + 1);
    }
    out.push_back(cur);
    if (i >= n) break;
    ++i;  // the comma
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

std::string canonical_split(const std::string& s) {
  std::string l = lower(s);
  if (l == "train" || l == "training") return "train";
  if (l == "val" || l == "valid" || l == "validation" || l == "dev") return "val";
  if (l == "test") return "test";
  return "";
}

}  // namespace

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string read_csv_text(const std::string& path) {
  std::error_code ec;
  DRU_CHECK(!std::filesystem::is_directory(path, ec), "{}: is a folder; give the face csv inside it (labels.csv)",
            path);
  std::ifstream in(path, std::ios::binary);
  DRU_CHECK(in.good(), "{}: cannot open the face csv (check the path)", path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<FaceRow> parse_face_csv(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  std::string line;
  int64_t lineno = 0;
  std::vector<std::string> header;
  int col_path = -1, col_age = -1, col_split = -1;
  std::vector<FaceRow> rows;
  std::unordered_map<std::string, size_t> seen;  // normalised path -> its row
  while (std::getline(in, line)) {
    ++lineno;
    if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;      // blank lines carry nothing
    std::vector<std::string> f = split_csv_line(line, path, lineno);
    if (header.empty()) {
      header = f;
      for (size_t c = 0; c < header.size(); ++c) {
        std::string name = lower(header[c]);
        int* slot = name == "path" ? &col_path : name == "age" ? &col_age : name == "split" ? &col_split : nullptr;
        if (!slot) continue;
        DRU_CHECK(*slot < 0, "{}:{}: the column '{}' appears twice in the header", path, lineno, name);
        *slot = int(c);
      }
      const char* missing = col_path < 0 ? "path" : col_age < 0 ? "age" : col_split < 0 ? "split" : nullptr;
      DRU_CHECK(!missing, "{}:{}: the header '{}' has no '{}' column (a face csv needs path, age and split)", path,
                lineno, line.substr(0, line.find_last_not_of("\r") + 1), missing);
      continue;
    }
    DRU_CHECK(f.size() == header.size(), "{}:{}: {} fields, the header has {}", path, lineno, f.size(),
              header.size());
    FaceRow r;
    r.line = lineno;
    r.path = f[size_t(col_path)];
    DRU_CHECK(!r.path.empty(), "{}:{}: the path is empty", path, lineno);
    const std::string& a = f[size_t(col_age)];
    char* end = nullptr;
    errno = 0;
    r.age = std::strtod(a.c_str(), &end);
    DRU_CHECK(!a.empty() && end == a.c_str() + a.size() && errno == 0 && std::isfinite(r.age) && r.age >= 0,
              "{}:{}: age '{}' is not a finite number >= 0", path, lineno, a);
    // An age past any human's (a typo, a birth year, 1e30) would dominate an L1 or MSE loss silently.
    DRU_CHECK(r.age <= kMaxAge, "{}:{}: age {} is not a plausible age in years (0 to {}); fix the row", path, lineno,
              a, kMaxAge);
    r.split = canonical_split(f[size_t(col_split)]);
    DRU_CHECK(!r.split.empty(), "{}:{}: split '{}' is not train, val or test (valid, validation, dev mean val)", path,
              lineno, f[size_t(col_split)]);
    // One image twice would count twice in training, or, in two splits, be tested on after training on
    // it; the cache and the forget rules key samples by path too. Compared after normalising "./a.jpg".
    auto [at, fresh] = seen.try_emplace(std::filesystem::path(r.path).lexically_normal().string(), rows.size());
    if (!fresh) {
      const FaceRow& first = rows[at->second];
      DRU_FAIL("{}:{}: image '{}' is listed again (first at line {}{}); each image must be one row of one split", path,
               lineno, r.path, first.line,
               first.split == r.split ? "" : fmt::format(", in the {} split; here in {}", first.split, r.split));
    }
    rows.push_back(std::move(r));
  }
  DRU_CHECK(!header.empty(), "{}: the file is empty (expected a header naming path, age and split)", path);
  DRU_CHECK(!rows.empty(), "{}: the header has no rows under it (an empty data set)", path);
  return rows;
}

}  // namespace images_detail

std::vector<FaceRow> read_face_csv(const std::string& csv_path) {
  return images_detail::parse_face_csv(images_detail::read_csv_text(csv_path), csv_path);
}

}  // namespace dru
