// test_data_electricity.cpp — the electricity readers (UCI 15-minute file, hourly csv), the calendar, the
// paper's window and split, per-customer standardisation, the active-range and daylight-saving rules,
// window counts (derived here independently from the rules in data/electricity.h) and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "data/electricity.h"
#include "engine/check.h"
#include "tests/temp_dir.h"
#include "tests/util.h"

using namespace dru;
using dru::test::error_of;
using dru::test::read_file;
using dru::test::write_file;

namespace {

using dru::test::TempDir;

const std::string kShipped = DRU_SOURCE_DIR "/data/electricity/ld2011_2014_mt001-010_hourly.csv";
const std::string kShared = DRU_SOURCE_DIR "/../shared/data/electricity/ld2011_2014_mt001-010_hourly.csv";

// Windows of `span` hours, starting every `stride` hours from the first hour of [a, b) ∩ [act_a, act_b),
// counted by trying every start hour and keeping those whose hours all lie in both ranges.
int64_t brute_force_windows(int64_t a, int64_t b, int64_t act_a, int64_t act_b, int64_t span, int64_t stride) {
  int64_t lo = std::max(a, act_a), n = 0;
  for (int64_t s = a; s < b; ++s) {
    bool inside = s >= a && s + span <= b && s >= act_a && s + span <= act_b;
    if (inside && (s - lo) % stride == 0) ++n;
  }
  return n;
}

// An hourly csv starting 2014-01-01 00:00 (day 1096) with the given columns.
std::string hourly_csv(const std::vector<std::string>& names, const std::vector<std::vector<double>>& cols) {
  std::string s = "date";
  for (auto& n : names) s += "," + n;
  s += "\n";
  int64_t h0 = electricity_hour(2014, 1, 1, 0);
  for (size_t r = 0; r < cols[0].size(); ++r) {
    std::string t = electricity_time(h0 + int64_t(r));  // "2014-01-01T05"
    s += t.substr(0, 10) + " " + t.substr(11, 2) + ":00:00";
    for (auto& c : cols) s += fmt::format(",{}", c[r]);
    s += "\n";
  }
  return s;
}

}  // namespace

TEST_CASE("electricity: calendar on the hour scale") {
  CHECK(electricity_hour(2011, 1, 1, 0) == 0);
  CHECK(electricity_hour(2014, 1, 1, 0) == 1096 * 24);  // 365 + 366 (2012) + 365 days
  CHECK(electricity_day(electricity_hour(2014, 9, 7, 23)) == 1345);
  CHECK(electricity_day(electricity_hour(2014, 8, 8, 0)) == 1315);  // first day after training
  CHECK(electricity_day(-1) == -1);
  CHECK(electricity_time(-1) == "2010-12-31T23");
  CHECK(electricity_time(electricity_hour(2012, 2, 29, 13)) == "2012-02-29T13");
  CHECK(electricity_time(electricity_hour(2015, 1, 1, 0)) == "2015-01-01T00");
  CHECK(electricity_day_of_week(0) == 5);                                 // 2011-01-01, a Saturday
  CHECK(electricity_day_of_week(electricity_hour(2014, 1, 1, 7)) == 2);   // a Wednesday
  CHECK(electricity_day_of_week(electricity_hour(2014, 3, 30, 1)) == 6);  // a Sunday
  CHECK(electricity_hour_of_day(electricity_hour(2014, 3, 30, 1)) == 1);
  // Every hour of four years round-trips through its text.
  for (int64_t h = -48; h < 4 * 8784; h += 7) {
    std::string t = electricity_time(h);
    int64_t back = electricity_hour(std::stoi(t.substr(0, 4)), std::stoi(t.substr(5, 2)), std::stoi(t.substr(8, 2)),
                                    std::stoi(t.substr(11, 2)));
    REQUIRE(back == h);
  }
  CHECK_THROWS_AS(electricity_hour(2014, 2, 29, 0), Error);
}

