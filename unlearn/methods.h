// methods.h — training the original model and the unlearning methods of PAPER.md §3, all on the one
// fit loop (engine/fit.h). Every setting's default is the paper's.
#pragma once

#include <memory>
#include <string>

#include "engine/fit.h"
#include "unlearn/task.h"

namespace dru {

struct MethodSettings {
  int epochs = 1;
  double lr = 0.001;
  PlateauConfig plateau{};      // factor 0.1, patience 10 (PyTorch defaults otherwise)
  bool restore_best = false;    // reload the best-validation weights at the end
  std::string checkpoint_dir;   // fit's checkpoints (resume); empty: none
  bool resume = false;
  bool quiet = false;           // no per-epoch lines
  // Blindspot (Algorithm 1)
  double beta = 50;             // attention-transfer weight
  int blindspot_epochs = 2;     // the partially trained "blindspot" model
  double blindspot_lr = 0.01;
};

struct MethodResult {
  std::unique_ptr<Model> model;
  FitResult fit;
  double seconds = 0;  // wall clock of the whole method
};

// Defaults per method (the paper's): original/retrain 100 epochs lr 0.01 restore_best; finetune 5 epochs
// lr 0.001; gradient ascent 1 epoch lr 0.001; Gaussian amnesiac 1 epoch lr 0.001; Blindspot 1 epoch
// lr 0.001 (blindspot model 2 epochs lr 0.01).
MethodSettings default_settings(const std::string& method);
std::vector<std::string> method_names();  // finetune, gradient-ascent, gaussian-amnesiac, blindspot

// The original model: fresh init, the whole training set, validated on the whole validation set.
MethodResult train_original(const Task& task, const MethodSettings& s);
// The gold reference: fresh init, retain train only, validated on retain val.
MethodResult retrain(const Task& task, const MethodSettings& s);
// Runs an unlearning method (one of method_names()) on a copy of the original.
MethodResult unlearn(const std::string& method, const Task& task, const Model& original, const MethodSettings& s);

// The attention-transfer distance of Blindspot (Zagoruyko & Komodakis; PAPER.md §3.5): for activations
// a, b (m, C, ...): Q(a) = mean over dim 1 of a^2, flattened to (m, -1) and L2-normalised per sample;
// AT = mean of (Q(a) - Q(b))^2. b is the frozen model's and carries no gradient.
Tensor attention_transfer(const Tensor& a, const Tensor& b);

}  // namespace dru
