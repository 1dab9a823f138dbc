// stage_cache.cpp — see stage_cache.h.
#include "unlearn/stage_cache.h"

#include <fmt/format.h>

#include <chrono>
#include <fstream>

#include "engine/checkpoint.h"
#include "engine/comm.h"
#include "engine/failpoint.h"

namespace dru {
namespace fs = std::filesystem;

std::string hash_hex(const std::string& text) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64: offset basis and prime
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

std::optional<nlohmann::json> read_json(const fs::path& p) {
  std::ifstream f(p);
  if (!f) return std::nullopt;
  try {
    return nlohmann::json::parse(f);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool root_says(bool yes) { return world().broadcast(world().is_root() && yes ? 1.0 : 0.0) != 0; }

nlohmann::json epochs_json(const FitResult& r) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : r.epochs)
    a.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"val_loss", e.val_loss}, {"lr", e.lr}});
  return a;
}

namespace {

// Data parallel: rank 0's weights and buffers to every rank (a stage rank 0 read from its folder).
void broadcast_model(const Model& m) {
  if (world().size() == 1) return;
  for (auto& [name, t] : m.state_dict()) {
    Tensor v = t;  // a view of the model's storage: written in place
    world().broadcast(v, 0);
  }
}

// The weights file of a finished stage, when its own key matches (files from before keys were stored
// in them, or from a run killed between the two writes, do not).
std::optional<TensorFile> weights_with_key(const fs::path& weights, const std::string& key) {
  if (!fs::is_regular_file(weights)) return std::nullopt;
  try {
    TensorFile f = load_safetensors(weights.string());
    auto it = f.metadata.find("key");
    if (it == f.metadata.end() || it->second != key) return std::nullopt;
    return f;
  } catch (const std::exception&) {
    return std::nullopt;  // a damaged file is recomputed
  }
}

}  // namespace

ModelStage model_stage(const fs::path& dir, const std::string& name, const std::string& key, const Task& task,
                       bool fresh, const nlohmann::json& settings, const std::function<MethodResult()>& run,
                       bool* cached) {
  ModelStage st;
  st.name = name;
  st.key = key;
  const bool root = world().is_root();
  const fs::path json_path = dir / (name + ".json"), weights = dir / (name + ".safetensors");
  if (!fresh) {
    std::optional<nlohmann::json> j;
    std::optional<TensorFile> w;
    if (root) {
      j = read_json(json_path);
      if (j && j->value("key", "") == key) w = weights_with_key(weights, key);
    }
    if (root_says(j && w)) {
      st.model = fresh_model(task, 0);
      if (root) {
        st.model->load_state_dict(w->tensors);
        st.seconds = j->at("seconds").get<double>();
        st.epochs = j->value("epochs", nlohmann::json::array());
      }
      broadcast_model(*st.model);
      *cached = true;
      return st;
    }
  }
  *cached = false;
  const auto t0 = std::chrono::steady_clock::now();
  MethodResult r = run();
  st.resumed_from_epoch = r.fit.start_epoch > 1 ? r.fit.start_epoch - 1 : 0;
  st.seconds = r.seconds > 0 ? r.seconds : std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  st.model = std::move(r.model);
  st.epochs = epochs_json(r.fit);
  if (!root) return st;
  TensorFile f;
  f.tensors = st.model->state_dict();
  f.metadata = {{"stage", name}, {"key", key}};
  save_safetensors(weights.string(), f);  // weights first: the JSON marks the stage finished
  failpoint("stage.weights_saved");
  nlohmann::json j{{"stage", name}, {"key", key}, {"seconds", st.seconds}, {"settings", settings}, {"epochs", st.epochs}};
  write_file_atomic(json_path.string(), j.dump(2) + "\n");
  return st;
}

}  // namespace dru
