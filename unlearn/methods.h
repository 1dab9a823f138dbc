// methods.h — training the original model and the unlearning methods of docs/paper.md §3, all on the one
// fit loop (engine/fit.h). The methods are one table (method_table): adding a method is one entry plus its
// run function. Every setting's default is the paper's AgeDB schedule; presets apply their own
// (unlearn/presets.cpp, with the source of each number).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/fit.h"
#include "unlearn/task.h"

namespace dru {

struct MethodSettings {
  int epochs = 1;
  double lr = 0.001;
  int64_t batch = 0;            // training batch; 0: the task's (the preset's)
  PlateauConfig plateau{};      // factor 0.1, patience 10 (PyTorch defaults otherwise)
  bool restore_best = false;    // reload the best-validation weights at the end
  std::string checkpoint_dir;   // fit's checkpoints (resume); empty: none
  bool resume = false;
  bool quiet = false;           // no per-epoch lines
  // Blindspot (Algorithm 1)
  double beta = 50;             // attention-transfer weight
  int blindspot_epochs = 2;     // the partially trained "blindspot" model
  double blindspot_lr = 0.01;
  bool blindspot_restore_best = false;  // reload the blindspot model's best-validation epoch
};

struct MethodResult {
  std::unique_ptr<Model> model;
  FitResult fit;
  double seconds = 0;  // wall clock of the whole method
};

// One unlearning method: its command-line name, its name in tables, its defaults, and how it runs on a
// copy of the original model.
struct MethodInfo {
  std::string name, display;
  MethodSettings defaults;
  std::function<MethodResult(const Task&, const Model& original, const MethodSettings&)> run;
};
const std::vector<MethodInfo>& method_table();
// The table's names in order: finetune, gradient-ascent, gaussian-amnesiac, blindspot.
std::vector<std::string> method_names();
// The entry named `method`; throws naming the methods when there is none.
const MethodInfo& method_info(const std::string& method);

// Defaults per stage: "original" / "retrain" (100 epochs, lr 0.01, best-validation weights kept) or a
// method of the table.
MethodSettings default_settings(const std::string& method);

// The original model: fresh init, the whole training set, validated on the whole validation set.
MethodResult train_original(const Task& task, const MethodSettings& s);
// The gold reference ("Retrain" in tables): fresh init, retain train only, validated on retain val.
MethodResult retrain(const Task& task, const MethodSettings& s);
// Runs an unlearning method of the table on a copy of the original; its random streams derive from
// task.seed and the method's name.
MethodResult unlearn(const std::string& method, const Task& task, const Model& original, const MethodSettings& s);

// The attention-transfer distance of Blindspot (Zagoruyko & Komodakis; docs/paper.md §3.5): for activations
// a, b (m, C, ...): Q(a) = mean over dim 1 of a^2, flattened to (m, -1) and L2-normalised per sample;
// AT = mean of (Q(a) - Q(b))^2. b is the frozen model's and carries no gradient.
Tensor attention_transfer(const Tensor& a, const Tensor& b);

// Blindspot's loss of one batch (docs/paper.md §3.5): rows whose sample index (batch.index) is at least
// retain_count are forget rows; with c their share of the batch,
//   L = (1 − c) · L_r + c · (d(M(x_f), B(x_f)) + β · Σ_j AT(a_j^M[f], a_j^B[f]))
// where L_r is the task loss on the retain rows and d the task's output distance (L1 over every
// quantile for quantile forecasts). Exposed for tests of its parts.
Tensor blindspot_batch_loss(const Task& task, double beta, Model& model, Model& blindspot, const Batch& batch,
                            const ModelInput& in, int64_t retain_count);

// The Gaussian-amnesiac training set (Algorithm 2): the retain samples, then the forget samples with their
// targets replaced by draws from N(mean, sd) of all training targets (sample sd), seeded.
Samples amnesiac_training_set(const Task& task, uint64_t seed);

}  // namespace dru
