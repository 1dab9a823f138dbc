// metrics_stage.h — the metrics stage of one seed of `dru experiment`: every model measured against the gold
// one (unlearn/metrics.h, docs/metrics.md), cached in DIR/metrics.json like the model stages, with the
// per-sample predictions on the training forget set in DIR/predictions/*.npy (sample order).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "unlearn/experiment.h"
#include "unlearn/stage_cache.h"

namespace dru {

// The planted-shift audit's models (--audit planted): the task with the planted forget set, the shift, the
// gold model trained without the planted samples, and per row of the table (the same order as the model
// stages) the model whose planted predictions are compared with the gold model's.
struct PlantedModels {
  const Task* task = nullptr;
  double shift = 0;
  Model* gold = nullptr;
  std::vector<Model*> rows;
};

// The stage's display name ("gold" -> "Retrain", a method -> its table name) and its file name
// ("gold" -> "retrain").
std::string display_name(const std::string& stage);
std::string file_slug(const std::string& stage);

// models: original, gold, then the methods. planted may be null.
SeedResult metrics_stage(const std::filesystem::path& dir, const std::string& key, const Task& task, const Preset& p,
                         uint64_t seed, std::vector<ModelStage>& models, const PlantedModels* planted, bool fresh,
                         bool* cached);

// The point targets of s (y (N, 1) as is; electricity (N, H): the mean over the horizon), the units
// point_predictions uses.
std::vector<double> point_targets(const Samples& s);

}  // namespace dru
