// electricity.h — UCI ElectricityLoadDiagrams2011-2014: hourly load per customer, the paper's date window
// and split, per-customer standardisation, and forecasting windows.
//
// Two file formats, told apart by the first line (';' → UCI, ',' → hourly csv):
//   * LD2011_2014.txt as UCI distributes it: ';'-separated, a quoted header ("";"MT_001";…), a quoted
//     timestamp "2011-01-01 00:15:00" then one 15-minute kW reading per customer with a decimal comma
//     ("2,53807106598985"). Readings are averaged per clock hour as pandas' resample('1h').mean() does
//     (closed and labelled left): hour hh holds the readings stamped hh:00, hh:15, hh:30, hh:45. So the
//     file's first hour (2011-01-01 00:00) averages 3 readings (00:15, 00:30, 00:45) and its last reading,
//     2015-01-01 00:00, makes an hour of its own — exactly the frame the paper's (Google TFT) pipeline sees.
//   * An hourly csv (../shared/data/electricity, data/electricity): ','-separated, a header whose first
//     field names the time column ("date") and the rest the customers, then "2014-01-01 00:00:00,2.53,…"
//     with a decimal point. Every timestamp must be on the hour.
// Both must be in time order with no hour missing (one clear file:line error otherwise) and every reading a
// number of kW from 0 to 1e12. Time is counted in hours from 2011-01-01 00:00, the first hour of the UCI file and the
// origin of TFT's days_from_start; so 2014-01-01 is day 1096 (365 + 366 + 365 days later) in either format.
//
// The paper's pipeline (docs/paper.md §1.2), which load_electricity follows:
//   * Active range: a customer's hours from its first to its last non-zero reading, found over the whole
//     file (TFT: zeros → NaN, then first/last valid index). Hours outside it — the zeros before a customer
//     was connected — belong to none of its windows; zeros inside it are kept as 0 kW.
//   * Window: days [1096, 1346) = 2014-01-01 … 2014-09-07 (6,000 hours). The file must cover it.
//     Splits by day: train [1096, 1315), validation [1308, 1339), test [1332, 1346). Validation and test
//     start 7 days before the previous split ends, so their first windows' inputs (168 h) reach back into
//     it while every target hour stays in its own split (keys never repeat across splits).
//   * Standardisation per customer, fitted on its active hours in the training split: z = (kW − mean) / sd,
//     sd the population one (ddof 0) as sklearn's StandardScaler. A constant training series (sd below
//     1e-9 · max(1, |mean|)) gets sd = 1, as StandardScaler does; a customer with no active training hour
//     gets mean 0, sd 1 (it can still have validation or test windows). A customer whose windows would all
//     be zeros after standardisation (a constant reading over its whole active range) is refused, naming
//     it: the model could learn nothing of it, and forgetting it would measure nothing.
//   * Windows: history + horizon consecutive hours (168 + 24) inside one split and one customer's active
//     range, starting every `stride` hours from the range's first hour. Where a split has more windows than
//     its cap (TFT: 450,000 train, 50,000 validation), a seeded random subset is kept, in file order.
//   * The March daylight-saving hour: the UCI file reads 0 for every customer at 01:00 on the last Sunday
//     of March (2014-03-30 01:00 in the shipped file). The paper's pipeline keeps those zeros, and so does
//     the default; fill_dst_gap replaces each customer's value there by the mean of the hours either side.
//
// Each window becomes one sample:
//   x  (N, history, 3) f32: per hour the standardised load, hour of day / 23, day of week / 6 (Monday 0)
//   x2 (N) i64: the customer's index in ElectricityScaler::customers (the model's embedding row)
//   y  (N, horizon) f32: the standardised load of the target hours
//   label: the mean target load in kW (unstandardised), the value "load" forget rules test
//   group: the customer name ("MT_003"); key: customer@first target hour ("MT_003@2014-05-01T00")
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace dru {

// Hourly load, kW: rows are consecutive hours starting at first_hour (hours since 2011-01-01 00:00).
struct HourlyLoad {
  std::string source;                  // the file it came from (for messages)
  std::vector<std::string> customers;  // column names, "MT_001", …
  int64_t first_hour = 0;
  int64_t hours = 0;
  std::vector<double> kw;              // (hours, customers) row-major
  double at(int64_t row, int64_t customer) const { return kw[size_t(row * int64_t(customers.size()) + customer)]; }
};

// Readers. `name` is the file name used in messages ("name:line: …").
HourlyLoad read_electricity(const std::string& path);  // either format, from the first line
HourlyLoad parse_electricity(std::istream& in, const std::string& name);
HourlyLoad parse_uci_electricity(std::istream& in, const std::string& name);
HourlyLoad parse_hourly_electricity(std::istream& in, const std::string& name);

// Calendar helpers on the hour scale (origin 2011-01-01 00:00, a Saturday).
int64_t electricity_hour(int year, int month, int day, int hour);  // throws on an invalid date
std::string electricity_time(int64_t hour);  // "2014-05-01T00"
struct CivilTime {
  int64_t year;
  int month, day, hour;
};
CivilTime electricity_civil(int64_t hour);
int electricity_hour_of_day(int64_t hour);   // 0..23
int electricity_day_of_week(int64_t hour);   // Monday 0 … Sunday 6
inline int64_t electricity_day(int64_t hour) { return hour >= 0 ? hour / 24 : -((-hour + 23) / 24); }

struct ElectricityDays {  // days since 2011-01-01 (TFT's days_from_start); ranges are [begin, end)
  int64_t begin = 1096, end = 1346;
  int64_t train_end = 1315;
  int64_t val_begin = 1308, val_end = 1339;
  int64_t test_begin = 1332;  // test runs to `end`
};

struct ElectricityOptions {
  std::string path;                    // LD2011_2014.txt or an hourly csv (detected from the first line)
  std::vector<std::string> customers;  // keep these columns, in this order; empty: every column
  int64_t history = 168, horizon = 24;
  int64_t stride = 1;                  // hours between window starts, every split
  int64_t max_train = 450000, max_val = 50000, max_test = 0;  // caps per split (0: none), TFT's defaults
  uint64_t seed = 0;                   // picks the capped subsets
  bool fill_dst_gap = false;           // interpolate the March daylight-saving zero hour (paper: keep it)
  ElectricityDays days;
};

// What standardisation fitted, per customer, in the order of x2's ids.
struct ElectricityScaler {
  std::vector<std::string> customers;
  std::vector<double> mean, sd;                   // kW
  std::vector<int64_t> active_begin, active_end;  // hours [begin, end) since 2011-01-01; begin == end: never active
};

// Reads opt.path and builds the data set ("electricity", label "load"). Throws where a split has no window.
DataSet load_electricity(const ElectricityOptions& opt, ElectricityScaler* scaler = nullptr);
// The same from a matrix already read (opt.path unused).
DataSet electricity_dataset(const HourlyLoad& load, const ElectricityOptions& opt,
                            ElectricityScaler* scaler = nullptr);

}  // namespace dru
