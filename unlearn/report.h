// report.h — what `dru experiment` writes: the per-model metric rows of every seed, rendered as
// results.json (every number, per seed, with provenance), results.md (one table; over several seeds the
// mean ± its 95 % t-interval and the paired difference to Retrain), results.csv
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

#include "unlearn/stats.h"

namespace dru {

// One model's metrics in one seed (docs/paper.md §4, docs/metrics.md). Losses are the task's (L1, MSE or
// quantile).
struct ModelMetrics {
  std::string method;                // display name: Original, Retrain, Finetune, Gradient ascent, ...
  double retain_loss = 0, forget_loss = 0;  // test retain / test forget
  double train_forget_loss = 0;      // the training forget set: what the model was asked to forget
  double w1 = 0;                     // Wasserstein-1 to the gold model's predictions on the train forget set
  double rel_diff = 0;               // median of |pred - gold| / max(|y|, floor) on the train forget set
  // The membership attack (MiaResult): the paper's forget fraction and the attack's own skill.
  double mia_forget = 0, mia_train = 0, mia_test = 0;
  int64_t mia_per_class = 0;
  double mia_accuracy = 0.5, mia_accuracy_lo = 0, mia_accuracy_hi = 1, mia_auc = 0.5;
  bool mia_informative() const { return !(mia_accuracy_lo <= 0.5 && 0.5 <= mia_accuracy_hi); }
  // The anamnesis index (AinResult); Original has none.
  bool has_ain = false;
  double ain = 0, ain_lr = 0;
  int64_t ain_steps = 0, ain_gold_steps = 0, ain_cap = 0, ain_min_gold = 20;
  bool ain_floor = false, ain_at_cap = false;
  bool ain_gold_unresolved() const { return ain_gold_steps < ain_min_gold || ain_gold_steps >= ain_cap; }
  // The planted-shift audit (--audit planted): the share of the planted shift the model still carries.
  bool has_planted = false;
  double planted_kept = 0;
  double seconds = 0;                // wall clock of the model's stage (Original, Retrain: training)
  double speedup = 0;                // Retrain's seconds / this model's seconds
};

struct SeedResult {
  uint64_t seed = 0;
  std::vector<ModelMetrics> rows;    // Original, Retrain, then the methods, in table order
  nlohmann::json ain_plan;           // the AIN rate, target, cap and ladder tried (metrics stage)
  double rel_floor = 0;              // the relative difference's denominator floor (sd of training targets)
};

struct ResultSet {
  std::string preset, device, rule, data, loss;  // loss: "L1", "MSE" or "quantile"
  bool quick = false;
  nlohmann::json settings;           // the resolved preset (epochs, learning rates, sizes, metric settings)
  std::vector<std::string> sets;     // the --set assignments applied
  std::string audit;                 // "" or "planted"
  nlohmann::json provenance;         // version, commit, command, counts, host
  std::vector<std::string> skipped_images;  // --skip-bad: "FILE (csv line L): reason" per image left out
  std::vector<SeedResult> seeds;
  std::vector<std::string> notes;    // printed under the table
};

nlohmann::json metrics_to_json(const ModelMetrics& m);
ModelMetrics metrics_from_json(const nlohmann::json& j);
nlohmann::json to_json(const ResultSet& r);

// "1.234", or over several seeds "1.234 ± 0.056" (the half-width of the 95 % Student-t interval of the
// mean); precision digits after the point.
std::string format_mean_ci(const std::vector<double>& v, int precision);

// The table, then (several seeds) each method's paired difference to Retrain, then the caption and notes.
std::string render_markdown(const ResultSet& r);
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
