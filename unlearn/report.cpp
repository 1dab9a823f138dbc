// report.cpp — see report.h.
#include "unlearn/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <fmt/ranges.h>

#include "engine/check.h"
#include "engine/checkpoint.h"

namespace dru {

nlohmann::json metrics_to_json(const ModelMetrics& m) {
  nlohmann::json j{{"method", m.method},
                   {"retain_loss", m.retain_loss},
                   {"forget_loss", m.forget_loss},
                   {"train_forget_loss", m.train_forget_loss},
                   {"wasserstein", m.w1},
                   {"rel_diff_median", m.rel_diff},
                   {"mia_forget", m.mia_forget},
                   {"mia_train", m.mia_train},
                   {"mia_test", m.mia_test},
                   {"attack", {{"per_class", m.mia_per_class},
                               {"balanced_accuracy", m.mia_accuracy},
                               {"ci95", {m.mia_accuracy_lo, m.mia_accuracy_hi}},
                               {"auc", m.mia_auc},
                               {"informative", m.mia_informative()}}},
                   {"seconds", m.seconds},
                   {"speedup", m.speedup}};
  if (m.has_ain)
    j["ain"] = {{"ain", m.ain},          {"steps", m.ain_steps},   {"gold_steps", m.ain_gold_steps},
                {"cap", m.ain_cap},      {"lr", m.ain_lr},         {"min_gold_steps", m.ain_min_gold},
                {"floor", m.ain_floor},  {"at_cap", m.ain_at_cap}};
  if (m.has_planted) j["planted_shift_kept"] = m.planted_kept;
  return j;
}

ModelMetrics metrics_from_json(const nlohmann::json& j) {
  ModelMetrics m;
  m.method = j.at("method").get<std::string>();
  m.retain_loss = j.at("retain_loss").get<double>();
  m.forget_loss = j.at("forget_loss").get<double>();
  m.train_forget_loss = j.at("train_forget_loss").get<double>();
  m.w1 = j.at("wasserstein").get<double>();
  m.rel_diff = j.at("rel_diff_median").get<double>();
  m.mia_forget = j.at("mia_forget").get<double>();
  m.mia_train = j.at("mia_train").get<double>();
  m.mia_test = j.at("mia_test").get<double>();
  const auto& a = j.at("attack");
  m.mia_per_class = a.at("per_class").get<int64_t>();
  m.mia_accuracy = a.at("balanced_accuracy").get<double>();
  m.mia_accuracy_lo = a.at("ci95").at(0).get<double>();
  m.mia_accuracy_hi = a.at("ci95").at(1).get<double>();
  m.mia_auc = a.at("auc").get<double>();
  m.seconds = j.at("seconds").get<double>();
  m.speedup = j.at("speedup").get<double>();
  if (j.contains("ain")) {
    const auto& a = j.at("ain");
    m.has_ain = true;
    m.ain = a.at("ain").get<double>();
    m.ain_steps = a.at("steps").get<int64_t>();
    m.ain_gold_steps = a.at("gold_steps").get<int64_t>();
    m.ain_cap = a.at("cap").get<int64_t>();
    m.ain_lr = a.at("lr").get<double>();
    m.ain_min_gold = a.at("min_gold_steps").get<int64_t>();
    m.ain_floor = a.at("floor").get<bool>();
    m.ain_at_cap = a.at("at_cap").get<bool>();
  }
  if (j.contains("planted_shift_kept")) {
    m.has_planted = true;
    m.planted_kept = j.at("planted_shift_kept").get<double>();
  }
  return m;
}

namespace {

// Method names in first-seen order over all seeds, with each seed's row of that name.
using Rows = std::vector<const ModelMetrics*>;
std::vector<std::pair<std::string, Rows>> by_method(const ResultSet& r) {
  std::vector<std::pair<std::string, Rows>> out;
  for (const auto& s : r.seeds)
    for (const auto& m : s.rows) {
      auto it = std::find_if(out.begin(), out.end(), [&](auto& p) { return p.first == m.method; });
      if (it == out.end()) {
        out.push_back({m.method, {}});
        it = out.end() - 1;
      }
      it->second.push_back(&m);
    }
  return out;
}

template <class F> std::vector<double> values(const Rows& rows, F f) {
  std::vector<double> v;
  for (auto* m : rows) v.push_back(double(f(*m)));
  return v;
}

template <class F> int64_t count_if(const Rows& rows, F f) {
  return std::count_if(rows.begin(), rows.end(), [&](const ModelMetrics* m) { return bool(f(*m)); });
}

nlohmann::json summary_of(const std::vector<double>& v) {
  const MeanSd m = mean_sd(v);
  const Interval ci = t_interval(v);
  return {{"mean", m.mean}, {"sd", m.sd}, {"n", m.n}, {"ci95", {ci.lo, ci.hi}}};
}

// The rows of the Retrain model, one per seed, by seed (for paired differences).
const ModelMetrics* retrain_row(const SeedResult& s) {
  for (const auto& m : s.rows)
    if (m.method == "Retrain") return &m;
  return nullptr;
}

struct PairedColumn {
  const char* name;
  double (*get)(const ModelMetrics&);
};
const std::vector<PairedColumn>& paired_columns() {
  static const std::vector<PairedColumn> c{
      {"retain_loss", [](const ModelMetrics& m) { return m.retain_loss; }},
      {"forget_loss", [](const ModelMetrics& m) { return m.forget_loss; }},
      {"train_forget_loss", [](const ModelMetrics& m) { return m.train_forget_loss; }},
      {"mia_forget", [](const ModelMetrics& m) { return m.mia_forget; }},
  };
  return c;
}

// Per seed, method's value minus Retrain's value of the same seed.
std::vector<double> paired_differences(const ResultSet& r, const std::string& method, double (*get)(const ModelMetrics&)) {
  std::vector<double> d;
  for (const auto& s : r.seeds) {
    const ModelMetrics* g = retrain_row(s);
    for (const auto& m : s.rows)
      if (m.method == method && g) d.push_back(get(m) - get(*g));
  }
  return d;
}

}  // namespace

nlohmann::json to_json(const ResultSet& r) {
  nlohmann::json j;
  j["preset"] = r.preset;
  j["quick"] = r.quick;
  j["device"] = r.device;
  j["forget"] = r.rule;
  j["data"] = r.data;
  j["loss"] = r.loss;
  j["audit"] = r.audit;
  j["set"] = r.sets;
  j["provenance"] = r.provenance;
  j["skipped_images"] = r.skipped_images;
  j["settings"] = r.settings;
  j["runs"] = nlohmann::json::array();
  for (const auto& s : r.seeds) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& m : s.rows) rows.push_back(metrics_to_json(m));
    j["runs"].push_back({{"seed", s.seed}, {"methods", rows}, {"ain_plan", s.ain_plan}, {"rel_diff_floor", s.rel_floor}});
  }
  nlohmann::json summary = nlohmann::json::object();
  for (const auto& [name, rows] : by_method(r)) {
    nlohmann::json e{{"retain_loss", summary_of(values(rows, [](auto& m) { return m.retain_loss; }))},
                     {"forget_loss", summary_of(values(rows, [](auto& m) { return m.forget_loss; }))},
                     {"train_forget_loss", summary_of(values(rows, [](auto& m) { return m.train_forget_loss; }))},
                     {"wasserstein", summary_of(values(rows, [](auto& m) { return m.w1; }))},
                     {"rel_diff_median", summary_of(values(rows, [](auto& m) { return m.rel_diff; }))},
                     {"mia_forget", summary_of(values(rows, [](auto& m) { return m.mia_forget; }))},
                     {"attack_balanced_accuracy", summary_of(values(rows, [](auto& m) { return m.mia_accuracy; }))},
                     {"attack_auc", summary_of(values(rows, [](auto& m) { return m.mia_auc; }))},
                     {"attack_uninformative_seeds", count_if(rows, [](auto& m) { return !m.mia_informative(); })},
                     {"seconds", summary_of(values(rows, [](auto& m) { return m.seconds; }))},
                     {"speedup", summary_of(values(rows, [](auto& m) { return m.speedup; }))}};
    if (rows.front()->has_ain) e["ain"] = summary_of(values(rows, [](auto& m) { return m.ain; }));
    if (rows.front()->has_planted)
      e["planted_shift_kept"] = summary_of(values(rows, [](auto& m) { return m.planted_kept; }));
    if (name != "Retrain" && r.seeds.size() > 1)
      for (const auto& c : paired_columns())
        e["paired_difference_to_retrain"][c.name] = summary_of(paired_differences(r, name, c.get));
    summary[name] = e;
  }
  j["summary"] = summary;
  j["notes"] = r.notes;
  return j;
}

