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

#include "engine/check.h"
#include "engine/checkpoint.h"

namespace dru {

nlohmann::json metrics_to_json(const ModelMetrics& m) {
  nlohmann::json j{{"method", m.method},         {"retain_loss", m.retain_loss}, {"forget_loss", m.forget_loss},
                   {"wasserstein", m.w1},        {"rel_diff_median", m.rel_diff},
                   {"mia_forget", m.mia_forget}, {"mia_train", m.mia_train},
                   {"mia_test", m.mia_test},     {"seconds", m.seconds},         {"speedup", m.speedup}};
  if (m.has_ain)
    j["ain"] = {{"ain", m.ain},       {"steps", m.ain_steps}, {"gold_steps", m.ain_gold_steps},
                {"cap", m.ain_cap}, {"floor", m.ain_floor}};
  return j;
}

ModelMetrics metrics_from_json(const nlohmann::json& j) {
  ModelMetrics m;
  m.method = j.at("method").get<std::string>();
  m.retain_loss = j.at("retain_loss").get<double>();
  m.forget_loss = j.at("forget_loss").get<double>();
  m.w1 = j.at("wasserstein").get<double>();
  m.rel_diff = j.value("rel_diff_median", 0.0);
  m.mia_forget = j.at("mia_forget").get<double>();
  m.mia_train = j.at("mia_train").get<double>();
  m.mia_test = j.at("mia_test").get<double>();
  m.seconds = j.at("seconds").get<double>();
  m.speedup = j.at("speedup").get<double>();
  if (j.contains("ain")) {
    const auto& a = j.at("ain");
    m.has_ain = true;
    m.ain = a.at("ain").get<double>();
    m.ain_steps = a.at("steps").get<int64_t>();
    m.ain_gold_steps = a.at("gold_steps").get<int64_t>();
    m.ain_cap = a.at("cap").get<int64_t>();
    m.ain_floor = a.at("floor").get<bool>();
  }
  return m;
}

namespace {

// Method names in first-seen order over all seeds, with each seed's row of that name.
std::vector<std::pair<std::string, std::vector<const ModelMetrics*>>> by_method(const ResultSet& r) {
  std::vector<std::pair<std::string, std::vector<const ModelMetrics*>>> out;
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

template <class F> MeanSd stat(const std::vector<const ModelMetrics*>& rows, F f) {
  std::vector<double> v;
  for (auto* m : rows) v.push_back(f(*m));
  return mean_sd(v);
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
  j["ain_lr"] = r.ain_lr;
  j["settings"] = r.settings;
  j["runs"] = nlohmann::json::array();
  for (const auto& s : r.seeds) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& m : s.rows) rows.push_back(metrics_to_json(m));
    j["runs"].push_back({{"seed", s.seed}, {"methods", rows}});
  }
  nlohmann::json summary = nlohmann::json::object();
  for (const auto& [name, rows] : by_method(r)) {
    auto ms = [](const MeanSd& m) { return nlohmann::json{{"mean", m.mean}, {"sd", m.sd}, {"n", m.n}}; };
    nlohmann::json e{{"retain_loss", ms(stat(rows, [](auto& m) { return m.retain_loss; }))},
                     {"forget_loss", ms(stat(rows, [](auto& m) { return m.forget_loss; }))},
                     {"wasserstein", ms(stat(rows, [](auto& m) { return m.w1; }))},
                     {"rel_diff_median", ms(stat(rows, [](auto& m) { return m.rel_diff; }))},
                     {"mia_forget", ms(stat(rows, [](auto& m) { return m.mia_forget; }))},
                     {"seconds", ms(stat(rows, [](auto& m) { return m.seconds; }))},
                     {"speedup", ms(stat(rows, [](auto& m) { return m.speedup; }))}};
    if (rows.front()->has_ain) e["ain"] = ms(stat(rows, [](auto& m) { return m.ain; }));
    summary[name] = e;
  }
  j["summary"] = summary;
  j["notes"] = r.notes;
  return j;
}

MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd m;
  m.n = int64_t(v.size());
  if (v.empty()) return m;
  for (double x : v) m.mean += x;
  m.mean /= double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - m.mean) * (x - m.mean);
    m.sd = std::sqrt(ss / double(v.size() - 1));
  }
  return m;
}