TEST_CASE("electricity: the shipped hourly csv loads from the repository copy") {
  HourlyLoad l = read_electricity(kShipped);
  REQUIRE(l.customers.size() == 10);
  CHECK(l.customers.front() == "MT_001");
  CHECK(l.customers.back() == "MT_010");
  CHECK(l.hours == 6000);
  CHECK(l.first_hour == electricity_hour(2014, 1, 1, 0));
  CHECK(electricity_time(l.first_hour + l.hours - 1) == "2014-09-07T23");
  CHECK(l.at(0, 0) == doctest::Approx(2.53807106598985).epsilon(1e-15));
  CHECK(l.at(5999, 9) == doctest::Approx(49.7311827956989).epsilon(1e-15));
  // The paper's window [1096, 1346) is exactly this file; every split boundary falls inside it.
  ElectricityDays d;
  for (int64_t day : {d.begin, d.train_end, d.val_begin, d.val_end, d.test_begin})
    CHECK((day * 24 >= l.first_hour && day * 24 < l.first_hour + l.hours));
  CHECK(d.end * 24 == l.first_hour + l.hours);
  if (std::filesystem::exists(kShared)) CHECK(read_file(kShipped) == read_file(kShared));
}

TEST_CASE("electricity: window counts per split on the shipped data") {
  ElectricityOptions opt;
  opt.path = kShipped;
  ElectricityScaler sc;
  DataSet ds = load_electricity(opt, &sc);
  // Every customer of the shipped file is active all through 2014 (checked below), so a split of D days
  // holds D * 24 - (168 + 24) + 1 windows per customer at stride 1.
  HourlyLoad l = read_electricity(kShipped);
  for (int64_t c = 0; c < 10; ++c) {
    CHECK(sc.active_begin[size_t(c)] == l.first_hour);
    CHECK(sc.active_end[size_t(c)] == l.first_hour + l.hours);
  }
  const ElectricityDays d;
  auto expected = [&](int64_t days) { return 10 * (days * 24 - 192 + 1); };
  CHECK(ds.train.size() == expected(d.train_end - d.begin));
  CHECK(ds.val.size() == expected(d.val_end - d.val_begin));
  CHECK(ds.test.size() == expected(d.end - d.test_begin));
  CHECK(ds.train.size() == 50650);  // 219 days
  CHECK(ds.val.size() == 5530);     // 31 days
  CHECK(ds.test.size() == 1450);    // 14 days
  MESSAGE("electricity windows train " << ds.train.size() << " val " << ds.val.size() << " test " << ds.test.size());
  CHECK(ds.train.x.shape() == Shape{50650, 168, 3});
  CHECK(ds.train.x2.shape() == Shape{50650});
  CHECK(ds.train.y.shape() == Shape{50650, 24});
  CHECK(ds.train.key.front() == "MT_001@2014-01-08T00");
  CHECK(ds.train.key.back() == "MT_010@2014-08-07T00");  // its last target hour is 2014-08-07 23:00
  CHECK(ds.val.key.front() == "MT_001@2014-08-08T00");   // the first hour after training
  CHECK(ds.test.key.front() == "MT_001@2014-09-01T00");  // the first hour after validation
  CHECK(ds.test.key.back() == "MT_010@2014-09-07T00");
  CHECK(ds.test.group.back() == "MT_010");
  CHECK(ds.test.x2.data<int64_t>()[1449] == 9);

  // The first window: 2014-01-01 00:00 (a Wednesday) onwards for MT_001.
  const float* x = ds.train.x.data<float>();
  CHECK(x[0] == doctest::Approx((l.at(0, 0) - sc.mean[0]) / sc.sd[0]).epsilon(1e-6));
  CHECK(x[1] == 0.0f);
  CHECK(x[2] == doctest::Approx(2.0 / 6));
  CHECK(x[5 * 3 + 1] == doctest::Approx(5.0 / 23));
  CHECK(x[30 * 3 + 2] == doctest::Approx(3.0 / 6));  // 2014-01-02 06:00, a Thursday
  const float* y = ds.train.y.data<float>();
  double sum = 0;
  for (int h = 0; h < 24; ++h) {
    CHECK(y[h] == doctest::Approx((l.at(168 + h, 0) - sc.mean[0]) / sc.sd[0]).epsilon(1e-6));
    sum += l.at(168 + h, 0);
  }
  CHECK(ds.train.label[0] == doctest::Approx(sum / 24));

  // A stride of 24 hours: floor((L - 192) / 24) + 1 per customer.
  opt.stride = 24;
  DataSet daily = load_electricity(opt);
  CHECK(daily.train.size() == 10 * ((219 * 24 - 192) / 24 + 1));
  CHECK(daily.val.size() == 10 * ((31 * 24 - 192) / 24 + 1));
  CHECK(daily.test.size() == 10 * ((14 * 24 - 192) / 24 + 1));
  // A customer subset, in the order asked: ids follow that order.
  opt.stride = 1;
  opt.customers = {"MT_007", "MT_003"};
  DataSet two = load_electricity(opt, &sc);
  CHECK(sc.customers == std::vector<std::string>{"MT_007", "MT_003"});
  CHECK(two.train.size() == 2 * 5065);
  CHECK(two.train.group.front() == "MT_007");
  CHECK(two.train.x2.data<int64_t>()[5065] == 1);
  CHECK(two.train.group[5065] == "MT_003");
}