std::string format_mean_ci(const std::vector<double>& v, int precision) {
  if (v.empty()) return "–";
  const MeanSd m = mean_sd(v);
  if (m.n == 1) return fmt::format("{:.{}f}", m.mean, precision);
  const Interval ci = t_interval(v);
  return fmt::format("{:.{}f} ± {:.{}f}", m.mean, precision, (ci.hi - ci.lo) / 2, precision);
}

namespace {

// "mean [lo, hi]" of the 95 % t-interval.
std::string format_interval(const std::vector<double>& v, int precision) {
  const Interval ci = t_interval(v);
  return fmt::format("{:+.{}f} [{:+.{}f}, {:+.{}f}]", mean_sd(v).mean, precision, ci.lo, precision, ci.hi, precision);
}

// The AIN cell: the ratio (mean over seeds) with its marks: ≥ when a count hit the cap (the ratio is a
// lower bound), ≤ when the model's count is 0 or 1 (it cannot resolve less than a step), * when the gold
// model's count did not resolve.
std::string ain_cell(const Rows& rows, bool* any_cap, bool* any_floor, bool* any_gold) {
  std::string mark;
  const bool cap = count_if(rows, [](auto& m) { return m.ain_steps >= m.ain_cap; }) > 0;
  const bool floor = count_if(rows, [](auto& m) { return m.ain_steps <= 1; }) > 0;
  const bool gold = count_if(rows, [](auto& m) { return m.ain_gold_unresolved(); }) > 0;
  *any_cap |= cap;
  *any_floor |= floor;
  *any_gold |= gold;
  std::string cell = format_mean_ci(values(rows, [](auto& m) { return m.ain; }), 3);
  if (cap) cell = "≥" + cell;
  if (floor) cell = "≤" + cell;
  return cell + (gold ? "*" : "");
}

std::string steps_cell(const Rows& rows) {
  if (rows.size() == 1) return fmt::format("{} / {}", rows.front()->ain_steps, rows.front()->ain_gold_steps);
  return fmt::format("{:.1f} / {:.1f}", mean_sd(values(rows, [](auto& m) { return m.ain_steps; })).mean,
                     mean_sd(values(rows, [](auto& m) { return m.ain_gold_steps; })).mean);
}

std::string attack_cell(const Rows& rows) {
  if (rows.size() == 1) {
    const ModelMetrics& m = *rows.front();
    return fmt::format("{:.3f} [{:.3f}, {:.3f}]", m.mia_accuracy, m.mia_accuracy_lo, m.mia_accuracy_hi);
  }
  return format_mean_ci(values(rows, [](auto& m) { return m.mia_accuracy; }), 3);
}

std::string mia_cell(const Rows& rows, bool* any_uninformative) {
  std::string cell = format_mean_ci(values(rows, [](auto& m) { return m.mia_forget; }), 3);
  const int64_t k = count_if(rows, [](auto& m) { return !m.mia_informative(); });
  if (k == 0) return cell;
  *any_uninformative = true;
  return cell + (rows.size() == 1 ? " (uninformative)" : fmt::format(" (uninformative in {}/{})", k, rows.size()));
}

std::string ain_plan_text(const ResultSet& r) {
  std::string out;
  for (const auto& s : r.seeds) {
    const nlohmann::json& p = s.ain_plan;
    if (p.is_null()) continue;
    std::string tried;
    for (const auto& t : p.at("tried"))
      tried += fmt::format("{}{:g} → {}", tried.empty() ? "" : ", ", t.at(0).get<double>(), t.at(1).get<int64_t>());
    out += fmt::format("{}seed {}: lr {:g} ({}: {}), target {:.4g}, cap {} steps", out.empty() ? "" : "; ", s.seed,
                       p.at("lr").get<double>(), p.at("from_ladder").get<bool>() ? "ladder" : "--ain-lr", tried,
                       p.at("target").get<double>(), p.at("cap").get<int64_t>());
  }
  return out;
}

}  // namespace

