// stage_cache.h — the experiment's stage cache (DESIGN decision 9): a stage's result lives in
// DIR/<stage>.safetensors (weights, with the stage's key in the file's metadata) and DIR/<stage>.json (its
// key, wall-clock seconds, settings and epoch log). The JSON is written last, atomically, so a stage counts
// as finished only when it exists; a finished stage is reused only when the key in its JSON AND the key
// inside its weights file both equal the key asked for, so a run killed between the two writes never pairs
// new weights with an old record or the reverse. Only rank 0 reads and writes the folder in a data-parallel
// run; the other ranks receive its decisions and weights.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "unlearn/methods.h"

namespace dru {

// 64-bit FNV-1a of text, as 16 hex digits (stage keys).
std::string hash_hex(const std::string& text);

struct ModelStage {
  std::string name, key;
  std::unique_ptr<Model> model;
  double seconds = 0;
  nlohmann::json epochs;       // the fit's epoch log
  int resumed_from_epoch = 0;  // > 0: this run continued the stage's training from that epoch's checkpoint
};

// Loads the finished stage `name` from dir when its keys match (unless fresh); otherwise calls run, and
// saves the result with settings. *cached says which happened.
ModelStage model_stage(const std::filesystem::path& dir, const std::string& name, const std::string& key,
                       const Task& task, bool fresh, const nlohmann::json& settings,
                       const std::function<MethodResult()>& run, bool* cached);

// A JSON file, or nothing when it is missing or damaged (a damaged stage file is recomputed).
std::optional<nlohmann::json> read_json(const std::filesystem::path& p);

// Data parallel: rank 0 decides (from the folder), every rank gets its answer.
bool root_says(bool yes);

nlohmann::json epochs_json(const FitResult& r);

}  // namespace dru
