// presets.cpp — the experiment presets of experiment.h: which data, model, forget rule and loss each
// runs, with the paper's settings (docs/paper.md §2.2, §3) and a --quick variant small enough for 2 CPU
// cores; and `--set STAGE.KEY=VALUE`, which changes one setting of one stage.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <functional>

#include "unlearn/experiment.h"

namespace dru {

// ---- presets ------------------------------------------------------------------------------------

std::vector<std::string> preset_names() {
  return {"stsb-lstm",    "stsb-bertlite",  "electricity-lstm", "utkface-allcnn",
          "agedb-allcnn", "agedb-resnet18", "imdbwiki-resnet18"};
}

std::string preset_help() {
  return "stsb-lstm: shipped STS-B + GloVe 100-d, siamese LSTM, forget score<2, MSE\n"
         "stsb-bertlite: shipped STS-B, WordPiece tokenizer trained on its training split, BERT-lite (max_len 64, "
         "Adam lr 1e-4; --quick: a 2-layer encoder at 1e-3), forget score<2, MSE\n"
         "electricity-lstm: shipped hourly load of 10 customers, quantile LSTM forecaster, forget customer=MT_003\n"
         "utkface-allcnn: ../shared/data/faces/utkface-5k/labels.csv (or --data), AllCNN 32x32, forget age<=30, L1\n"
         "agedb-allcnn: --data agedb.csv with the AgeDB images beside it, AllCNN 32x32, forget age<=30, L1\n"
         "agedb-resnet18: --data agedb.csv with the AgeDB images beside it, ResNet-18 with the small-image stem at "
         "32x32, forget age<=30, L1\n"
         "imdbwiki-resnet18: --data imdbwiki.csv (path, age, split columns) with the IMDB-WIKI images beside it, "
         "ResNet-18 with the small-image stem at 32x32, forget age<=30, L1";
}

namespace {

// The paper's original/retrain recipe (docs/paper.md §2.2, default_settings) for this many epochs.
MethodSettings training(int epochs) {
  MethodSettings s = default_settings("original");
  s.epochs = epochs;
  return s;
}

// The paper's AgeDB settings (docs/paper.md §2.2, §3.3-§3.5): original/retrain 100 epochs, finetune 5,
// gradient ascent 1, Gaussian amnesiac 1, Blindspot 1 after a 2-epoch blindspot model, the last epoch's
// weights kept by every method.
void paper_settings(Preset& p) {
  p.original = training(100);
  p.gold = training(100);
  for (const auto& m : method_names()) p.methods[m] = default_settings(m);
}

// The STS-B notebook's schedule (docs/paper.md §3.3-§3.5, §6 item 9): Finetune 5 epochs and Gaussian
// amnesiac 5 epochs, each reloading its best validation epoch; a blindspot model of 10 epochs reloaded at
// its best validation epoch, then 5 epochs of Blindspot (last epoch kept). Gradient ascent is not in the
// notebook: the paper's AgeDB setting (1 epoch, lr 0.001).
void stsb_notebook_settings(Preset& p) {
  paper_settings(p);
  MethodSettings& f = p.methods["finetune"];
  f.epochs = 5;
  f.restore_best = true;
  MethodSettings& g = p.methods["gaussian-amnesiac"];
  g.epochs = 5;
  g.restore_best = true;
  MethodSettings& b = p.methods["blindspot"];
  b.epochs = 5;
  b.blindspot_epochs = 10;
  b.blindspot_restore_best = true;
}

// --quick: few epochs everywhere, the same learning rates.
void quick_settings(Preset& p, int train_epochs) {
  p.original = training(train_epochs);
  p.gold = training(train_epochs);
  for (const auto& m : method_names()) {
    MethodSettings s = default_settings(m);
    if (m == "finetune") s.epochs = 2;
    if (m == "blindspot") s.blindspot_epochs = 1;
    p.methods[m] = s;
  }
}

}  // namespace

Preset make_preset(const std::string& name, bool quick) {
  Preset p;
  p.name = name;
  if (name == "stsb-lstm") {
    // The STS-B notebook trains with MSE; batches of 256. Data order: whatever the methods' fit loop
    // does (methods.cpp), the same for every stage.
    p.dataset = "stsb";
    p.model = "stsb-lstm";
    p.rule = "score<2";
    p.loss = LossKind::mse;
    stsb_notebook_settings(p);
    if (quick) {  // the LSTM is small: only the original and retrained models train for fewer epochs
      p.original = training(15);
      p.gold = training(15);
    }
  } else if (name == "stsb-bertlite") {
    // The paper has no BERT run (docs/paper.md §3.6): the data, rule and loss are stsb-lstm's; the learning
    // rates are ours. Adam at the paper's 0.01 makes a post-LayerNorm transformer diverge, so every rate
    // is the paper's / 100 (training 1e-4, the usual BERT rate; methods 1e-5; the blindspot model 1e-4),
    // keeping the paper's 10:1 ratio of training to unlearning rates. Epochs and schedules as the paper's.
    p.dataset = "stsb-tokens";
    p.model = "bert-lite";
    p.rule = "score<2";
    p.loss = LossKind::mse;
    p.batch = 64;
    paper_settings(p);
    if (quick) {  // a tiny encoder: 2 layers, D 64, 4 heads, FFN 128, 32 tokens, a 4,096-token vocabulary
      quick_settings(p, 10);
      p.max_len = 32;
      p.vocab_size = 4096;
      p.layers = 2;
      p.hidden = 64;
      p.heads = 4;
      p.ffn = 128;
    }
    // The quick encoder is small enough for 10x those rates; at 1e-4 it learnt only the mean score.
    const double divisor = quick ? 10 : 100;
    for (MethodSettings* s : {&p.original, &p.gold}) s->lr /= divisor;
    for (auto& [m, s] : p.methods) {
      s.lr /= divisor;
      s.blindspot_lr /= divisor;
    }
  } else if (name == "electricity-lstm") {
    p.dataset = "electricity";
    p.model = "electricity-lstm";
    p.rule = "customer=MT_003";
    p.loss = LossKind::quantile;
    paper_settings(p);
    if (quick) {
      quick_settings(p, 4);
      p.stride = 24;  // one window a day per customer: 2,110 training windows instead of 50,650
    }
  } else if (name == "utkface-allcnn" || name == "agedb-allcnn" || name == "agedb-resnet18" ||
             name == "imdbwiki-resnet18") {
    // ResNet-18 runs at 32x32 with the small-image stem (3x3 stride 1, no max-pool), as AllCNN's inputs;
    // IMDB-WIKI takes AgeDB's rule (age<=30; the paper names no rule for it, docs/paper.md §1.2).
    p.dataset = "images";
    p.model = name.ends_with("resnet18") ? "resnet18" : "allcnn";
    p.small_stem = p.model == "resnet18";
    p.rule = "age<=30";
    p.loss = LossKind::l1;
    paper_settings(p);
    if (quick) {
      quick_settings(p, 3);
      p.max_train = 600;
      p.max_val = 200;
      p.max_test = 200;
      // ResNet-18's BatchNorm running statistics need more steps than 3 epochs of 64-batches of the
      // ~270 retain images give the retrained model (its eval-mode loss was 10x its training loss).
      p.batch = p.model == "resnet18" ? 32 : 64;
      p.mia.samples = 200;
      p.ain.cap = 4 * ((p.max_train + p.batch - 1) / p.batch);  // 4 epochs of relearning
      for (auto& [m, s] : p.methods) s.epochs = 1;
    }
  } else {
    throw UsageError(fmt::format("unknown preset '{}': choose one of {}", name, fmt::join(preset_names(), ", ")));
  }
  return p;
}

// ---- --set STAGE.KEY=VALUE ----------------------------------------------------------------------

namespace {

int parse_count(const std::string& text, const std::string& what, int64_t min) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min || v > 1000000)
    throw UsageError(fmt::format("--set {}: '{}' is not a whole number from {} to 1000000", what, text, min));
  return int(v);
}

