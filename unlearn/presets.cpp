// presets.cpp — the experiment presets of experiment.h: which data, model, forget rule and loss each
// runs, with the paper's settings (PAPER.md §2.2, §3) and a --quick variant small enough for 2 CPU cores.
#include <fmt/format.h>

#include "unlearn/experiment.h"

namespace dru {

// ---- presets ------------------------------------------------------------------------------------

std::vector<std::string> preset_names() { return {"stsb-lstm", "electricity-lstm", "utkface-allcnn", "agedb-allcnn"}; }

std::string preset_help() {
  return "stsb-lstm: shipped STS-B + GloVe 100-d, siamese LSTM, forget score<2, MSE\n"
         "electricity-lstm: shipped hourly load of 10 customers, quantile LSTM forecaster, forget customer=MT_003\n"
         "utkface-allcnn: ../shared/data/faces/utkface-5k/labels.csv (or --data), AllCNN 32x32, forget age<=30, L1\n"
         "agedb-allcnn: --data agedb.csv with the AgeDB images beside it, AllCNN 32x32, forget age<=30, L1";
}

namespace {

MethodSettings training(int epochs) {  // the paper's original/retrain recipe (PAPER.md §2.2)
  MethodSettings s;
  s.epochs = epochs;
  s.lr = 0.01;
  s.restore_best = true;
  return s;
}

// The paper's settings (the list: original/retrain 100 epochs, finetune 5, gradient ascent 1,
// Gaussian amnesiac 1, Blindspot 1 after a 2-epoch blindspot model).
void paper_settings(Preset& p) {
  p.original = training(100);
  p.gold = training(100);
  for (const auto& m : method_names()) p.methods[m] = default_settings(m);
}

// --quick: few epochs everywhere, the same learning rates; metrics with a shorter AIN cap.
void quick_settings(Preset& p, int train_epochs) {
  p.original = training(train_epochs);
  p.gold = training(train_epochs);
  for (const auto& m : method_names()) {
    MethodSettings s = default_settings(m);
    if (m == "finetune") s.epochs = 2;
    if (m == "blindspot") s.blindspot_epochs = 1;
    p.methods[m] = s;
  }
  p.ain_max_epochs = 2;
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
    paper_settings(p);
    if (quick) {  // the LSTM is small: only the training stages and the AIN cap shrink
      p.original = training(15);
      p.gold = training(15);
      p.ain_max_epochs = 2;
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
  } else if (name == "utkface-allcnn" || name == "agedb-allcnn") {
    p.dataset = "images";
    p.model = "allcnn";
    p.rule = "age<=30";
    p.loss = LossKind::l1;
    paper_settings(p);
    if (quick) {
      quick_settings(p, 3);
      p.max_train = 600;
      p.max_val = 200;
      p.max_test = 200;
      p.batch = 64;
      p.mia_samples = 200;
      p.ain_max_epochs = 1;
      for (auto& [m, s] : p.methods) s.epochs = 1;
    }
  } else {
    std::string list;
    for (const auto& n : preset_names()) list += (list.empty() ? "" : ", ") + n;
    throw UsageError(fmt::format("unknown preset '{}': choose one of {}", name, list));
  }
  return p;
}

}  // namespace dru