std::string render_markdown(const ResultSet& r) {
  const std::string& L = r.loss;
  const auto methods = by_method(r);
  const bool planted = !methods.empty() && methods.front().second.front()->has_planted;
  std::string out = fmt::format(
      "| Method | Retain {0} (test) | Forget {0} (test) | Forget {0} (train) | W1 to Retrain (train forget) | "
      "Rel. diff. to Retrain (median) | MIA forget | Attack accuracy [95 % CI] | Attack AUC | AIN | AIN steps "
      "(model / gold) |{1} Time (s) | Speed-up vs Retrain |\n",
      L, planted ? " Planted shift kept |" : "");
  out += planted ? "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" : "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  bool any_cap = false, any_floor = false, any_gold = false, any_uninformative = false;
  for (const auto& [name, rows] : methods) {
    std::string ain = "–", steps = "–";
    if (rows.front()->has_ain) {
      ain = ain_cell(rows, &any_cap, &any_floor, &any_gold);
      steps = steps_cell(rows);
    }
    std::string kept = planted ? " " + format_mean_ci(values(rows, [](auto& m) { return m.planted_kept; }), 3) + " |" : "";
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |{} {} | {} |\n", name,
                       format_mean_ci(values(rows, [](auto& m) { return m.retain_loss; }), 4),
                       format_mean_ci(values(rows, [](auto& m) { return m.forget_loss; }), 4),
                       format_mean_ci(values(rows, [](auto& m) { return m.train_forget_loss; }), 4),
                       format_mean_ci(values(rows, [](auto& m) { return m.w1; }), 4),
                       format_mean_ci(values(rows, [](auto& m) { return m.rel_diff; }), 3),
                       mia_cell(rows, &any_uninformative), attack_cell(rows),
                       format_mean_ci(values(rows, [](auto& m) { return m.mia_auc; }), 3), ain, steps, kept,
                       format_mean_ci(values(rows, [](auto& m) { return m.seconds; }), 1),
                       format_mean_ci(values(rows, [](auto& m) { return m.speedup; }), 1) + "x");
  }
  if (r.seeds.size() > 1) {
    out += fmt::format("\nPaired difference to Retrain (model − Retrain, per seed; mean [95 % t-interval] over {} seeds):\n\n",
                       r.seeds.size());
    out += fmt::format("| Method | Retain {0} (test) | Forget {0} (test) | Forget {0} (train) | MIA forget |\n", L);
    out += "|---|---|---|---|---|\n";
    for (const auto& [name, rows] : methods) {
      if (name == "Retrain") continue;
      out += "| " + name;
      for (const auto& c : paired_columns()) out += " | " + format_interval(paired_differences(r, name, c.get), c.name == std::string("mia_forget") ? 3 : 4);
      out += " |\n";
    }
  }
  out += fmt::format("\n{} seed{}", r.seeds.size(),
                     r.seeds.size() == 1 ? "" : "s (mean ± half-width of the 95 % Student-t interval)");
  out += fmt::format(", preset {}{}, forget {}, device {}.", r.preset, r.quick ? " --quick" : "", r.rule, r.device);
  if (!r.sets.empty()) out += fmt::format(" Settings changed with --set: {}.", fmt::join(r.sets, ", "));
  out += "\n";
  const std::string plan = ain_plan_text(r);
  if (!plan.empty()) out += "\nAIN relearning: " + plan + ".\n";
  if (any_uninformative)
    out += "\n(uninformative): the attack's own held-out balanced accuracy on its members and non-members has a 95 % "
           "interval containing 0.5: it cannot tell members from non-members, so its forget fraction says nothing "
           "about forgetting.\n";
  if (any_gold)
    out += "\n\\* the gold model's relearning count is below its minimum or at the cap at every rate tried: the "
           "ratios of this row carry little information.\n";
  if (any_floor)
    out += "\n≤ the model was back within the target before relearning (0 steps) or after a single step: the ratio "
           "cannot resolve anything faster.\n";
  if (any_cap) out += "\n≥ a count reached the cap without getting back to the target: the ratio is a bound.\n";
  for (const auto& n : r.notes) out += "\n" + n + "\n";
  return out;
}