TEST_CASE("electricity: standardisation is fitted on the training days only") {
  HourlyLoad l = read_electricity(kShipped);
  ElectricityOptions opt;
  ElectricityScaler sc;
  DataSet ds = electricity_dataset(l, opt, &sc);
  const int64_t train_hours = (1315 - 1096) * 24;
  for (int64_t c = 0; c < 10; ++c) {
    double m = 0, v = 0, m_all = 0;
    for (int64_t r = 0; r < train_hours; ++r) m += l.at(r, c);
    m /= double(train_hours);
    for (int64_t r = 0; r < train_hours; ++r) v += (l.at(r, c) - m) * (l.at(r, c) - m);
    for (int64_t r = 0; r < l.hours; ++r) m_all += l.at(r, c);
    m_all /= double(l.hours);
    CHECK(sc.mean[size_t(c)] == doctest::Approx(m).epsilon(1e-12));
    CHECK(sc.sd[size_t(c)] == doctest::Approx(std::sqrt(v / double(train_hours))).epsilon(1e-12));
    CHECK(std::fabs(m_all - m) > 1e-6);  // the whole series would give another mean
  }
  // MT_001's training series rebuilt from its windows (each window's first input hour, then the last
  // window's inputs and targets) has mean 0 and sd 1: the scaler saw exactly the training hours.
  const float* x = ds.train.x.data<float>();
  const float* y = ds.train.y.data<float>();
  std::vector<double> z;
  for (int64_t i = 0; i < 5064; ++i) z.push_back(x[i * 168 * 3]);
  for (int64_t t = 0; t < 168; ++t) z.push_back(x[(5064 * 168 + t) * 3]);
  for (int64_t h = 0; h < 24; ++h) z.push_back(y[5064 * 24 + h]);
  REQUIRE(int64_t(z.size()) == train_hours);
  double s = 0, sq = 0;
  for (double v : z) s += v;
  for (double v : z) sq += (v - s / double(z.size())) * (v - s / double(z.size()));
  CHECK(std::fabs(s / double(z.size())) < 1e-5);
  CHECK(std::fabs(std::sqrt(sq / double(z.size())) - 1) < 1e-5);
}

