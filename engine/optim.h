// optim.h — Adam over the parameter arena, ReduceLROnPlateau, and their saved training state.
//
// Adam keeps its two moment buffers as flat (P) tensors beside the arena (DESIGN decision 4), so a
// step is one loop on the CPU and one kernel on the GPU; the element math is kernels/adam/adam.h.
// ReduceLROnPlateau owns the current learning rate (kernels/plateau/plateau.h); the fit loop copies
// it into Adam with set_lr after each epoch (on the GPU both live in device memory).
// Both match PyTorch 1.13 (tests/test_optim.cpp compares against tools/fixtures/make_optim_fixture.py).
// Their state goes into one safetensors file beside the model checkpoint (DESIGN decision 8): tensors
// "adam.m" and "adam.v", and metadata keys "adam.*" and "plateau.*".
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "engine/arena.h"
#include "engine/checkpoint.h"
#include "engine/cuda_runtime.h"
#include "kernels/plateau/plateau.h"

namespace dru {

// torch.optim.Adam's defaults; weight_decay is L2 added to the gradient (not AdamW).
struct AdamConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};

class Adam {
 public:
  // The arena must be finalized and outlive the optimiser; moments start at zero like PyTorch's.
  Adam(ParamArena& arena, AdamConfig cfg = {});

  void step();       // one update of arena.values from arena.grads
  void zero_grad();  // arena.zero_grad()
  double lr() const { return cfg_.lr; }
  void set_lr(double lr);
  int64_t steps() const { return int64_t(step_); }
  const AdamConfig& config() const { return cfg_; }
  const Tensor& exp_avg() const { return m_; }     // (P) first moment
  const Tensor& exp_avg_sq() const { return v_; }  // (P) second moment
  // On a CUDA arena the learning rate also lives in device memory (one f32) where the kernel reads
  // it: set_lr writes it there, and ReduceLROnPlateau::step_device writes it without the host.
  // nullptr on the CPU.
  float* lr_device() const { return lr_dev_.defined() ? lr_dev_.data<float>() : nullptr; }
  // On CUDA step() queues a one-thread kernel that computes the step's scalars, then the update that
  // reads them. Inside a CUDA graph's capture (cuda_runtime.h) the kernel reads the step count from a
  // replay counter over steps(): each replay takes the next step and counts it; capturing counts none.

  // A host snapshot: tensors adam.m, adam.v; metadata adam.step, adam.lr, adam.beta1, adam.beta2,
  // adam.eps, adam.weight_decay and adam.params (the arena's name/shape table, to catch a state from
  // another model).
  TensorFile state() const;
  // Restores moments, step count and hyperparameters (as torch's load_state_dict does). Everything is
  // checked before anything changes; errors say which tensor or key is wrong.
  void load_state(const TensorFile& file);

 private:
  ParamArena& arena_;
  AdamConfig cfg_;
  Tensor m_, v_;
  Tensor lr_dev_;       // (1) f32 on the device, CUDA arenas only
  Tensor scalars_dev_;  // a captured step's scalars (AdamScalars<float> as bytes), CUDA arenas only
  uint64_t step_ = 0;   // steps taken (a replay counter inside capture)
};

class ReduceLROnPlateau {
 public:
  // lr is the starting learning rate (PyTorch reads it from the optimiser).
  ReduceLROnPlateau(const PlateauConfig& cfg, double lr);

  bool step(double metric);  // true when the lr was reduced
  double lr() const { return s_.lr; }
  // The same rule on the GPU (a one-thread kernel): the metric is a one-element f32 CUDA tensor, the
  // state lives in device memory and the new lr is written to lr_out (Adam::lr_device()), so the host
  // waits for nothing. Until the state is read back (device_state_read, folded into the fit loop's
  // once-per-epoch readback) lr() and state() show the state before the device steps.
  void step_device(const Tensor& metric, float* lr_out);
  cuda::HostRead device_state_read();
  const PlateauState& state() const { return s_; }
  const PlateauConfig& config() const { return cfg_; }

  // Metadata keys plateau.* holding the state and the configuration. Loading restores both, as
  // torch's load_state_dict does; a missing or malformed key is an error naming it.
  std::map<std::string, std::string> state_metadata() const;
  void load_state_metadata(const std::map<std::string, std::string>& meta);

 private:
  PlateauConfig cfg_;
  PlateauState s_;
  Tensor dev_state_;          // sizeof(PlateauState) bytes on the device
  bool dev_current_ = false;  // dev_state_ holds s_ (or newer)
};

// One safetensors file with Adam's moments and both objects' metadata, written atomically.
void save_train_state(const std::string& path, const Adam& adam, const ReduceLROnPlateau& plateau);
// Restores both or neither; errors name the file.
void load_train_state(const std::string& path, Adam& adam, ReduceLROnPlateau& plateau);
// The same from a file already read (extra tensors and metadata are ignored); errors name `where`.
void load_train_state(const TensorFile& f, Adam& adam, ReduceLROnPlateau& plateau, const std::string& where);

}  // namespace dru