std::string format_mean_sd(const MeanSd& m, int precision) {
  if (m.n <= 1) return fmt::format("{:.{}f}", m.mean, precision);
  return fmt::format("{:.{}f} ± {:.{}f}", m.mean, precision, m.sd, precision);
}

std::string render_markdown(const ResultSet& r) {
  const std::string& L = r.loss;
  std::string out = fmt::format(
      "| Method | Retain {} (test) | Forget {} (test) | W1 to Retrain (train forget) | Rel. diff. to Retrain "
      "(median) | MIA forget | AIN | AIN steps (unlearned / gold) | Time (s) | Speed-up vs Retrain |\n",
      L, L);
  out += "|---|---|---|---|---|---|---|---|---|---|\n";
  bool any_floor = false;
  for (const auto& [name, rows] : by_method(r)) {
    std::string ain = "–", steps = "–";
    if (rows.front()->has_ain) {
      bool floor = false;
      for (auto* m : rows) floor = floor || m->ain_floor;
      any_floor = any_floor || floor;
      ain = format_mean_sd(stat(rows, [](auto& m) { return m.ain; }), 3) + (floor ? "*" : "");
      MeanSd u = stat(rows, [](auto& m) { return double(m.ain_steps); });
      MeanSd g = stat(rows, [](auto& m) { return double(m.ain_gold_steps); });
      steps = rows.size() == 1 ? fmt::format("{} / {}", rows.front()->ain_steps, rows.front()->ain_gold_steps)
                               : fmt::format("{:.1f} / {:.1f}", u.mean, g.mean);
    }
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", name,
                       format_mean_sd(stat(rows, [](auto& m) { return m.retain_loss; }), 4),
                       format_mean_sd(stat(rows, [](auto& m) { return m.forget_loss; }), 4),
                       format_mean_sd(stat(rows, [](auto& m) { return m.w1; }), 4),
                       format_mean_sd(stat(rows, [](auto& m) { return m.rel_diff; }), 3),
                       format_mean_sd(stat(rows, [](auto& m) { return m.mia_forget; }), 3), ain, steps,
                       format_mean_sd(stat(rows, [](auto& m) { return m.seconds; }), 1),
                       format_mean_sd(stat(rows, [](auto& m) { return m.speedup; }), 1) + "x");
  }
  out += fmt::format("\n{} seed{}", r.seeds.size(), r.seeds.size() == 1 ? "" : "s (mean ± sd)");
  out += fmt::format(", preset {}{}, forget {}, device {}, AIN lr {}.\n", r.preset, r.quick ? " --quick" : "", r.rule,
                     r.device, r.ain_lr);
  if (any_floor)
    out += "\n\\* both relearning step counts are 1 (the floor): the AIN ratio carries no information "
           "(PAPER.md §6.21).\n";
  for (const auto& n : r.notes) out += "\n" + n + "\n";
  return out;
}

std::string render_csv(const ResultSet& r) {
  std::string out =
      "seed,method,retain_loss,forget_loss,wasserstein,rel_diff_median,mia_forget,mia_train,mia_test,ain,ain_steps,"
      "ain_gold_steps,"
      "ain_cap,ain_floor,seconds,speedup\n";
  for (const auto& s : r.seeds)
    for (const auto& m : s.rows) {
      std::string ain = m.has_ain ? fmt::format("{:.17g},{},{},{},{}", m.ain, m.ain_steps, m.ain_gold_steps,
                                                m.ain_cap, m.ain_floor ? 1 : 0)
                                  : ",,,,";
      out += fmt::format("{},{},{:.17g},{:.17g},{:.17g},{:.17g},{:.17g},{:.17g},{:.17g},{},{:.17g},{:.17g}\n",
                         s.seed, m.method, m.retain_loss, m.forget_loss, m.w1, m.rel_diff, m.mia_forget, m.mia_train,
                         m.mia_test, ain, m.seconds, m.speedup);
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