TEST_CASE("electricity: the daylight-saving zero hour is kept as in the paper or filled on request") {
  HourlyLoad l = read_electricity(kShipped);
  const int64_t row = electricity_hour(2014, 3, 30, 1) - l.first_hour;
  for (int64_t c = 0; c < 10; ++c) REQUIRE(l.at(row, c) == 0.0);
  // The training window of MT_002 whose first input hour is that hour.
  const int64_t w = 1 * 5065 + row;
  ElectricityOptions opt;
  ElectricityScaler sc;
  DataSet kept = electricity_dataset(l, opt, &sc);
  REQUIRE(kept.train.group[size_t(w)] == "MT_002");
  CHECK(kept.train.x.data<float>()[w * 168 * 3] == doctest::Approx((0 - sc.mean[1]) / sc.sd[1]).epsilon(1e-6));
  CHECK(sc.active_begin[1] == l.first_hour);  // the zero hour neither ends nor starts an active range
  CHECK(sc.active_end[1] == l.first_hour + l.hours);

  opt.fill_dst_gap = true;
  ElectricityScaler filled_sc;
  DataSet filled = electricity_dataset(l, opt, &filled_sc);
  double between = 0.5 * (l.at(row - 1, 1) + l.at(row + 1, 1));
  CHECK(filled.train.x.data<float>()[w * 168 * 3] ==
        doctest::Approx((between - filled_sc.mean[1]) / filled_sc.sd[1]).epsilon(1e-6));
  CHECK(filled_sc.mean[1] > sc.mean[1]);
  // Only that hour changes: the next input hour is the same kW in both.
  CHECK(kept.train.x.data<float>()[w * 168 * 3 + 3] * sc.sd[1] + sc.mean[1] ==
        doctest::Approx(filled.train.x.data<float>()[w * 168 * 3 + 3] * filled_sc.sd[1] + filled_sc.mean[1]).epsilon(1e-5));
  CHECK(kept.train.size() == filled.train.size());
}

TEST_CASE("electricity: zeros before connection are outside the windows and a constant series gets sd 1") {
  // 8 days from 2014-01-01 (day 1096); splits train [1096, 1100), val [1099, 1102), test [1101, 1104).
  // C is constant over the training days (hours 0 .. 95) and varies after them.
  const int64_t hours = 8 * 24;
  std::vector<double> a(hours), b(hours), c(hours, 5.0);
  for (int64_t r = 0; r < hours; ++r) {
    if (r >= 96) c[size_t(r)] = 5.0 + double(r % 3);
    a[size_t(r)] = 1 + r % 24 + (r == 50 ? -1.0 - r % 24 : 0.0);  // one zero inside the range stays
    b[size_t(r)] = r < 30 || r >= hours - 5 ? 0.0 : 2.0 + 0.5 * (r % 7);  // connected at hour 30, off 5 h early
  }
  TempDir dir("elec_active");
  std::string path = dir.file("tiny.csv");
  write_file(path, hourly_csv({"A", "B", "C"}, {a, b, c}));
  ElectricityOptions opt;
  opt.path = path;
  opt.history = 12;
  opt.horizon = 4;
  opt.days = {1096, 1104, 1100, 1099, 1102, 1101};
  for (int64_t stride : {1, 5}) {
    opt.stride = stride;
    ElectricityScaler sc;
    DataSet ds = load_electricity(opt, &sc);
    const int64_t h0 = electricity_hour(2014, 1, 1, 0);
    CHECK(sc.active_begin == std::vector<int64_t>{h0, h0 + 30, h0});
    CHECK(sc.active_end == std::vector<int64_t>{h0 + hours, h0 + hours - 5, h0 + hours});
    struct { Samples* s; int64_t a, b; } splits[] = {{&ds.train, 1096, 1100}, {&ds.val, 1099, 1102},
                                                      {&ds.test, 1101, 1104}};
    for (auto& sp : splits) {
      int64_t want = 0;
      for (size_t k = 0; k < 3; ++k)
        want += brute_force_windows(sp.a * 24, sp.b * 24, sc.active_begin[k], sc.active_end[k], 16, stride);
      CHECK(sp.s->size() == want);
      // No window of B touches its zeros.
      for (int64_t i = 0; i < sp.s->size(); ++i) {
        if (sp.s->group[size_t(i)] != "B") continue;
        for (int64_t t = 0; t < 12; ++t)
          CHECK(sp.s->x.data<float>()[(i * 12 + t) * 3] * sc.sd[1] + sc.mean[1] > 1.0);
      }
    }
    // B's statistics come from its active training hours 30 .. 95 only.
    double m = 0;
    for (int64_t r = 30; r < 96; ++r) m += b[size_t(r)];
    CHECK(sc.mean[1] == doctest::Approx(m / 66));
    // C's training hours are constant: sd 1, so its training inputs are 0 and never NaN.
    CHECK(sc.mean[2] == doctest::Approx(5.0));
    CHECK(sc.sd[2] == 1.0);
    for (int64_t i = 0; i < ds.train.size(); ++i)
      if (ds.train.group[size_t(i)] == "C") CHECK(ds.train.x.data<float>()[i * 36] == 0.0f);
  }
  // Stride 1 by hand for B's training split: active [30, 96) holds 66 - 16 + 1 windows.
  opt.stride = 1;
  opt.customers = {"B"};
  CHECK(load_electricity(opt).train.size() == 51);
}

