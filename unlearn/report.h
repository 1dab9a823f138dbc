// report.h — what `dru experiment` writes: the per-model metric rows of every seed, rendered as
// results.json (every number, per seed), results.md (one table, mean ± sd over seeds), results.csv
// (one row per seed and method), per-sample predictions as .npy, and gnuplot PNG plots.
//
// The .npy writer is the NumPy format 1.0 (numpy.lib.format): the magic "\x93NUMPY", version bytes 1 0,
// a little-endian u16 header length, then an ASCII dict {'descr': '<f8', 'fortran_order': False,
// 'shape': (N,), } padded with spaces and ended by '\n' so that the data starts at a multiple of 16
// bytes (numpy itself pads to 64 since 1.22; both read back), then N little-endian doubles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dru {

// One model's metrics in one seed (PAPER.md §4). Losses are the task's (L1, MSE or quantile).
struct ModelMetrics {
  std::string method;                // display name: Original, Retrain, Finetune, Gradient ascent, ...
  double retain_loss = 0, forget_loss = 0;  // test retain / test forget
  double w1 = 0;                     // Wasserstein-1 to the gold model's predictions on the train forget set
  double rel_diff = 0;               // median of |pred - gold| / |y| on the train forget set (PAPER.md §4.5)
  double mia_forget = 0, mia_train = 0, mia_test = 0;
  bool has_ain = false;              // the unlearning methods (and Retrain, 1 by definition)
  double ain = 0;
  int64_t ain_steps = 0, ain_gold_steps = 0, ain_cap = 0;
  bool ain_floor = false;            // both step counts are 1: the ratio carries no information
  double seconds = 0;                // wall clock of the model's stage (Original, Retrain: training)
  double speedup = 0;                // Retrain's seconds / this model's seconds
};

struct SeedResult {
  uint64_t seed = 0;
  std::vector<ModelMetrics> rows;    // Original, Retrain, then the methods, in table order
};

struct ResultSet {
  std::string preset, device, rule, data, loss;  // loss: "L1", "MSE" or "quantile"
  bool quick = false;
  double ain_lr = 0.01;
  nlohmann::json settings;           // the resolved preset (epochs, learning rates, sizes)
  std::vector<SeedResult> seeds;
  std::vector<std::string> notes;    // printed under the table
};

nlohmann::json metrics_to_json(const ModelMetrics& m);
ModelMetrics metrics_from_json(const nlohmann::json& j);
nlohmann::json to_json(const ResultSet& r);

// Mean and sample standard deviation (ddof 1; 0 for a single value).
struct MeanSd {
  double mean = 0, sd = 0;
  int64_t n = 0;
};
MeanSd mean_sd(const std::vector<double>& v);
// "1.234 ± 0.056", or "1.234" for one value; precision digits after the point.
std::string format_mean_sd(const MeanSd& m, int precision);

std::string render_markdown(const ResultSet& r);  // the table, then the notes
std::string render_csv(const ResultSet& r);

// The .npy bytes of a 1-D f64 array, and the file (written atomically).
std::string npy_bytes(const std::vector<double>& v);
void write_npy(const std::string& path, const std::vector<double>& v);
// Reads a 1-D '<f8' C-order .npy (what write_npy writes, or numpy's own); throws naming path otherwise.
std::vector<double> read_npy(const std::string& path);

// A density estimate (histogram, counts / (n · width)) of values over [lo, hi) with `bins` bins;
// values outside are left out of the counts but not of n (as seaborn's stat="density" over a clipped axis
// is not; this keeps the curves of different methods comparable).
std::vector<double> density(const std::vector<double>& values, double lo, double hi, int bins);

// Renders a line plot with gnuplot (run through popen with a generated script; data and script are
// written beside png). Returns false and fills why when gnuplot is not installed or fails.
struct Curve {
  std::string label;
  std::vector<double> x, y;
};
bool plot_curves(const std::string& png, const std::string& title, const std::string& xlabel,
                 const std::string& ylabel, const std::vector<Curve>& curves, std::string* why);

// Writes results.json, results.md and results.csv into dir (atomically each).
void write_results(const std::string& dir, const ResultSet& r);

}  // namespace dru
