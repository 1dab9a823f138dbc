// metrics_stage.cpp — see metrics_stage.h.
#include "unlearn/metrics_stage.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/checkpoint.h"
#include "engine/comm.h"

namespace dru {
namespace fs = std::filesystem;

std::string display_name(const std::string& stage) {
  if (stage == "original") return "Original";
  if (stage == "gold") return "Retrain";
  for (const auto& m : method_table())
    if (m.name == stage) return m.display;
  return stage;
}

std::string file_slug(const std::string& stage) { return stage == "gold" ? "retrain" : stage; }

std::vector<double> point_targets(const Samples& s) {
  std::vector<double> y = s.y.to_vector();
  if (s.y.ndim() < 2 || s.y.size(1) == 1) return y;
  const int64_t n = s.y.size(0), h = s.y.size(1);
  std::vector<double> out(size_t(n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < h; ++t) out[size_t(i)] += y[size_t(i * h + t)] / double(h);
  return out;
}

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

nlohmann::json plan_json(const AinPlan& p) {
  nlohmann::json tried = nlohmann::json::array();
  for (const auto& [lr, steps] : p.tried) tried.push_back({lr, steps});
  return {{"lr", p.lr},         {"target", p.target},         {"cap", p.cap},   {"gold_steps", p.gold_steps},
          {"from_ladder", p.from_ladder}, {"min_gold_steps", p.min_gold_steps}, {"tried", tried},
          {"resolved", p.resolved()}};
}

}  // namespace

SeedResult metrics_stage(const fs::path& dir, const std::string& key, const Task& task, const Preset& p,
                         uint64_t seed, std::vector<ModelStage>& models, const PlantedModels* planted, bool fresh,
                         bool* cached) {
  const fs::path json_path = dir / "metrics.json";
  const bool root = world().is_root();
  SeedResult sr;
  sr.seed = seed;
  if (!fresh) {
    auto j = root ? read_json(json_path) : std::nullopt;
    if (root_says(j && j->value("key", "") == key)) {
      if (root) {  // only rank 0's rows are reported
        for (const auto& r : j->at("rows")) sr.rows.push_back(metrics_from_json(r));
        sr.ain_plan = j->at("ain_plan");
        sr.rel_floor = j->at("rel_diff_floor").get<double>();
      }
      *cached = true;
      return sr;
    }
  }
  *cached = false;
  // Every rank computes (the metrics share out their batches); rank 0 writes.
  auto write_npy_root = [root](const fs::path& path, const std::vector<double>& v) {
    if (root) write_npy(path.string(), v);
  };
  if (root) fs::create_directories(dir / "predictions");
  Model& original = *models[0].model;
  Model& gold = *models[1].model;
  const double gold_seconds = models[1].seconds;
  const std::vector<double> gold_pred = predict(gold, task, task.train.forget);
  const std::vector<double> forget_targets = point_targets(task.train.forget);
  write_npy_root(dir / "predictions" / "targets.npy", forget_targets);
  // The relative difference's floor: the spread of the training targets, so that a target near 0 (a
  // standardised load, an STS-B score of 0) neither divides by ~0 nor drops out.
  sr.rel_floor = mean_sd(point_targets(task.data.train)).sd;
  // AIN: the rate, the target and the gold model's count are chosen once per seed and shared by every
  // model (relearning runs on copies).
  const AinPlan plan = plan_ain(task, original, gold, p.ain);
  sr.ain_plan = plan_json(plan);
  std::vector<double> planted_gold;
  if (planted) planted_gold = predict(*planted->gold, *planted->task, planted->task->train.forget);
  for (size_t i = 0; i < models.size(); ++i) {
    const ModelStage& st = models[i];
    Model& m = *st.model;
    ModelMetrics r;
    r.method = display_name(st.name);
    r.retain_loss = evaluate(m, task, task.test.retain);
    r.forget_loss = evaluate(m, task, task.test.forget);
    r.train_forget_loss = evaluate(m, task, task.train.forget);
    const std::vector<double> pred = st.name == "gold" ? gold_pred : predict(m, task, task.train.forget);
    write_npy_root(dir / "predictions" / (file_slug(st.name) + ".npy"), pred);
    r.w1 = wasserstein1(pred, gold_pred);
    r.rel_diff = median(relative_difference(pred, gold_pred, forget_targets, sr.rel_floor));
    const MiaResult mia = membership_attack(m, task, p.mia, stream_seed(seed, "attack"));
    r.mia_forget = mia.forget;
    r.mia_train = mia.train;
    r.mia_test = mia.test;
    r.mia_per_class = mia.per_class;
    r.mia_accuracy = mia.skill.balanced_accuracy;
    r.mia_accuracy_lo = mia.skill.ci.lo;
    r.mia_accuracy_hi = mia.skill.ci.hi;
    r.mia_auc = mia.skill.auc;
    if (st.name != "original") {
      AinResult a;
      if (st.name == "gold") {  // the plan's own count: relearning the gold model again would repeat it
        a.steps = a.gold_steps = plan.gold_steps;
        a.cap = plan.cap;
        a.lr = plan.lr;
        a.ain = plan.gold_steps > 0 ? 1.0 : 0.0;
        a.floor = plan.gold_steps <= 1;
        a.at_cap = plan.gold_steps >= plan.cap;
      } else {
        a = anamnesis_index(task, m, plan);
      }
      r.has_ain = true;
      r.ain = a.ain;
      r.ain_steps = a.steps;
      r.ain_gold_steps = a.gold_steps;
      r.ain_cap = a.cap;
      r.ain_lr = a.lr;
      r.ain_min_gold = plan.min_gold_steps;
      r.ain_floor = a.floor;
      r.ain_at_cap = a.at_cap;
    }
    if (planted && planted->rows.at(i)) {
      r.has_planted = true;
      const std::vector<double> pp = predict(*planted->rows[i], *planted->task, planted->task->train.forget);
      r.planted_kept = planted_shift_kept(pp, planted_gold, planted->shift);
    }
    r.seconds = st.seconds;
    r.speedup = st.seconds > 0 ? gold_seconds / st.seconds : 0;
    sr.rows.push_back(r);
  }
  if (!root) return sr;
  nlohmann::json j{{"stage", "metrics"},       {"key", key}, {"rows", nlohmann::json::array()},
                   {"ain_plan", sr.ain_plan}, {"rel_diff_floor", sr.rel_floor}};
  for (const auto& r : sr.rows) j["rows"].push_back(metrics_to_json(r));
  write_file_atomic(json_path.string(), j.dump(2) + "\n");
  return sr;
}

}  // namespace dru