TEST_CASE("electricity: a UCI-format file averages its 15-minute readings per hour") {
  TempDir dir("elec_uci");
  std::string path = dir.file("LD2011_2014.txt");
  // pandas' resample('1h').mean(): hour hh takes hh:00 .. hh:45, so 01:00 opens hour 1.
  std::string text =
      "\"\";\"MT_001\";\"MT_002\"\n"
      "\"2011-01-01 00:15:00\";1,5;0\n"
      "\"2011-01-01 00:30:00\";2,5;0\n"
      "\"2011-01-01 00:45:00\";3,5;4\n"
      "\"2011-01-01 01:00:00\";10;1,25\n"
      "\"2011-01-01 01:15:00\";20;1,75\n"
      "\"2011-01-01 01:30:00\";30;2\n"
      "\"2011-01-01 01:45:00\";40;3\n"
      "\"2011-01-01 02:00:00\";7,75;8\n";
  for (bool crlf : {false, true}) {
    std::string t = text;
    if (crlf)
      for (size_t p = t.find('\n'); p != std::string::npos; p = t.find('\n', p + 2)) t.replace(p, 1, "\r\n");
    write_file(path, t);
    HourlyLoad l = read_electricity(path);
    REQUIRE(l.customers == std::vector<std::string>{"MT_001", "MT_002"});
    REQUIRE(l.hours == 3);
    CHECK(l.first_hour == 0);
    CHECK(l.at(0, 0) == doctest::Approx(2.5));
    CHECK(l.at(0, 1) == doctest::Approx(4.0 / 3));
    CHECK(l.at(1, 0) == doctest::Approx(25.0));
    CHECK(l.at(1, 1) == doctest::Approx(2.0));
    CHECK(l.at(2, 0) == doctest::Approx(7.75));
    CHECK(l.at(2, 1) == doctest::Approx(8.0));
  }
}

TEST_CASE("electricity: the same seed gives the same capped windows") {
  ElectricityOptions opt;
  opt.path = kShipped;
  opt.max_train = 1000;
  opt.max_val = 200;
  opt.seed = 7;
  DataSet a = load_electricity(opt), b = load_electricity(opt);
  CHECK(a.train.size() == 1000);
  CHECK(a.val.size() == 200);
  CHECK(a.test.size() == 1450);  // no cap on test
  CHECK(a.train.key == b.train.key);
  CHECK(a.val.key == b.val.key);
  CHECK(a.train.x.to_vector() == b.train.x.to_vector());
  CHECK(a.train.y.to_vector() == b.train.y.to_vector());
  opt.seed = 8;
  DataSet c = load_electricity(opt);
  CHECK(c.train.key != a.train.key);
  // The subset keeps file order: customer, then time.
  for (int64_t i = 1; i < a.train.size(); ++i) {
    const std::string &p = a.train.key[size_t(i - 1)], &q = a.train.key[size_t(i)];
    REQUIRE(p < q);
  }
  // A cap above the count keeps everything.
  opt.max_train = 60000;
  CHECK(load_electricity(opt).train.size() == 50650);
}

