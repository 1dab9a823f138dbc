// electricity.cpp — the two electricity readers and the calendar on the hour scale (see electricity.h).
//
// This file needs only engine/check.h and fmt, so the fuzz target (tests/fuzz/fuzz_electricity.cpp)
// compiles it on its own; the windows and standardisation are in electricity_windows.cpp.
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string_view>

#include "data/electricity.h"
#include "engine/check.h"

namespace dru {

namespace {

constexpr int64_t kOriginYear = 2011;
// A terawatt: more than any single meter reads, far below where the standardisation's sums overflow.
constexpr double kMaxKw = 1e12;

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int64_t y, int m) {
  static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return d[m - 1] + (m == 2 && leap(y) ? 1 : 0);
}

// Days from 0001-01-01 to y-01-01 in the proleptic Gregorian calendar (y >= 1).
int64_t days_before_year(int64_t y) {
  int64_t p = y - 1;
  return 365 * p + p / 4 - p / 100 + p / 400;
}

int64_t days_from_origin(int64_t y, int m, int d) {
  static const int before_month[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  return days_before_year(y) + before_month[m - 1] + (m > 2 && leap(y) ? 1 : 0) + (d - 1) -
         days_before_year(kOriginYear);
}

struct Civil {
  int64_t year;
  int month, day;
};

Civil civil_from_day(int64_t day) {
  int64_t n = day + days_before_year(kOriginYear);  // days since 0001-01-01
  int64_t y = 1 + n * 400 / 146097;                  // 146,097 days per 400 years; then correct by one
  while (days_before_year(y + 1) <= n) ++y;
  while (days_before_year(y) > n) --y;
  int doy = int(n - days_before_year(y));
  int m = 1;
  while (doy >= days_in_month(y, m)) doy -= days_in_month(y, m++);
  return {y, m, doy + 1};
}

// Digits only, exactly s.size() of them.
bool parse_digits(std::string_view s, int& v) {
  if (s.empty()) return false;
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  return true;
}

// "YYYY-MM-DD HH:MM[:SS]" (or 'T' between date and time) → seconds since 2011-01-01 00:00.
bool parse_time(std::string_view s, int64_t& seconds) {
  if (s.size() != 16 && s.size() != 19) return false;
  if (s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':') return false;
  if (s.size() == 19 && s[16] != ':') return false;
  int y, mo, d, h, mi, sec = 0;
  if (!parse_digits(s.substr(0, 4), y) || !parse_digits(s.substr(5, 2), mo) || !parse_digits(s.substr(8, 2), d) ||
      !parse_digits(s.substr(11, 2), h) || !parse_digits(s.substr(14, 2), mi))
    return false;
  if (s.size() == 19 && !parse_digits(s.substr(17, 2), sec)) return false;
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59) return false;
  seconds = ((days_from_origin(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec;
  return true;
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// A finite number; with comma_decimal the decimal separator is ',' (a '.' is accepted too).
bool parse_number(std::string_view f, bool comma_decimal, double& v) {
  char buf[64];
  if (f.empty() || f.size() >= sizeof buf) return false;
  for (size_t i = 0; i < f.size(); ++i) buf[i] = comma_decimal && f[i] == ',' ? '.' : f[i];
  auto [end, ec] = std::from_chars(buf, buf + f.size(), v);
  return ec == std::errc() && end == buf + f.size() && std::isfinite(v);
}

std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  s = s.substr(b, e - b + 1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

void split(std::string_view line, char sep, std::vector<std::string_view>& out) {
  out.clear();
  size_t start = 0;
  while (true) {
    size_t p = line.find(sep, start);
    out.push_back(trim(line.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start)));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
}

// The next line that is not blank, without its '\r'; false at the end of the stream.
bool next_line(std::istream& in, std::string& line, int64_t& lineno) {
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) return true;
  }
  return false;
}

enum class Format { uci, hourly };

const char* format_name(Format f) { return f == Format::uci ? "UCI LD2011_2014 (';'-separated)" : "hourly csv"; }

// The body of both readers: `header` is the first non-blank line (at `lineno`), the rest comes from `in`.
HourlyLoad parse_rest(std::istream& in, const std::string& name, Format fmt, std::string header, int64_t lineno) {
  const char sep = fmt == Format::uci ? ';' : ',';
  if (header.rfind("\xEF\xBB\xBF", 0) == 0) header.erase(0, 3);  // a UTF-8 byte-order mark
  std::vector<std::string_view> f;
  split(header, sep, f);
  HourlyLoad out;
  out.source = name;
  DRU_CHECK(f.size() >= 2, "{}:{}: the header names no customer columns (expected the {} format: a time column, "
            "then one column per customer)", name, lineno, format_name(fmt));
  for (size_t c = 1; c < f.size(); ++c) {
    DRU_CHECK(!f[c].empty(), "{}:{}: header column {} has no name", name, lineno, c + 1);
    for (size_t k = 1; k < c; ++k)
      DRU_CHECK(f[k] != f[c], "{}:{}: customer '{}' appears twice in the header", name, lineno, f[c]);
    out.customers.emplace_back(f[c]);
  }
  const size_t nc = out.customers.size();

  std::vector<double> sum(nc, 0.0);
  int64_t count = 0;         // readings in the hour being summed (UCI)
  int64_t hour = 0;          // that hour
  int64_t prev = 0;          // the previous row's time, seconds
  std::string prev_text;
  std::string line;
  auto flush_hour = [&] {
    for (size_t c = 0; c < nc; ++c) out.kw.push_back(sum[c] / double(count));
    std::fill(sum.begin(), sum.end(), 0.0);
    count = 0;
    ++out.hours;
  };
  while (next_line(in, line, lineno)) {
    split(line, sep, f);
    DRU_CHECK(f.size() == nc + 1, "{}:{}: {} fields, the header has {} (check the separator '{}')", name, lineno,
              f.size(), nc + 1, sep);
    int64_t t = 0;
    DRU_CHECK(parse_time(f[0], t), "{}:{}: '{}' is not a timestamp like 2014-01-01 00:00:00", name, lineno, f[0]);
    int64_t h = floor_div(t, 3600);
    if (fmt == Format::hourly)
      DRU_CHECK(t == h * 3600, "{}:{}: {} is not on the hour (an hourly file has hh:00:00 times)", name, lineno, f[0]);
    bool first = out.hours == 0 && count == 0;
    if (!first) {
      DRU_CHECK(t > prev, "{}:{}: {} does not come after the previous row's {} (rows must be in time order, "
                "without repeats)", name, lineno, f[0], prev_text);
      DRU_CHECK(h <= hour + 1, "{}:{}: {} follows {}: the hours between have no readings (a complete series is "
                "needed)", name, lineno, f[0], prev_text);
      if (h != hour) flush_hour();
    } else {
      out.first_hour = h;
    }
    hour = h;
    prev = t;
    prev_text.assign(f[0]);
    for (size_t c = 0; c < nc; ++c) {
      double v = 0;
      DRU_CHECK(parse_number(f[c + 1], fmt == Format::uci, v), "{}:{}: customer {} reads '{}', which is not a {}",
                name, lineno, out.customers[c], f[c + 1],
                fmt == Format::uci ? "number with a decimal comma (2,538)" : "finite number");
      DRU_CHECK(v >= 0, "{}:{}: customer {} reads {}: a load in kW cannot be negative", name, lineno,
                out.customers[c], f[c + 1]);
      // Finite but absurd (1e300 kW): standardisation then overflows (its sd is infinite) and the whole
      // customer trains on zeros or NaN.
      DRU_CHECK(v <= kMaxKw, "{}:{}: customer {} reads {}: not a plausible load in kW (above {:g}); fix the reading",
                name, lineno, out.customers[c], f[c + 1], kMaxKw);
      sum[c] += v;
    }
    ++count;
  }
  DRU_CHECK(count > 0, "{}: no data rows under the header", name);
  flush_hour();
  return out;
}

bool first_line(std::istream& in, const std::string& name, std::string& line, int64_t& lineno) {
  DRU_CHECK(next_line(in, line, lineno), "{}: the file is empty (expected a header row, then one row per time)",
            name);
  return true;
}

}  // namespace

HourlyLoad parse_uci_electricity(std::istream& in, const std::string& name) {
  std::string header;
  int64_t lineno = 0;
  first_line(in, name, header, lineno);
  return parse_rest(in, name, Format::uci, std::move(header), lineno);
}

HourlyLoad parse_hourly_electricity(std::istream& in, const std::string& name) {
  std::string header;
  int64_t lineno = 0;
  first_line(in, name, header, lineno);
  return parse_rest(in, name, Format::hourly, std::move(header), lineno);
}

HourlyLoad parse_electricity(std::istream& in, const std::string& name) {
  std::string header;
  int64_t lineno = 0;
  first_line(in, name, header, lineno);
  Format fmt;
  if (header.find(';') != std::string::npos) fmt = Format::uci;
  else if (header.find(',') != std::string::npos) fmt = Format::hourly;
  else
    DRU_FAIL("{}:{}: the header has neither ';' (UCI LD2011_2014.txt) nor ',' (hourly csv) between its columns",
             name, lineno);
  return parse_rest(in, name, fmt, std::move(header), lineno);
}

HourlyLoad read_electricity(const std::string& path) {
  // A folder opens as a stream that reads nothing, which would be reported as an empty file.
  std::error_code ec;
  DRU_CHECK(!std::filesystem::is_directory(path, ec),
            "{}: is a folder; give the load file inside it: UCI's LD2011_2014.txt or an hourly csv (e.g. "
            "data/electricity/ld2011_2014_mt001-010_hourly.csv)", path);
  std::ifstream in(path, std::ios::binary);
  DRU_CHECK(in.good(), "{}: cannot open the file (check the path)", path);
  return parse_electricity(in, path);
}

int64_t electricity_hour(int year, int month, int day, int hour) {
  DRU_CHECK(year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= days_in_month(year, month) && hour >= 0 &&
                hour <= 23,
            "electricity_hour: {:04}-{:02}-{:02} {:02}:00 is not a valid time", year, month, day, hour);
  return days_from_origin(year, month, day) * 24 + hour;
}

CivilTime electricity_civil(int64_t hour) {
  Civil c = civil_from_day(electricity_day(hour));
  return {c.year, c.month, c.day, electricity_hour_of_day(hour)};
}

std::string electricity_time(int64_t hour) {
  CivilTime c = electricity_civil(hour);
  return fmt::format("{:04}-{:02}-{:02}T{:02}", c.year, c.month, c.day, c.hour);
}

int electricity_hour_of_day(int64_t hour) { return int(hour - electricity_day(hour) * 24); }

int electricity_day_of_week(int64_t hour) {
  int64_t d = electricity_day(hour) + 5;  // day 0, 2011-01-01, was a Saturday (Monday 0)
  return int(((d % 7) + 7) % 7);
}

}  // namespace dru