std::string render_csv(const ResultSet& r) {
  std::string out =
      "seed,method,retain_loss,forget_loss,train_forget_loss,wasserstein,rel_diff_median,mia_forget,mia_train,"
      "mia_test,attack_per_class,attack_balanced_accuracy,attack_ci_lo,attack_ci_hi,attack_auc,ain,ain_steps,"
      "ain_gold_steps,ain_cap,ain_lr,ain_floor,ain_at_cap,planted_shift_kept,seconds,speedup\n";
  for (const auto& s : r.seeds)
    for (const auto& m : s.rows) {
      std::string ain = m.has_ain ? fmt::format("{:.17g},{},{},{},{:.17g},{},{}", m.ain, m.ain_steps, m.ain_gold_steps,
                                                m.ain_cap, m.ain_lr, m.ain_floor ? 1 : 0, m.ain_at_cap ? 1 : 0)
                                  : ",,,,,,";
      std::string planted = m.has_planted ? fmt::format("{:.17g}", m.planted_kept) : "";
      out += fmt::format("{},{},{:.17g},{:.17g},{:.17g},{:.17g},{:.17g},{:.17g},{:.17g},{:.17g},{},{:.17g},{:.17g},"
                         "{:.17g},{:.17g},{},{},{:.17g},{:.17g}\n",
                         s.seed, m.method, m.retain_loss, m.forget_loss, m.train_forget_loss, m.w1, m.rel_diff,
                         m.mia_forget, m.mia_train, m.mia_test, m.mia_per_class, m.mia_accuracy, m.mia_accuracy_lo,
                         m.mia_accuracy_hi, m.mia_auc, ain, planted, m.seconds, m.speedup);
    }
  return out;
}