TEST_CASE("electricity: bad input gives one clear error naming the file and line") {
  TempDir dir("elec_bad");
  auto err = [&](const std::string& name, const std::string& text) {
    std::string path = dir.file(name);
    write_file(path, text);
    return error_of([&] { read_electricity(path); });
  };
  const std::string uci_head = "\"\";\"MT_001\";\"MT_002\"\n";
  const std::string csv_head = "date,MT_001,MT_002\n";
  CHECK_THROWS_WITH_AS(read_electricity(dir.file("absent.txt")), doctest::Contains("cannot open"), Error);
  CHECK(err("empty.txt", "").find("empty.txt: the file is empty") != std::string::npos);
  CHECK(err("blank.txt", "\n \n").find("the file is empty") != std::string::npos);
  CHECK(err("header.txt", uci_head).find("header.txt: no data rows") != std::string::npos);
  CHECK(err("nosep.txt", "just words\n").find("nosep.txt:1: the header has neither") != std::string::npos);
  CHECK(err("fields.txt", uci_head + "\"2011-01-01 00:15:00\";1;2\n\"2011-01-01 00:30:00\";1\n")
            .find("fields.txt:3: 2 fields, the header has 3") != std::string::npos);
  CHECK(err("number.txt", uci_head + "\"2011-01-01 00:15:00\";1;2\n\"2011-01-01 00:30:00\";1,2,3;2\n")
            .find("number.txt:3: customer MT_001 reads '1,2,3'") != std::string::npos);
  CHECK(err("word.csv", csv_head + "2014-01-01 00:00:00,1,abc\n").find("word.csv:2: customer MT_002 reads 'abc'") !=
        std::string::npos);
  CHECK(err("nan.csv", csv_head + "2014-01-01 00:00:00,1,nan\n").find("nan.csv:2: customer MT_002") !=
        std::string::npos);
  CHECK(err("negative.csv", csv_head + "2014-01-01 00:00:00,1,-2\n").find("negative.csv:2: customer MT_002 reads -2: "
                                                                          "a load in kW cannot be negative") !=
        std::string::npos);
  CHECK(err("date.csv", csv_head + "2014-02-30 00:00:00,1,2\n").find("date.csv:2: '2014-02-30 00:00:00' is not a "
                                                                     "timestamp") != std::string::npos);
  CHECK(err("order.txt", uci_head + "\"2011-01-01 00:30:00\";1;2\n\"2011-01-01 00:15:00\";1;2\n")
            .find("order.txt:3: 2011-01-01 00:15:00 does not come after the previous row's 2011-01-01 00:30:00") !=
        std::string::npos);
  CHECK(err("repeat.csv", csv_head + "2014-01-01 00:00:00,1,2\n2014-01-01 00:00:00,1,2\n")
            .find("repeat.csv:3:") != std::string::npos);
  CHECK(err("gap.csv", csv_head + "2014-01-01 00:00:00,1,2\n2014-01-01 02:00:00,1,2\n")
            .find("gap.csv:3: 2014-01-01 02:00:00 follows 2014-01-01 00:00:00: the hours between") != std::string::npos);
  CHECK(err("quarter.csv", csv_head + "2014-01-01 00:15:00,1,2\n").find("quarter.csv:2: 2014-01-01 00:15:00 is not "
                                                                        "on the hour") != std::string::npos);
  CHECK(err("dup.csv", "date,A,A\n").find("dup.csv:1: customer 'A' appears twice") != std::string::npos);
  CHECK(err("one.csv", "date,\n").find("one.csv:1: header column 2 has no name") != std::string::npos);

  // Data-set level: a file that does not cover the paper's window, an unknown customer, an empty split.
  std::string tiny = dir.file("tiny.csv");
  std::vector<double> varying(48);
  for (size_t r = 0; r < varying.size(); ++r) varying[r] = 1.0 + double(r % 5);
  write_file(tiny, hourly_csv({"A"}, {varying}));
  ElectricityOptions opt;
  opt.path = tiny;
  CHECK_THROWS_WITH_AS(load_electricity(opt), doctest::Contains("the file covers 2014-01-01T00 to 2014-01-02T23, but "
                                                                "the window needs days 1096..1345"), Error);
  opt.days = {1096, 1098, 1097, 1096, 1098, 1097};
  opt.history = 12;
  opt.horizon = 4;
  CHECK(load_electricity(opt).train.size() == 24 - 16 + 1);
  opt.customers = {"MT_404"};
  CHECK_THROWS_WITH_AS(load_electricity(opt), doctest::Contains("no customer 'MT_404'"), Error);
  opt.customers = {};
  opt.history = 30;
  CHECK_THROWS_WITH_AS(load_electricity(opt), doctest::Contains("the train split (2014-01-01T00 to 2014-01-01T23) "
                                                                "has no window of 30 + 4 hours"), Error);
  opt.history = 12;
  opt.days.train_end = 1099;
  CHECK_THROWS_WITH_AS(load_electricity(opt), doctest::Contains("split days are out of order"), Error);
  opt.path = "";
  CHECK_THROWS_WITH_AS(load_electricity(opt), doctest::Contains("no data file given"), Error);
}

