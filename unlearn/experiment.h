// experiment.h — `dru experiment PRESET`: the paper's whole pipeline as cached stages (DESIGN decision 9).
//
//   original ─┬─► each method (finetune, gradient-ascent, gaussian-amnesiac, blindspot) ─┐
//   gold ─────┴──────────────────────────────────────────────────────────────────────────┴─► metrics ─► report
//
// Per seed, each stage writes OUT/seed<S>/<stage>.safetensors (the model's weights) and then
// OUT/seed<S>/<stage>.json (its key, wall-clock seconds, settings, epoch log), both atomically; the JSON
// is written last, so a stage counts as finished only when it exists. The metrics stage writes
// metrics.json and the per-sample predictions on the training forget set (predictions/*.npy). A stage's
// key is a hash of the preset, its resolved settings, the seed, the forget rule, the data path and
// sizes, and the keys of the stages it reads; a finished stage whose key matches is loaded instead of run.
// Reuse is always on (a changed setting changes the key, so stale results are never reused); --fresh
// ignores every finished stage. --resume also lets the training stages in flight (original, gold)
// continue from their per-epoch fit checkpoints (OUT/seed<S>/<stage>.<key>.ckpt/). The report stage (results.*
// and the plots) is cheap and always rewritten from the stages' files.
//
// Ctrl-C: the first SIGINT sets a flag; the run stops after the stage in flight has been saved and
// run_experiment throws Interrupted (dru exits 130). A second SIGINT kills the process as usual.
//
// Presets (each with paper settings and a --quick variant; see preset_help()):
//   stsb-lstm         shipped STS-B + GloVe 100-d, siamese LSTM, forget score<2, MSE (the notebook), batch 256
//   electricity-lstm  shipped hourly csv (10 customers), quantile LSTM forecaster, forget customer=MT_003
//   utkface-allcnn    ../shared/data/faces/utkface-5k/labels.csv (or --data), AllCNN 32x32, age<=30, L1
//   agedb-allcnn      --data agedb.csv with the AgeDB images beside it, AllCNN 32x32, age<=30, L1
//   stsb-bertlite     shipped STS-B, WordPiece trained on the training split, BERT-lite, score<2, MSE
//   agedb-resnet18    --data agedb.csv, ResNet-18 (small-image stem) at 32x32, age<=30, L1
//   imdbwiki-resnet18 --data imdbwiki.csv, ResNet-18 (small-image stem) at 32x32, age<=30, L1
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "unlearn/methods.h"
#include "unlearn/metrics.h"
#include "unlearn/report.h"

