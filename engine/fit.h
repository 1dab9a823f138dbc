// fit.h — the generic training loop shared by training, retraining and the unlearning methods.
//
// One epoch = begin_epoch hook, then for each batch: zero the gradient arena, compute the loss with the
// pluggable train_loss hook (or stage + staged_loss), backward, one Adam step; then validate, step ReduceLROnPlateau on the
// validation loss and hand its learning rate to Adam. With the arena on CUDA the batch losses are
// summed on the device (a training step never waits for the GPU) and, with validate_device, the
// scheduler runs on the GPU too: the host synchronises once per epoch to read the epoch's numbers. The best-validation weights are kept (in memory
// and, with a checkpoint folder, as best.safetensors). With a folder the loop writes, after every epoch,
// last.state.safetensors: the whole training state in one atomic file (weights, best weights, Adam,
// scheduler, epoch counters, the model's generators), which is all that resume reads, so a run killed at
// any moment resumes to the numbers an uninterrupted run gives; last.safetensors and best.safetensors
// (weights only, for users) are written after it.
// With FitConfig::graphs a full batch's step is one CUDA graph replay (see StepGraph in fit.cpp).
// One log line per epoch goes to the log hook (stdout by default).
//
// Data parallel (engine/comm.h, world() of more than one rank): every rank runs fit with the same
// hooks; train_loss returns the rank's share of the batch loss (its shard's loss scaled by its share
// of the rows, so the shares sum to the single-process loss; undefined when the rank has no rows of
// the batch). Every rank starts from rank 0's weights (one broadcast); the gradient arena is summed
// over the ranks in one all-reduce before each Adam step; batch norm normalises with each rank's own
// shard and its running statistics are rank 0's before every validation (PyTorch DDP's defaults);
// validate must return the same value on every rank; only rank 0 writes checkpoints and calls the log
// hook.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "engine/nn.h"
#include "engine/optim.h"

namespace dru {

struct FitConfig {
  int epochs = 100;
  AdamConfig adam{0.01};
  PlateauConfig plateau{};
  std::string checkpoint_dir;  // empty: nothing written
  bool resume = false;         // continue from checkpoint_dir's last state when present
  bool restore_best = false;   // load the best-validation weights into the model at the end
  // CUDA, one process, with the stage/staged_loss hooks: replay every full batch's training step
  // (forward, loss, backward, Adam) from one CUDA graph. Results equal the eager loop's bit for bit.
  bool graphs = false;
};

struct EpochLog {
  int epoch = 0;  // 1-based
  double train_loss = 0;
  double val_loss = 0;
  double lr = 0;  // the learning rate used during this epoch
  bool improved = false;
  double seconds = 0;
};

struct FitHooks {
  int64_t batches_per_epoch = 0;
  std::function<void(int epoch)> begin_epoch;            // optional: reshuffle, resample
  std::function<Tensor(int64_t batch)> train_loss;       // forward in train mode; a scalar with history
  std::function<double()> validate;                      // eval mode, no grad; the loss the scheduler sees
  // Optional, for models on CUDA: the validation loss as a one-element f32 device tensor. With it the
  // scheduler rule runs on the GPU and the host reads the epoch's numbers once (validate is then unused).
  std::function<Tensor()> validate_device;
  std::function<void(const EpochLog&)> log;              // optional; default prints one line to stdout
  // Optional: train_loss split in two, which CUDA graphs need (FitConfig::graphs). stage(b) does the
  // batch's host work (gathering rows, uploading, augmenting) and returns its tensors on the model's
  // device; staged_loss computes the loss from them with device work alone: no copies to or from the
  // host, no host random draws, nothing that depends on the batch's host values, so one graph captured
  // from it serves every batch of the same shapes. When both are set fit uses them, not train_loss.
  std::function<std::vector<Tensor>(int64_t batch)> stage;
  std::function<Tensor(const std::vector<Tensor>& staged)> staged_loss;
};

struct FitResult {
  std::vector<EpochLog> epochs;
  double best_val = 0;
  int best_epoch = 0;
  int start_epoch = 1;  // > 1 when resumed
  int64_t graph_replays = 0;  // training steps replayed from a CUDA graph (FitConfig::graphs)
};

// Trains model (whose parameters are in arena) with the hooks. The model is left in train mode
// with its last-epoch weights unless restore_best.
FitResult fit(Module& model, ParamArena& arena, const FitHooks& hooks, const FitConfig& cfg);

std::string format_epoch(const EpochLog& e, int epochs);

// Data parallel: copies rank 0's buffers (batch-norm running statistics) to every rank, so models in
// eval mode agree (as PyTorch DDP's broadcast_buffers). Nothing for one process.
void broadcast_buffers(const Module& model);

}  // namespace dru