double parse_real(const std::string& text, const std::string& what, double lo, double hi, bool lo_open) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(v) || v < lo || (lo_open && v == lo) || v > hi)
    throw UsageError(fmt::format("--set {}: '{}' is not a number in {}{}, {}]", what, text, lo_open ? "(" : "[", lo, hi));
  return v;
}

bool parse_bool(const std::string& text, const std::string& what) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  throw UsageError(fmt::format("--set {}: '{}' is not true or false", what, text));
}

struct SettingKey {
  const char* name;
  const char* help;
  std::function<void(MethodSettings&, const std::string& value, const std::string& what)> apply;
};

const std::vector<SettingKey>& keys() {
  static const std::vector<SettingKey> k{
      {"epochs", "training epochs", [](MethodSettings& s, const std::string& v, const std::string& w) {
         s.epochs = parse_count(v, w, 1); }},
      {"lr", "Adam learning rate", [](MethodSettings& s, const std::string& v, const std::string& w) {
         s.lr = parse_real(v, w, 0, 10, true); }},
      {"batch", "training batch size", [](MethodSettings& s, const std::string& v, const std::string& w) {
         s.batch = parse_count(v, w, 1); }},
      {"restore_best", "reload the best validation epoch at the end", [](MethodSettings& s, const std::string& v,
                                                                          const std::string& w) {
         s.restore_best = parse_bool(v, w); }},
      {"plateau_factor", "ReduceLROnPlateau factor", [](MethodSettings& s, const std::string& v, const std::string& w) {
         s.plateau.factor = parse_real(v, w, 0, 1, true); }},
      {"plateau_patience", "ReduceLROnPlateau patience (epochs)", [](MethodSettings& s, const std::string& v,
                                                                   const std::string& w) {
         s.plateau.patience = parse_count(v, w, 0); }},
      {"beta", "Blindspot's attention-transfer weight", [](MethodSettings& s, const std::string& v,
                                                          const std::string& w) {
         s.beta = parse_real(v, w, 0, 1e6, false); }},
      {"blindspot_epochs", "epochs of Blindspot's blindspot model", [](MethodSettings& s, const std::string& v,
                                                                        const std::string& w) {
         s.blindspot_epochs = parse_count(v, w, 1); }},
      {"blindspot_lr", "learning rate of Blindspot's blindspot model", [](MethodSettings& s, const std::string& v,
                                                                         const std::string& w) {
         s.blindspot_lr = parse_real(v, w, 0, 10, true); }},
      {"blindspot_restore_best", "reload the blindspot model's best validation epoch",
       [](MethodSettings& s, const std::string& v, const std::string& w) { s.blindspot_restore_best = parse_bool(v, w); }},
  };
  return k;
}

}  // namespace