std::string npy_bytes(const std::vector<double>& v) {
  std::string header = fmt::format("{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}", v.size());
  // magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 16.
  const size_t fixed = 10;
  size_t total = fixed + header.size() + 1;
  header.append((16 - total % 16) % 16, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  const uint16_t len = uint16_t(header.size());
  out += char(len & 0xff);
  out += char(len >> 8);
  out += header;
  static_assert(sizeof(double) == 8);
  const size_t at = out.size();
  out.resize(at + v.size() * 8);
  for (size_t i = 0; i < v.size(); ++i) {  // little-endian, as '<f8' says (x86-64 and ARM64 are)
    uint64_t bits;
    std::memcpy(&bits, &v[i], 8);
    for (int k = 0; k < 8; ++k) out[at + i * 8 + size_t(k)] = char((bits >> (8 * k)) & 0xff);
  }
  return out;
}

void write_npy(const std::string& path, const std::vector<double>& v) { write_file_atomic(path, npy_bytes(v)); }

std::vector<double> read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DRU_CHECK(f.good(), "{}: cannot open the .npy file", path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  DRU_CHECK(bytes.size() >= 10 && bytes.compare(0, 6, "\x93NUMPY") == 0 && bytes[6] == 1,
            "{}: not a version 1 .npy file", path);
  const size_t len = size_t(uint8_t(bytes[8])) | size_t(uint8_t(bytes[9])) << 8;
  DRU_CHECK(10 + len <= bytes.size(), "{}: truncated .npy header", path);
  const std::string header = bytes.substr(10, len);
  DRU_CHECK(header.find("'descr': '<f8'") != std::string::npos && header.find("'fortran_order': False") != std::string::npos,
            "{}: expected a little-endian f64 C-order array, header {}", path, header);
  const size_t s = header.find("'shape': (");
  DRU_CHECK(s != std::string::npos, "{}: .npy header without a shape", path);
  const size_t n = std::strtoull(header.c_str() + s + 10, nullptr, 10);
  DRU_CHECK(header.compare(s + 10 + std::to_string(n).size(), 2, ",)") == 0, "{}: expected a 1-D array, header {}",
            path, header);
  DRU_CHECK(bytes.size() == 10 + len + n * 8, "{}: {} bytes of data for {} doubles", path, bytes.size() - 10 - len, n);
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t bits = 0;
    for (int k = 0; k < 8; ++k) bits |= uint64_t(uint8_t(bytes[10 + len + i * 8 + size_t(k)])) << (8 * k);
    std::memcpy(&v[i], &bits, 8);
  }
  return v;
}

