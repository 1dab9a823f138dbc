// table.cpp — see table.h.
#include "data/table.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/check.h"

namespace dru {

namespace {

// Comma-separated when the line has a comma (fields trimmed), whitespace-separated otherwise.
std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> out;
  bool csv = line.find(',') != std::string::npos;
  std::string cur;
  auto flush = [&](bool keep_empty) {
    size_t b = cur.find_first_not_of(" \t\r"), e = cur.find_last_not_of(" \t\r");
    std::string f = b == std::string::npos ? "" : cur.substr(b, e - b + 1);
    if (keep_empty || !f.empty()) out.push_back(f);
    cur.clear();
  };
  for (char ch : line) {
    if (csv ? ch == ',' : (ch == ' ' || ch == '\t')) flush(csv);
    else cur += ch;
  }
  flush(csv);
  return out;
}

}  // namespace

int Table::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return int(i);
  std::string all;
  for (auto& c : columns) all += (all.empty() ? "" : ", ") + c;
  DRU_FAIL("table: no column named '{}' (columns: {})", name, all);
}

Table read_table(const std::string& path) {
  // A folder opens as a stream that reads nothing, which would be reported as an empty file.
  std::error_code ec;
  DRU_CHECK(!std::filesystem::is_directory(path, ec),
            "{}: is a folder; give the table file inside it (a header row naming the columns, one of them 'target', "
            "then one row of numbers per sample; e.g. data/diabetes/diabetes.txt)", path);
  std::ifstream in(path);
  DRU_CHECK(in.good(), "{}: cannot open the file (check the path)", path);
  Table t;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines carry no data
    std::vector<std::string> f = split_fields(line);
    if (t.columns.empty()) {
      t.columns = f;
      continue;
    }
    DRU_CHECK(f.size() == t.columns.size(), "{}:{}: {} fields, the header has {}", path, lineno, f.size(),
              t.columns.size());
    std::vector<double> row(f.size());
    for (size_t c = 0; c < f.size(); ++c) {
      char* end = nullptr;
      errno = 0;
      row[c] = std::strtod(f[c].c_str(), &end);
      DRU_CHECK(end != f[c].c_str() && *end == '\0' && errno == 0 && std::isfinite(row[c]),
                "{}:{}: column '{}' holds '{}', which is not a finite number", path, lineno, t.columns[c], f[c]);
    }
    t.rows.push_back(std::move(row));
  }
  DRU_CHECK(!t.columns.empty(), "{}: the file is empty", path);
  DRU_CHECK(!t.rows.empty(), "{}: the header has no data rows under it", path);
  return t;
}

}  // namespace dru
