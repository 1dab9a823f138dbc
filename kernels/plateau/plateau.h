// plateau.h — the ReduceLROnPlateau rule, written once for the host and a one-thread CUDA kernel
// (DESIGN decisions 1 and 5: on the GPU the learning rate lives in device memory and this rule
// updates it once per epoch, so the host never waits on the loss).
//
// Matches torch.optim.lr_scheduler.ReduceLROnPlateau (PyTorch 1.13), one parameter group:
//   better(a, best) = a < best (1 - threshold)   min, rel      a < best - threshold   min, abs
//                     a > best (1 + threshold)   max, rel      a > best + threshold   max, abs
//   best starts at +inf (min) or -inf (max). Each step: last_epoch += 1; if better, best = a and
//   num_bad_epochs = 0, else num_bad_epochs += 1; while cooling down the cooldown counter falls by one
//   and bad epochs are forgotten; when num_bad_epochs > patience, new_lr = max(lr factor, min_lr) is
//   taken only if lr - new_lr > eps, and cooldown restarts with num_bad_epochs = 0.
// Learning rate, best and the thresholds are double because PyTorch does this arithmetic on Python
// floats; with float, metrics within a rounding step of best (1 - threshold) could be judged the
// other way and the lr sequence would drift from PyTorch's.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common/hd.h"

namespace dru {

enum class PlateauMode : int32_t { min = 0, max = 1 };
enum class ThresholdMode : int32_t { rel = 0, abs = 1 };

// PyTorch's defaults, except that PyTorch takes the starting lr from the optimiser.
struct PlateauConfig {
  PlateauMode mode = PlateauMode::min;
  double factor = 0.1;  // must be < 1
  int patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::rel;
  int cooldown = 0;
  double min_lr = 0.0;
  double eps = 1e-8;
};

// Plain data so it can live in device memory next to the lr the Adam kernel reads.
struct PlateauState {
  double lr;
  double best;
  int num_bad_epochs;
  int cooldown_counter;
  int last_epoch;
};

DRU_HD PlateauState plateau_init(const PlateauConfig& c, double lr) {
  PlateauState s;
  s.lr = lr;
  s.best = c.mode == PlateauMode::min ? HUGE_VAL : -HUGE_VAL;
  s.num_bad_epochs = 0;
  s.cooldown_counter = 0;
  s.last_epoch = 0;
  return s;
}

// A NaN metric is never better (every comparison is false), as in PyTorch.
DRU_HD bool plateau_is_better(const PlateauConfig& c, double a, double best) {
  if (c.mode == PlateauMode::min)
    return c.threshold_mode == ThresholdMode::rel ? a < best * (1.0 - c.threshold) : a < best - c.threshold;
  return c.threshold_mode == ThresholdMode::rel ? a > best * (c.threshold + 1.0) : a > best + c.threshold;
}

// One epoch's update from the monitored metric; returns true when the lr was reduced.
DRU_HD bool plateau_step(PlateauState& s, const PlateauConfig& c, double metric) {
  s.last_epoch += 1;
  if (plateau_is_better(c, metric, s.best)) {
    s.best = metric;
    s.num_bad_epochs = 0;
  } else {
    s.num_bad_epochs += 1;
  }
  if (s.cooldown_counter > 0) {
    s.cooldown_counter -= 1;
    s.num_bad_epochs = 0;
  }
  if (s.num_bad_epochs <= c.patience) return false;
  double new_lr = s.lr * c.factor;
  if (c.min_lr > new_lr) new_lr = c.min_lr;
  bool reduced = s.lr - new_lr > c.eps;
  if (reduced) s.lr = new_lr;
  // PyTorch restarts the cooldown even when eps (or min_lr) blocked the reduction.
  s.cooldown_counter = c.cooldown;
  s.num_bad_epochs = 0;
  return reduced;
}

}  // namespace dru
