// electricity_windows.cpp — the paper's date window, split, per-customer standardisation and the
// 168 + 24 hour forecasting windows (the rules are in electricity.h).
#include <algorithm>
#include <cmath>

#include "data/electricity.h"
#include "engine/check.h"
#include "engine/rng.h"

namespace dru {

namespace {

struct Range {  // hours since 2011-01-01, [a, b)
  int64_t a = 0, b = 0;
  Range clip(const Range& o) const { return {std::max(a, o.a), std::max(std::max(a, o.a), std::min(b, o.b))}; }
  int64_t size() const { return b - a; }
};

struct Window {
  int64_t customer;  // index into the selected customers
  int64_t start;     // first input hour, hours since 2011-01-01
};

std::string day_text(int64_t day) { return electricity_time(day * 24).substr(0, 10); }

void check_options(const ElectricityOptions& opt) {
  const ElectricityDays& d = opt.days;
  DRU_CHECK(opt.history >= 1 && opt.horizon >= 1 && opt.stride >= 1,
            "electricity: history ({}), horizon ({}) and stride ({}) must be at least 1", opt.history, opt.horizon,
            opt.stride);
  DRU_CHECK(opt.max_train >= 0 && opt.max_val >= 0 && opt.max_test >= 0,
            "electricity: window caps must be >= 0 (0 keeps every window)");
  DRU_CHECK(d.begin < d.train_end && d.train_end <= d.end && d.begin <= d.val_begin && d.val_begin < d.val_end &&
                d.val_end <= d.end && d.begin <= d.test_begin && d.test_begin < d.end,
            "electricity: the split days are out of order (window [{}, {}), train to {}, validation [{}, {}), test "
            "from {}): each split must be a non-empty part of the window",
            d.begin, d.end, d.train_end, d.val_begin, d.val_end, d.test_begin);
}

std::vector<int64_t> select_columns(const HourlyLoad& load, const std::vector<std::string>& wanted) {
  std::vector<int64_t> cols;
  if (wanted.empty()) {
    for (size_t c = 0; c < load.customers.size(); ++c) cols.push_back(int64_t(c));
    return cols;
  }
  for (const std::string& w : wanted) {
    auto it = std::find(load.customers.begin(), load.customers.end(), w);
    DRU_CHECK(it != load.customers.end(), "{}: no customer '{}' (the file has {} customers, {} … {})", load.source,
              w, load.customers.size(), load.customers.front(), load.customers.back());
    int64_t c = int64_t(it - load.customers.begin());
    DRU_CHECK(std::find(cols.begin(), cols.end(), c) == cols.end(), "electricity: customer '{}' is asked for twice",
              w);
    cols.push_back(c);
  }
  return cols;
}

// The March daylight-saving hour: 01:00 on the last Sunday of March, read as 0 by every customer.
bool is_dst_gap(const HourlyLoad& load, int64_t row) {
  int64_t h = load.first_hour + row;
  CivilTime t = electricity_civil(h);
  if (t.month != 3 || t.hour != 1 || t.day + 7 <= 31 || electricity_day_of_week(h) != 6) return false;
  for (size_t c = 0; c < load.customers.size(); ++c)
    if (load.at(row, int64_t(c)) != 0) return false;
  return true;
}

std::vector<Window> make_windows(const std::vector<Range>& active, const Range& split, int64_t span, int64_t stride) {
  std::vector<Window> w;
  for (size_t c = 0; c < active.size(); ++c) {
    Range r = active[c].clip(split);
    for (int64_t s = r.a; s + span <= r.b; s += stride) w.push_back({int64_t(c), s});
  }
  return w;
}

// Keeps `cap` windows chosen by a seeded permutation, in their original order.
void cap_windows(std::vector<Window>& w, int64_t cap, uint64_t seed, uint64_t stream) {
  if (cap <= 0 || int64_t(w.size()) <= cap) return;
  Generator gen(seed, stream << 40);  // one stream per split: a change to one cap leaves the others alone
  std::vector<int64_t> p = gen.permutation(int64_t(w.size()));
  p.resize(size_t(cap));
  std::sort(p.begin(), p.end());
  std::vector<Window> kept;
  kept.reserve(size_t(cap));
  for (int64_t i : p) kept.push_back(w[size_t(i)]);
  w = std::move(kept);
}

}  // namespace

DataSet electricity_dataset(const HourlyLoad& load, const ElectricityOptions& opt, ElectricityScaler* scaler) {
  check_options(opt);
  const ElectricityDays& d = opt.days;
  DRU_CHECK(!load.customers.empty() && load.hours > 0, "{}: no load data", load.source);
  const Range file{load.first_hour, load.first_hour + load.hours};
  DRU_CHECK(file.a <= d.begin * 24 && file.b >= d.end * 24,
            "{}: the file covers {} to {}, but the window needs days {}..{} ({} to {}T23): give a file that covers "
            "it, or set other days",
            load.source, electricity_time(file.a), electricity_time(file.b - 1), d.begin, d.end - 1,
            day_text(d.begin), day_text(d.end - 1));

  const std::vector<int64_t> cols = select_columns(load, opt.customers);
  const int64_t nc = int64_t(cols.size()), T = opt.history, H = opt.horizon;

  // Per customer: the series (hours of the file), its active range and its training statistics.
  std::vector<std::vector<double>> series(size_t(nc), std::vector<double>(size_t(load.hours)));
  for (int64_t r = 0; r < load.hours; ++r) {
    bool fill = opt.fill_dst_gap && r > 0 && r + 1 < load.hours && is_dst_gap(load, r);
    for (int64_t c = 0; c < nc; ++c)
      series[size_t(c)][size_t(r)] =
          fill ? 0.5 * (load.at(r - 1, cols[size_t(c)]) + load.at(r + 1, cols[size_t(c)])) : load.at(r, cols[size_t(c)]);
  }
  ElectricityScaler st;
  std::vector<Range> active(static_cast<size_t>(nc));
  const Range train{d.begin * 24, d.train_end * 24}, val{d.val_begin * 24, d.val_end * 24},
      test{d.test_begin * 24, d.end * 24};
  for (int64_t c = 0; c < nc; ++c) {
    const std::vector<double>& s = series[size_t(c)];
    auto nz = [](double v) { return v != 0; };
    auto first = std::find_if(s.begin(), s.end(), nz);
    Range a{file.a, file.a};
    if (first != s.end()) {
      auto last = std::find_if(s.rbegin(), s.rend(), nz);
      a = {file.a + (first - s.begin()), file.a + int64_t(s.rend() - last)};
    }
    active[size_t(c)] = a;
    Range fit = a.clip(train);
    double mean = 0, sd = 1;
    if (fit.size() > 0) {
      double sum = 0, sq = 0;
      for (int64_t h = fit.a; h < fit.b; ++h) sum += s[size_t(h - file.a)];
      mean = sum / double(fit.size());
      for (int64_t h = fit.a; h < fit.b; ++h) sq += (s[size_t(h - file.a)] - mean) * (s[size_t(h - file.a)] - mean);
      sd = std::sqrt(sq / double(fit.size()));
      if (sd < 1e-9 * std::max(1.0, std::fabs(mean))) sd = 1;  // a constant series: StandardScaler's rule
    }
    st.customers.push_back(load.customers[size_t(cols[size_t(c)])]);
    st.mean.push_back(mean);
    st.sd.push_back(sd);
    st.active_begin.push_back(a.a);
    st.active_end.push_back(a.b);
  }

  DataSet ds;
  ds.name = "electricity";
  ds.label_name = "load";
  const struct {
    const char* name;
    Range range;
    int64_t cap;
    Samples* out;
  } splits[] = {{"train", train, opt.max_train, &ds.train}, {"val", val, opt.max_val, &ds.val},
                {"test", test, opt.max_test, &ds.test}};
  uint64_t stream = 0;
  // Per customer: whether it has a window, and whether any of its standardised values is not zero.
  std::vector<char> windowed(size_t(nc), 0), varies(size_t(nc), 0);
  for (const auto& sp : splits) {
    std::vector<Window> w = make_windows(active, sp.range, T + H, opt.stride);
    DRU_CHECK(!w.empty(), "{}: the {} split ({} to {}) has no window of {} + {} hours inside any customer's active "
              "range (customers: {} … {})", load.source, sp.name, electricity_time(sp.range.a),
              electricity_time(sp.range.b - 1), T, H, st.customers.front(), st.customers.back());
    cap_windows(w, sp.cap, opt.seed, stream++);
    const int64_t n = int64_t(w.size());
    Samples& s = *sp.out;
    s.x = Tensor::empty(Shape{n, T, 3});
    s.x2 = Tensor::empty(Shape{n}, DType::i64);
    s.y = Tensor::empty(Shape{n, H});
    s.label.resize(size_t(n));
    s.group.resize(size_t(n));
    s.key.resize(size_t(n));
    float* x = s.x.data<float>();
    float* y = s.y.data<float>();
    int64_t* x2 = s.x2.data<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      const Window& win = w[size_t(i)];
      const std::vector<double>& ser = series[size_t(win.customer)];
      const double mean = st.mean[size_t(win.customer)], sd = st.sd[size_t(win.customer)];
      const int64_t r0 = win.start - file.a;  // the window's first row in the series
      float* xi = x + i * T * 3;
      for (int64_t t = 0; t < T; ++t) {
        xi[t * 3 + 0] = float((ser[size_t(r0 + t)] - mean) / sd);
        xi[t * 3 + 1] = float(electricity_hour_of_day(win.start + t) / 23.0);
        xi[t * 3 + 2] = float(electricity_day_of_week(win.start + t) / 6.0);
      }
      double sum = 0;
      for (int64_t h = 0; h < H; ++h) {
        double v = ser[size_t(r0 + T + h)];
        y[i * H + h] = float((v - mean) / sd);
        sum += v;
      }
      windowed[size_t(win.customer)] = 1;
      if (!varies[size_t(win.customer)])
        for (int64_t k = 0; k < T * 3; k += 3) varies[size_t(win.customer)] |= xi[k] != 0;
      for (int64_t h = 0; h < H && !varies[size_t(win.customer)]; ++h) varies[size_t(win.customer)] |= y[i * H + h] != 0;
      x2[i] = win.customer;
      s.label[size_t(i)] = sum / double(H);
      s.group[size_t(i)] = st.customers[size_t(win.customer)];
      s.key[size_t(i)] = st.customers[size_t(win.customer)] + "@" + electricity_time(win.start + T);
    }
  }
  // A constant series gets sd 1 (StandardScaler's rule), so its standardised values are all 0: refused
  // only when that holds for every window of the customer, inputs and targets, in every split.
  for (int64_t c = 0; c < nc; ++c)
    DRU_CHECK(!windowed[size_t(c)] || varies[size_t(c)],
              "{}: customer {} reads a constant {:g} kW over its whole active range, so every window of it is zeros "
              "after standardisation: the model could learn nothing of it; drop its column or give its real readings",
              load.source, st.customers[size_t(c)], st.mean[size_t(c)]);
  if (scaler) *scaler = std::move(st);
  return ds;
}

DataSet load_electricity(const ElectricityOptions& opt, ElectricityScaler* scaler) {
  DRU_CHECK(!opt.path.empty(), "electricity: no data file given (LD2011_2014.txt or an hourly csv)");
  return electricity_dataset(read_electricity(opt.path), opt, scaler);
}

}  // namespace dru
