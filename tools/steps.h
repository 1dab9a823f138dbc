// steps.h — `dru train`, `dru unlearn` and `dru eval`: the stages of `dru experiment` one at a time, on
// safetensors checkpoints.
//
// A checkpoint written here carries, in its "__metadata__", what rebuilds its task: preset, quick, data
// (the resolved path), rule, seed, the model configuration as JSON, the stage (original, gold or a method)
// and its settings as JSON. `unlearn` and `eval` rebuild the task from that metadata; their --data only
// replaces the recorded data path (a moved checkout), and the rest must still match: the PRESET they are
// given must be the one the checkpoint was trained for, and the data must give the recorded model.
// Checkpoints holding NaN or infinite values are refused; `train` and `unlearn` check that --out can be
// written before they train.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dru {

struct ModelConfig;  // models/model.h

struct StepOptions {
  std::string preset;
  bool quick = false;
  std::string data;          // train: "" = the preset's default; unlearn, eval: "" = the checkpoint's path
  std::string forget;        // train: "" = the preset's rule
  std::string data_root;     // the shipped data folder (<repo>/data)
  uint64_t seed = 0;         // train
  bool retain_only = false;  // train: the gold model (retain set only) instead of the original
  // Overrides of the preset's settings: 0 (epochs, lr) or a negative beta keeps the preset's.
  int epochs = 0;
  double lr = 0;
  double beta = -1;
  std::string method;        // unlearn
  std::string model;         // unlearn, eval: the input checkpoint
  std::string gold;          // eval: the gold checkpoint ("" = none)
  std::string out;           // train, unlearn: the output checkpoint
  bool quiet = false;        // no per-epoch lines
};

// The caller (the CLI, tools/dru.cpp) has checked the flags it marks required and the method name.
// Each throws UsageError (exit 2) for bad presets, rules, paths and mismatched checkpoints, dru::Error
// otherwise. Results go to stdout as "name value" lines.
void run_train_step(const StepOptions& opt);
void run_unlearn_step(const StepOptions& opt);

struct EvalNumbers {
  double retain_loss = 0, forget_loss = 0;  // test split
  bool has_gold = false;
  double w1 = 0;          // vs the gold model's predictions on the training forget set
  double mia_forget = 0;  // fraction of training-forget samples the attack calls "member"
};
EvalNumbers run_eval_step(const StepOptions& opt);

// The "model_config" a checkpoint records: JSON of the ModelConfig fields that define a model
// (architecture and sizes of every model, bert-lite's included, its seed and dropout rates).
std::string model_config_text(const ModelConfig& cfg);
// How a checkpoint's model_config differs from cfg, one "field saved-value in the checkpoint,
// current-value now" per field; empty when they describe the same model. Fields a checkpoint lacks
// (older files) are not differences.
std::vector<std::string> model_config_differences(const std::string& saved_text, const ModelConfig& cfg);

}  // namespace dru