std::vector<double> density(const std::vector<double>& values, double lo, double hi, int bins) {
  DRU_CHECK(bins > 0 && hi > lo, "density: need bins > 0 and hi > lo (got {} bins over [{}, {}))", bins, lo, hi);
  std::vector<double> d(size_t(bins), 0.0);
  if (values.empty()) return d;
  const double w = (hi - lo) / bins;
  for (double x : values) {
    if (!(x >= lo && x < hi)) continue;
    d[std::min(size_t(bins - 1), size_t((x - lo) / w))] += 1;
  }
  for (double& c : d) c /= double(values.size()) * w;
  return d;
}

namespace {

std::string gp_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("''") : std::string(1, c);
  return o + "'";
}

bool have_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string p = path;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::filesystem::path f = std::filesystem::path(p.substr(start, end - start)) / name;
    std::error_code ec;
    if (std::filesystem::is_regular_file(f, ec)) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

bool plot_curves(const std::string& png, const std::string& title, const std::string& xlabel,
                 const std::string& ylabel, const std::vector<Curve>& curves, std::string* why) {
  if (!have_program("gnuplot")) {
    if (why) *why = "gnuplot is not installed (Debian: gnuplot-nox; tools/setup.sh installs it)";
    return false;
  }
  std::filesystem::path base = std::filesystem::path(png).replace_extension("");
  std::string data_path = base.string() + ".dat", script_path = base.string() + ".gp";
  std::string data;
  for (const auto& c : curves) {
    data += "# " + c.label + "\n";
    for (size_t i = 0; i < c.x.size(); ++i) data += fmt::format("{:.9g} {:.9g}\n", c.x[i], c.y[i]);
    data += "\n\n";  // gnuplot's index separator
  }
  write_file_atomic(data_path, data);
  std::string script = "set terminal png size 900,560\n";
  script += "set output " + gp_quote(png) + "\n";
  script += "set title " + gp_quote(title) + " noenhanced\n";
  script += "set xlabel " + gp_quote(xlabel) + " noenhanced\nset ylabel " + gp_quote(ylabel) + " noenhanced\n";
  script += "set key top right noenhanced\nset grid\n";
  script += "plot ";
  for (size_t i = 0; i < curves.size(); ++i)
    script += fmt::format("{}{} index {} using 1:2 with lines linewidth 2 title {}", i ? ", " : "", gp_quote(data_path),
                          i, gp_quote(curves[i].label));
  script += "\n";
  write_file_atomic(script_path, script);
  std::string cmd = "gnuplot " + gp_quote(script_path) + " 2>&1";
  // gp_quote's '' doubling is gnuplot's rule, not the shell's; paths with a quote are refused instead.
  if (script_path.find('\'') != std::string::npos) {
    if (why) *why = "the output path holds a quote character";
    return false;
  }
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    if (why) *why = "could not start gnuplot";
    return false;
  }
  std::string msg;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) msg += buf;
  int rc = pclose(p);
  if (rc != 0) {
    if (why) *why = "gnuplot failed: " + msg.substr(0, msg.find('\n'));
    return false;
  }
  return true;
}

void write_results(const std::string& dir, const ResultSet& r) {
  std::filesystem::create_directories(dir);
  write_file_atomic(dir + "/results.json", to_json(r).dump(2) + "\n");
  write_file_atomic(dir + "/results.md", render_markdown(r));
  write_file_atomic(dir + "/results.csv", render_csv(r));
}

}  // namespace dru