TEST_CASE("electricity: absurd readings, a customer of constant zeros and a folder are refused") {
  TempDir dir("elec_implausible");
  // 1e300 kW is finite, but its square overflows the standardisation: refused at its line.
  const std::string csv_head = "date,MT_001,MT_002\n";
  write_file(dir.file("huge.csv"), csv_head + "2014-01-01 00:00:00,1,2\n2014-01-01 01:00:00,1e300,2\n");
  CHECK(error_of([&] { read_electricity(dir.file("huge.csv")); })
            .find(dir.file("huge.csv") + ":3: customer MT_001 reads 1e300: not a plausible load in kW (above 1e+12); "
                                         "fix the reading") == 0);
  write_file(dir.file("big.csv"), csv_head + "2014-01-01 00:00:00,1,1e12\n");
  CHECK(read_electricity(dir.file("big.csv")).at(0, 1) == 1e12);  // the bound itself still reads
  // A customer constant over its whole active range would be all zeros once standardised: refused; one
  // that is constant over the training days only is not (its other days are not zero).
  std::vector<double> a(48), flat(48, 3.5);
  for (size_t r = 0; r < a.size(); ++r) a[r] = 1.0 + double(r % 5);
  write_file(dir.file("flat.csv"), hourly_csv({"A", "FLAT"}, {a, flat}));
  ElectricityOptions opt;
  opt.path = dir.file("flat.csv");
  opt.days = {1096, 1098, 1097, 1096, 1098, 1097};
  opt.history = 12;
  opt.horizon = 4;
  CHECK(error_of([&] { load_electricity(opt); })
            .find(opt.path + ": customer FLAT reads a constant 3.5 kW over its whole active range, so every window of "
                             "it is zeros after standardisation: the model could learn nothing of it; drop its column "
                             "or give its real readings") == 0);
  for (size_t r = 24; r < flat.size(); ++r) flat[r] = 3.5 + double(r % 2);
  write_file(dir.file("flat.csv"), hourly_csv({"A", "FLAT"}, {a, flat}));
  CHECK(load_electricity(opt).train.size() == 2 * (24 - 16 + 1));
  // A folder is said to be one (a folder opens as a stream that reads nothing: "the file is empty").
  CHECK(error_of([&] { read_electricity(dir.str()); })
            .find(dir.str() + ": is a folder; give the load file inside it: UCI's LD2011_2014.txt or an hourly csv "
                              "(e.g. data/electricity/ld2011_2014_mt001-010_hourly.csv)") == 0);
}
