// task.h — one unlearning problem: a model architecture, a data set split into forget and retain sets,
// and the loss, with the plumbing every method and metric shares (batches to model inputs, the loss,
// evaluation, prediction, copying a model).
//
// Layer: unlearn/ uses models/ and data/, which know nothing of each other; this file joins them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/batching.h"
#include "data/dataset.h"
#include "data/forget.h"
#include "engine/comm.h"
#include "models/model.h"

namespace dru {

enum class LossKind { l1, mse, quantile };

struct Task {
  ModelConfig model;        // what make_model builds (name, sizes, seed)
  DataSet data;             // every split, resident
  ForgetRule rule;
  ForgetSplit train, val, test;  // forget and retain parts of each split (rule applied with split_salt)
  LossKind loss = LossKind::l1;
  std::vector<double> quantiles{0.1, 0.5, 0.9};  // LossKind::quantile (electricity)
  int64_t batch = 256;
  uint64_t seed = 0;        // the run's seed: every random stream derives from it (stream_seed)
  bool augment_eval = false;  // apply training augmentation when evaluating (the paper's quirk, docs/paper.md §6.4)
  // Where models live and compute. The experiment moves the data sets to the GPU when they fit
  // (batches are then gathered there); otherwise each batch is copied to the device as it is gathered.
  // Predictions come back to the host for the metrics.
  Device device = Device::cpu;
  // CUDA: replay each full batch's training step from a CUDA graph where the method's loss allows it
  // (FitConfig::graphs; Blindspot's unlearning loop runs eagerly). The results are the same.
  bool graphs = false;
};

// Builds a Task: applies the rule to every split (count_forget's checks included).
Task make_task(DataSet data, const std::string& rule, ModelConfig model, LossKind loss, int64_t batch,
               uint64_t seed);

// The planted-shift audit's task (docs/metrics.md): a copy of task whose training split has a seeded random
// `fraction` of its samples' targets raised by shift_sd standard deviations of the training (point)
// targets. Those samples are the forget set and the rest the retain set; the validation and test splits
// keep their targets and are all retain (their forget parts are empty). shift is the shift in target
// units.
struct PlantedTask {
  Task task;
  double shift = 0;
};
PlantedTask make_planted_task(const Task& task, double fraction, double shift_sd, uint64_t seed);

// A gathered batch as model input on task.device: u8 images become normalised f32 (augmented when
// train, with the Philox stream (seed, step)); other fields pass through.
ModelInput to_input(const Task& task, const Batch& b, bool train, uint64_t step);

// This rank's shard of a training batch (engine/comm.h): rows [lo, hi) of the batch given by index,
// lo and hi from shard_range, with their model input (on task.device). The input of the whole batch is
// made first and then cut, so an image's augmentation draw (which depends on its place in the batch) is
// the one a single process makes. In a one-process run the shard is the whole batch.
struct TrainShard {
  Batch batch;
  ModelInput in;
  int64_t first = 0, rows = 0, total = 0;  // this rank's rows [first, first + rows) of the batch's total
  // For the forward pass: random draws per row (dropout) match the single process's (engine/comm.h).
  BatchShard scope() const { return BatchShard{first, rows, total}; }
  // A mean loss over this shard's rows weighted by their share of the batch, so the ranks' gradients
  // sum to the whole batch's mean (the loss as is in a one-process run).
  Tensor share(const Tensor& shard_mean) const;
};
TrainShard shard_batch(const Task& task, const Samples& s, const Tensor& index, uint64_t step);

// The task's loss of a prediction against targets (a scalar with history when pred has one); targets
// on the host are moved to the prediction's device.
// Electricity predictions (N, H, Q) are scored against targets (N, H) with the quantile loss.
Tensor task_loss(const Task& task, const Tensor& pred, const Tensor& y);

// The point prediction per sample: pred (N, 1) as is; electricity: the median quantile averaged over
// the horizon (what Wasserstein and the relative difference compare).
std::vector<double> point_predictions(const Task& task, const Tensor& pred);

// Mean of per-batch mean losses in eval mode, no gradient (the paper's `evaluate`, docs/paper.md §4, whose
// last smaller batch weighs as much as the others).
// Data parallel, these three share the batches out among the ranks and combine the results, so every
// rank returns the whole answer: the loss sums are all-reduced, per-sample values are gathered (each
// rank fills its batches' places of a zero vector; the all-reduce sum then copies them exactly). Every
// rank's model must be the same, running statistics included (fit ensures it).
// Each reads results back to the host once per set, not per batch (on CUDA, one wait for the GPU).
double evaluate(Model& model, const Task& task, const Samples& s);
// The same mean as a one-element f32 tensor where the model runs, never read by the host: the fit
// loop's validate_device hook on the GPU (one process only).
Tensor evaluate_on_device(Model& model, const Task& task, const Samples& s);
// Point predictions for every sample of s, in order (eval mode; augmented only if task.augment_eval).
std::vector<double> predict(Model& model, const Task& task, const Samples& s);
// Per-sample losses (eval mode), for the membership-inference attack.
std::vector<double> sample_losses(Model& model, const Task& task, const Samples& s);

// A new model of the task's architecture: fresh (initialised from seed), or a copy of src's weights and
// buffers whose own random streams (dropout) start from seed.
std::unique_ptr<Model> fresh_model(const Task& task, uint64_t seed);
std::unique_ptr<Model> copy_model(const Task& task, const Model& src, uint64_t seed);

// The seed of one named random stream of a run (a stage's initialisation and batch order, the attack's
// sampling, the amnesiac targets, ...): every generator of a run derives from the run's seed this way, so
// two seeds differ in every stream and two streams of one seed never coincide.
uint64_t stream_seed(uint64_t seed, const std::string& stream);

}  // namespace dru