MethodSettings planted_settings(const Preset& p) {
  // Nothing in the inputs marks the planted samples: a model carries their shift only by memorising them,
  // which a validation loss on unshifted data never rewards. So the audit's models train at a constant
  // rate (no plateau steps: the validation loss would cut the rate as memorising starts), for at least
  // 40 epochs, and keep their last epoch. On stsb-lstm --quick this took the original from 0.32 of the
  // shift (15 epochs) to 0.95 (docs/metrics.md).
  MethodSettings s = p.original;
  s.restore_best = false;
  s.plateau.patience = 1000000;
  s.epochs = std::max(s.epochs, 40);
  for (const auto& a : p.planted_sets) {
    const size_t eq = a.find('=');
    for (const auto& k : keys())
      if (a.compare(0, eq, k.name) == 0 && std::string(k.name).size() == eq) k.apply(s, a.substr(eq + 1), a);
  }
  return s;
}

std::vector<std::string> setting_keys() {
  std::vector<std::string> out;
  for (const auto& k : keys()) out.push_back(k.name);
  return out;
}

void apply_setting(Preset& p, const std::string& assignment) {
  const size_t eq = assignment.find('='), dot = assignment.find('.');
  std::vector<std::string> stages{"original", "gold"};
  for (const auto& m : method_names()) stages.push_back(m);
  stages.push_back("planted");
  if (eq == std::string::npos || dot == std::string::npos || dot > eq)
    throw UsageError(fmt::format("--set '{}': write STAGE.KEY=VALUE, e.g. blindspot.beta=10 (stages: {})", assignment,
                                 fmt::join(stages, ", ")));
  std::string stage = assignment.substr(0, dot);
  const std::string key = assignment.substr(dot + 1, eq - dot - 1), value = assignment.substr(eq + 1);
  if (stage == "retrain") stage = "gold";  // the gold model is the retrained one: both names work
  MethodSettings scratch;  // planted: checked here, applied by planted_settings
  MethodSettings* s = stage == "original" ? &p.original : stage == "gold" ? &p.gold : stage == "planted" ? &scratch : nullptr;
  if (!s) {
    auto it = p.methods.find(stage);
    if (it == p.methods.end())
      throw UsageError(fmt::format("--set '{}': unknown stage '{}' (stages: {})", assignment, stage,
                                   fmt::join(stages, ", ")));
    s = &it->second;
  }
  for (const auto& k : keys())
    if (key == k.name) {
      k.apply(*s, value, assignment);
      if (stage == "planted") p.planted_sets.push_back(key + "=" + value);
      return;
    }
  throw UsageError(fmt::format("--set '{}': unknown setting '{}' (settings: {})", assignment, key,
                               fmt::join(setting_keys(), ", ")));
}

}  // namespace dru