namespace dru {

struct Preset {
  std::string name;
  std::string dataset;  // "stsb", "electricity", "images"
  std::string model;    // a model_names() entry
  std::string rule;
  LossKind loss = LossKind::l1;
  int64_t batch = 256;
  std::string data;     // resolved data path ("" until resolve_data)
  // Data shaping: subsets (0: the whole split; a seeded subset keeps file order), electricity windows,
  // image side.
  int64_t max_train = 0, max_val = 0, max_test = 0;
  int64_t history = 168, horizon = 24, stride = 1;
  int image_size = 32;
  bool small_stem = false;  // resnet18: the 3x3 stride-1 stem without max-pool (small images)
  // bert-lite: tokens per pair, the WordPiece vocabulary to train, the encoder's size.
  int64_t max_len = 64, vocab_size = 8192;
  int64_t layers = 4, hidden = 256, heads = 4, ffn = 1024;
  double dropout = 0.1;
  std::string tokenizer_hash;  // bert-lite: hash of the trained vocabulary (set by the data loading)
  // Stage settings.
  MethodSettings original, gold;
  std::map<std::string, MethodSettings> methods;  // by method_names()
  // The planted audit's original and gold models train as the original does, but at a constant rate, for
  // at least 40 epochs, keeping their last epoch (planted_settings: a held-out validation loss cannot
  // reward carrying a per-sample planted shift); `--set planted.KEY=VALUE` changes them alone.
  std::vector<std::string> planted_sets;
  // Metric settings.
  MiaSettings mia;
  AinSettings ain;
};

std::vector<std::string> preset_names();
// One line per preset: name and what it runs (for --help).
std::string preset_help();
// The preset's paper settings, or its --quick variant. Throws UsageError naming the presets when
// name is unknown.
Preset make_preset(const std::string& name, bool quick);
// The resolved settings as JSON (what results.json records and what stage keys hash).
nlohmann::json preset_json(const Preset& p);
nlohmann::json settings_json(const MethodSettings& s);

// `--set STAGE.KEY=VALUE`: STAGE is original, gold (or retrain), a method name, or planted (the planted
// audit's training stages); KEY one of setting_keys(). Throws UsageError (one line naming the valid
// stages, keys or values) on anything else.
void apply_setting(Preset& p, const std::string& assignment);
// The planted audit's training settings: the original's with no plateau steps, at least 40 epochs and the
// last epoch kept, then p.planted_sets.
MethodSettings planted_settings(const Preset& p);
std::vector<std::string> setting_keys();

// A usage error (bad preset, flag combination): dru exits 2. Runtime failures are dru::Error (exit 1).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Thrown when a SIGINT (or stop_after) ended the run after a saved stage: dru exits 130.
struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ExperimentOptions {
  std::string preset;
  bool quick = false;
  std::string device = "cpu";
  bool graphs = false;         // CUDA graphs for the training steps (Task::graphs)
  int seeds = 1;
  uint64_t first_seed = 0;     // seeds first_seed, first_seed + 1, ...
  std::string out;             // "": results/<preset> (results/<preset>-quick with --quick)
  bool resume = false;
  bool fresh = false;
  std::string forget;          // "": the preset's rule
  std::string data;            // "": the preset's default
  // Metric overrides; unset (negative) keeps the preset's.
  double ain_lr = -1;          // 0: choose from the ladder (the default); > 0: this rate
  double ain_alpha = -1;
  int64_t ain_cap = -1;        // steps
  std::string mia_members;     // "": the preset's (train); "train" or "retain"
  std::vector<std::string> sets;  // --set STAGE.KEY=VALUE, applied in order after --quick
  std::string audit;           // "": none; "planted": the planted-shift audit
  std::string command_line;    // what results.json records as the command
  bool skip_bad = false;       // images: skip (and list) undecodable files instead of stopping
  std::string data_root;       // the shipped data folder (<repo>/data); the CLI finds it
  std::string stop_after;      // stop (as Ctrl-C would) once this stage of the first seed is saved
  std::function<void(Preset&)> adjust;  // tests shrink a preset here (applied before keys are computed)
  bool progress = true;        // stage lines on stderr
};

// Resolves p.data from opt.data (or the preset's default under opt.data_root) and loads the data set,
// filling the model configuration's data-dependent sizes. stsb-tokens presets train their WordPiece
// tokenizer here and return it in *tokenizer. Missing data is a UsageError naming what to pass. Image
// presets under --skip-bad put the images they skipped ("FILE (csv line L): reason") into *skipped.
class Tokenizer;
DataSet load_preset_data(Preset& p, const ExperimentOptions& opt, ModelConfig& cfg, bool quiet, Tokenizer* tokenizer,
                         std::vector<std::string>* skipped = nullptr);
// p.rule parsed for the loaded data set; a bad rule (a mistyped --forget) is a UsageError (exit 2).
ForgetRule preset_forget_rule(const Preset& p, const DataSet& data);

struct ExperimentSummary {
  ResultSet results;
  std::string out;             // the output folder
  int stages_run = 0, stages_cached = 0;
  std::vector<std::string> plot_notes;  // why a plot was skipped
};

// Runs (or loads) every stage and writes the report. Throws UsageError, dru::Error or Interrupted.
ExperimentSummary run_experiment(const ExperimentOptions& opt);

// The flag the SIGINT handler sets; install_sigint_handler() installs it (the CLI does).
std::atomic<bool>& interrupt_flag();
void install_sigint_handler();

// 64-bit FNV-1a of text, as 16 hex digits (stage keys).
std::string hash_hex(const std::string& text);

}  // namespace dru
