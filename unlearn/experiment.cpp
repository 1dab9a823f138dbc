// experiment.cpp — see experiment.h. Settings as JSON, Ctrl-C, the stage cache, the metrics stage and
// the report; the presets are in presets.cpp and where their data comes from in experiment_data.cpp.
#include "unlearn/experiment.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "data/tokenizer.h"
#include "engine/check.h"
#include "engine/checkpoint.h"
#include "engine/comm.h"
#include "engine/cuda_runtime.h"
#include "unlearn/metrics.h"

namespace dru {
namespace fs = std::filesystem;

nlohmann::json settings_json(const MethodSettings& s) {
  return {{"epochs", s.epochs},
          {"lr", s.lr},
          {"plateau_factor", s.plateau.factor},
          {"plateau_patience", s.plateau.patience},
          {"restore_best", s.restore_best},
          {"beta", s.beta},
          {"blindspot_epochs", s.blindspot_epochs},
          {"blindspot_lr", s.blindspot_lr}};
}

namespace {

const char* loss_name(LossKind k) {
  switch (k) {
    case LossKind::l1: return "L1";
    case LossKind::mse: return "MSE";
    case LossKind::quantile: return "quantile";
  }
  return "?";
}

// What every stage's key shares: the data, the model and the loss.
nlohmann::json data_json(const Preset& p) {
  nlohmann::json j = {{"preset", p.name},        {"dataset", p.dataset},      {"model", p.model},
          {"rule", p.rule},          {"loss", loss_name(p.loss)}, {"batch", p.batch},
          {"data", p.data},          {"max_train", p.max_train},  {"max_val", p.max_val},
          {"max_test", p.max_test},  {"history", p.history},      {"horizon", p.horizon},
          {"stride", p.stride},      {"image_size", p.image_size}};
  // Only the fields a preset uses, so the other presets' keys stay as they were.
  if (p.model == "resnet18") j["small_stem"] = p.small_stem;
  if (p.model == "bert-lite") {
    j["max_len"] = p.max_len;
    j["vocab_size"] = p.vocab_size;
    j["layers"] = p.layers;
    j["hidden"] = p.hidden;
    j["heads"] = p.heads;
    j["ffn"] = p.ffn;
    j["dropout"] = p.dropout;
    j["tokenizer"] = p.tokenizer_hash;
  }
  return j;
}

nlohmann::json metric_json(const Preset& p, double ain_lr) {
  // "version" changes whenever the metrics stage computes something new, so older cached results
  // are recomputed rather than read with the new field missing (2: the relative-difference median).
  return {{"version", 2},           {"mia_samples", p.mia_samples}, {"ain_alpha", p.ain_alpha},
          {"ain_max_epochs", p.ain_max_epochs}, {"ain_lr", ain_lr}};
}

}  // namespace

nlohmann::json preset_json(const Preset& p) {
  nlohmann::json j = data_json(p);
  j["original"] = settings_json(p.original);
  j["gold"] = settings_json(p.gold);
  for (const auto& [m, s] : p.methods) j["methods"][m] = settings_json(s);
  return j;
}

std::string hash_hex(const std::string& text) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64: offset basis and prime
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

// ---- Ctrl-C -------------------------------------------------------------------------------------

std::atomic<bool>& interrupt_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

namespace {
extern "C" void on_sigint(int) {
  if (interrupt_flag().exchange(true)) {  // the second Ctrl-C: die as usual
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  const char msg[] = "\ndru: interrupted: finishing the stage in flight, then saving and exiting "
                     "(Ctrl-C again to abort)\n";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  (void)ignored;
}
}  // namespace

void install_sigint_handler() { std::signal(SIGINT, on_sigint); }

namespace {

// ---- where the data live ------------------------------------------------------------------------

// On a GPU: every split of the task moves there when all of them fit in a quarter of its free memory.
// Batches are then gathered there (index_select takes the host's row numbers and uploads them), so a
// training step copies a few row numbers instead of the batch's samples. Otherwise the data stay on
// the host and each batch is copied as it is gathered. The values are the same either way.
void keep_data_on_device(Task& t, bool say) {
  std::vector<Samples*> all{&t.data.train,   &t.data.val,     &t.data.test,  &t.train.forget, &t.train.retain,
                            &t.val.forget,   &t.val.retain,   &t.test.forget, &t.test.retain};
  int64_t bytes = 0;
  for (const Samples* s : all) bytes += s->tensor_bytes();
  const double gib = double(bytes) / double(1 << 30), free_gib = double(cuda::free_memory()) / double(1 << 30);
  if (gib > free_gib / 4) {
    if (say)
      std::fprintf(stderr, "dru: the data (%.2f GiB) exceed a quarter of the GPU's %.2f GiB free; batches are copied "
                           "from the host as they are gathered\n", gib, free_gib);
    return;
  }
  for (Samples* s : all) *s = s->to(Device::cuda);
  if (say) std::fprintf(stderr, "dru: the data (%.2f GiB) live on the GPU; batches are gathered there\n", gib);
}

// ---- stages -------------------------------------------------------------------------------------

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string clock_text(double s) {
  const long t = long(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60) : fmt::format("{}:{:02}", t / 60, t % 60);
}

const std::map<std::string, std::string>& display_names() {
  static const std::map<std::string, std::string> m{{"original", "Original"},
                                                    {"gold", "Retrain"},
                                                    {"finetune", "Finetune"},
                                                    {"gradient-ascent", "Gradient ascent"},
                                                    {"gaussian-amnesiac", "Gaussian amnesiac"},
                                                    {"blindspot", "Blindspot"}};
  return m;
}
std::string display(const std::string& stage) {
  auto it = display_names().find(stage);
  return it == display_names().end() ? stage : it->second;
}

std::optional<nlohmann::json> read_json(const fs::path& p) {
  std::ifstream f(p);
  if (!f) return std::nullopt;
  try {
    return nlohmann::json::parse(f);
  } catch (const std::exception&) {
    return std::nullopt;  // a damaged stage file is recomputed
  }
}

nlohmann::json epochs_json(const FitResult& r) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& e : r.epochs)
    a.push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"val_loss", e.val_loss}, {"lr", e.lr}});
  return a;
}

class Runner {
 public:
  Runner(const ExperimentOptions& opt, const Preset& p, ExperimentSummary& sum) : opt_(opt), p_(p), sum_(sum) {
    // Weights for the ETA: roughly epochs over the whole training set.
    per_seed_weight_ = p.original.epochs + p.gold.epochs + 3.0;
    for (const auto& [m, s] : p.methods) per_seed_weight_ += s.epochs + (m == "blindspot" ? s.blindspot_epochs : 0);
    total_stages_ = opt.seeds * int(2 + p.methods.size() + 1);
  }

  double weight(const std::string& stage) const {
    if (stage == "original") return p_.original.epochs;
    if (stage == "gold") return p_.gold.epochs;
    if (stage == "metrics") return 3.0;
    const auto& s = p_.methods.at(stage);
    return s.epochs + (stage == "blindspot" ? s.blindspot_epochs : 0);
  }

  // Called after every stage: the progress line, then Ctrl-C and stop_after.
  void done(const std::string& stage, uint64_t seed, int seed_index, bool cached, double seconds) {
    ++stage_no_;
    done_weight_ += weight(stage);
    if (cached) {
      ++sum_.stages_cached;
    } else {
      ++sum_.stages_run;
      run_weight_ += weight(stage);
      run_seconds_ += seconds;
    }
    if (opt_.progress && world().is_root()) {
      std::string eta;
      const double left = per_seed_weight_ * opt_.seeds - done_weight_;
      if (run_weight_ > 0 && left > 0) eta = fmt::format(", ETA ~{}", clock_text(run_seconds_ / run_weight_ * left));
      std::fprintf(stderr, "dru: [%d/%d] seed %llu %s: %s (elapsed %s%s)\n", stage_no_, total_stages_,
                   static_cast<unsigned long long>(seed), display(stage).c_str(),
                   cached ? "cached" : fmt::format("{:.1f} s", seconds).c_str(), clock_text(since(start_)).c_str(),
                   eta.c_str());
    }
    // Data parallel: every rank stops after the same stage when any rank saw Ctrl-C.
    const bool interrupted = world().all_reduce(interrupt_flag().load() ? 1.0 : 0.0) > 0;
    if (interrupted)
      throw Interrupted(fmt::format("interrupted after the {} stage of seed {}: finished stages are saved in {}; run "
                                    "the same command again to continue",
                                    display(stage), seed, sum_.out));
    if (seed_index == 0 && stage == opt_.stop_after)
      throw Interrupted(fmt::format("stopped after the {} stage of seed {} (--stop-after); finished stages are saved in {}",
                                    display(stage), seed, sum_.out));
  }

 private:
  const ExperimentOptions& opt_;
  const Preset& p_;
  ExperimentSummary& sum_;
  Clock::time_point start_ = Clock::now();
  double per_seed_weight_ = 0, done_weight_ = 0, run_weight_ = 0, run_seconds_ = 0;
  int stage_no_ = 0, total_stages_ = 0;
};

struct ModelStage {
  std::string name, key;
  std::unique_ptr<Model> model;
  double seconds = 0;
  nlohmann::json epochs;
};

// Data parallel: rank 0 reads the output folder and decides; the others follow its answer.
bool root_says(bool yes) { return world().broadcast(world().is_root() && yes ? 1.0 : 0.0) != 0; }

// Data parallel: rank 0's weights and buffers to every rank (a stage rank 0 read from its folder).
void broadcast_model(const Model& m) {
  if (world().size() == 1) return;
  for (auto& [name, t] : m.state_dict()) {
    Tensor v = t;  // a view of the model's storage: written in place
    world().broadcast(v, 0);
  }
}

// Loads the finished stage `name` when its key matches; otherwise runs it and saves it. Only rank 0
// reads and writes the folder.
ModelStage model_stage(const fs::path& dir, const std::string& name, const std::string& key, const Task& task,
                       bool fresh, const nlohmann::json& settings, const std::function<MethodResult()>& run,
                       bool* cached) {
  ModelStage st;
  st.name = name;
  st.key = key;
  const bool root = world().is_root();
  const fs::path json_path = dir / (name + ".json"), weights = dir / (name + ".safetensors");
  if (!fresh) {
    auto j = root ? read_json(json_path) : std::nullopt;
    if (root_says(j && j->value("key", "") == key && fs::exists(weights))) {
      st.model = fresh_model(task, 0);
      if (root) {
        st.model->load_state_dict(load_safetensors(weights.string()).tensors);
        st.seconds = j->at("seconds").get<double>();
        st.epochs = j->value("epochs", nlohmann::json::array());
      }
      broadcast_model(*st.model);
      *cached = true;
      return st;
    }
  }
  *cached = false;
  const auto t0 = Clock::now();
  MethodResult r = run();
  st.seconds = r.seconds > 0 ? r.seconds : since(t0);
  st.model = std::move(r.model);
  st.epochs = epochs_json(r.fit);
  if (!root) return st;
  TensorFile f;
  f.tensors = st.model->state_dict();
  f.metadata = {{"stage", name}, {"key", key}};
  save_safetensors(weights.string(), f);  // weights first: the JSON marks the stage finished
  nlohmann::json j{{"stage", name}, {"key", key}, {"seconds", st.seconds}, {"settings", settings}, {"epochs", st.epochs}};
  write_file_atomic(json_path.string(), j.dump(2) + "\n");
  return st;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// The point targets of s (y (N, 1) as is; electricity (N, H): the mean over the horizon), the units
// point_predictions uses.
std::vector<double> point_targets(const Samples& s) {
  std::vector<double> y = s.y.to_vector();
  if (s.y.ndim() < 2 || s.y.size(1) == 1) return y;
  const int64_t n = s.y.size(0), h = s.y.size(1);
  std::vector<double> out(size_t(n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < h; ++t) out[size_t(i)] += y[size_t(i * h + t)] / double(h);
  return out;
}

std::string slug(const std::string& stage) { return stage == "gold" ? "retrain" : stage; }

// The metrics stage of one seed: every model against the gold one (PAPER.md §4). Writes metrics.json
// and predictions/*.npy (training forget set, in sample order) and returns the rows.
std::vector<ModelMetrics> metrics_stage(const fs::path& dir, const std::string& key, const Task& task, const Preset& p,
                                        double ain_lr, uint64_t seed, std::vector<ModelStage>& models, bool fresh,
                                        bool* cached) {
  const fs::path json_path = dir / "metrics.json";
  const bool root = world().is_root();
  if (!fresh) {
    auto j = root ? read_json(json_path) : std::nullopt;
    if (root_says(j && j->value("key", "") == key)) {
      std::vector<ModelMetrics> rows;  // only rank 0's rows are reported
      if (root)
        for (const auto& r : j->at("rows")) rows.push_back(metrics_from_json(r));
      *cached = true;
      return rows;
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
  // AIN: the target is (1 + alpha) x the original's validation forget loss; the gold model's step count
  // is measured once (on a copy inside relearn_steps) and shared by every method.
  const double target = (1 + p.ain_alpha) * evaluate(original, task, task.val.forget);
  const int64_t gold_steps = relearn_steps(task, gold, target, ain_lr, p.ain_max_epochs);
  const int64_t cap = relearn_cap(task, p.ain_max_epochs);
  std::vector<ModelMetrics> rows;
  for (auto& st : models) {
    Model& m = *st.model;
    ModelMetrics r;
    r.method = display(st.name);
    r.retain_loss = evaluate(m, task, task.test.retain);
    r.forget_loss = evaluate(m, task, task.test.forget);
    const std::vector<double> pred = st.name == "gold" ? gold_pred : predict(m, task, task.train.forget);
    write_npy_root(dir / "predictions" / (slug(st.name) + ".npy"), pred);
    r.w1 = wasserstein1(pred, gold_pred);
    r.rel_diff = median(relative_difference(pred, gold_pred, forget_targets));
    MiaResult mia = membership_attack(m, task, p.mia_samples, seed);
    r.mia_forget = mia.forget;
    r.mia_train = mia.train;
    r.mia_test = mia.test;
    if (st.name != "original") {
      r.has_ain = true;
      r.ain_gold_steps = gold_steps;
      r.ain_steps = st.name == "gold" ? gold_steps : relearn_steps(task, m, target, ain_lr, p.ain_max_epochs);
      r.ain = double(r.ain_steps) / double(gold_steps);
      r.ain_floor = r.ain_steps == 1 && gold_steps == 1;
      r.ain_cap = cap;
    }
    r.seconds = st.seconds;
    r.speedup = st.seconds > 0 ? gold_seconds / st.seconds : 0;
    rows.push_back(r);
  }
  if (!root) return rows;
  nlohmann::json j{{"stage", "metrics"}, {"key", key}, {"rows", nlohmann::json::array()}};
  for (const auto& r : rows) j["rows"].push_back(metrics_to_json(r));
  write_file_atomic(json_path.string(), j.dump(2) + "\n");
  return rows;
}

// The plots: relative prediction difference density per model (pooled over seeds, PAPER.md §4.5) and
// the training curves of the original and gold models (first seed).
void write_plots(const fs::path& out, const Preset& p, const std::vector<uint64_t>& seeds,
                 const std::vector<std::string>& stages, ExperimentSummary& sum) {
  const double lo = 0, hi = 2;
  const int bins = 40;
  std::vector<Curve> curves;
  for (const auto& stage : stages) {
    if (stage == "gold") continue;
    std::vector<double> rel;
    for (uint64_t s : seeds) {
      const fs::path pd = out / fmt::format("seed{}", s) / "predictions";
      std::vector<double> y = read_npy((pd / "targets.npy").string());
      std::vector<double> g = read_npy((pd / "retrain.npy").string());
      std::vector<double> m = read_npy((pd / (slug(stage) + ".npy")).string());
      std::vector<double> r = relative_difference(m, g, y);
      rel.insert(rel.end(), r.begin(), r.end());
    }
    Curve c;
    c.label = display(stage);
    c.y = density(rel, lo, hi, bins);
    for (int b = 0; b < bins; ++b) c.x.push_back(lo + (b + 0.5) * (hi - lo) / bins);
    curves.push_back(c);
  }
  std::string why;
  if (!plot_curves((out / "relative_difference.png").string(),
                   fmt::format("{}: relative prediction difference from the retrained model (train forget set)", p.name),
                   "|pred - retrain| / |y|", "density", curves, &why))
    sum.plot_notes.push_back("relative_difference.png skipped: " + why);

  std::vector<Curve> train;
  for (const char* stage : {"original", "gold"}) {
    auto j = read_json(out / fmt::format("seed{}", seeds.front()) / (std::string(stage) + ".json"));
    if (!j) continue;
    Curve t, v;
    t.label = display(stage) + " train";
    v.label = display(stage) + " validation";
    for (const auto& e : j->value("epochs", nlohmann::json::array())) {
      t.x.push_back(e.at("epoch").get<double>());
      v.x.push_back(e.at("epoch").get<double>());
      t.y.push_back(e.at("train_loss").get<double>());
      v.y.push_back(e.at("val_loss").get<double>());
    }
    if (!t.x.empty()) {
      train.push_back(t);
      train.push_back(v);
    }
  }
  if (!train.empty() && !plot_curves((out / "training_curves.png").string(),
                                     fmt::format("{}: training curves (seed {})", p.name, seeds.front()), "epoch",
                                     std::string(loss_name(p.loss)) + " loss", train, &why))
    sum.plot_notes.push_back("training_curves.png skipped: " + why);
}

}  // namespace

// ---- the run ------------------------------------------------------------------------------------

ExperimentSummary run_experiment(const ExperimentOptions& opt) {
  Preset p = make_preset(opt.preset, opt.quick);
  if (opt.device != "cpu" && opt.device != "cuda")
    throw UsageError(fmt::format("--device '{}': choose cpu or cuda", opt.device));
  if (opt.device == "cuda" && cuda_device_count() == 0)
    DRU_FAIL("--device cuda: {}; run with --device cpu",
             cuda_compiled() ? "no GPU is visible (check the driver and CUDA_VISIBLE_DEVICES)"
                             : "this build has no CUDA backend (rebuild where the CUDA toolkit exists)");
  if (opt.graphs && opt.device != "cuda") throw UsageError("--graphs needs --device cuda");
  if (opt.seeds < 1) throw UsageError(fmt::format("--seeds {}: need at least 1", opt.seeds));
  if (opt.resume && opt.fresh) throw UsageError("--resume and --fresh contradict each other: pick one");
  if (!opt.forget.empty()) p.rule = opt.forget;
  if (opt.adjust) opt.adjust(p);
  const std::vector<std::string> stages = [&] {
    std::vector<std::string> s{"original", "gold"};
    for (const auto& m : method_names()) s.push_back(m);
    return s;
  }();
  if (!opt.stop_after.empty() && opt.stop_after != "metrics" &&
      std::find(stages.begin(), stages.end(), opt.stop_after) == stages.end())
    throw UsageError(fmt::format("--stop-after '{}': not a stage (original, gold, {}, metrics)", opt.stop_after,
                                 fmt::join(method_names(), ", ")));

  ExperimentSummary sum;
  sum.out = opt.out.empty() ? "results/" + p.name + (opt.quick ? "-quick" : "") : opt.out;
  const fs::path out(sum.out);

  // Data parallel: every rank loads the data and computes; rank 0 alone prints and writes the folder.
  const bool root = world().is_root();
  ModelConfig cfg;
  Tokenizer tokenizer;
  const DataSet data = load_preset_data(p, opt, cfg, !opt.progress || !root, &tokenizer);
  // The rule is checked (and the counts shown) before any training.
  {
    const std::vector<ForgetCounts> counts = count_forget(data, preset_forget_rule(p, data));
    if (opt.progress && root) {
      std::fprintf(stderr, "dru: experiment %s%s on %s, %d seed%s, output %s\n", p.name.c_str(),
                   opt.quick ? " --quick" : "", opt.device.c_str(), opt.seeds, opt.seeds == 1 ? "" : "s",
                   sum.out.c_str());
      if (world().size() > 1)
        std::fprintf(stderr, "dru: data parallel over %d ranks (%s)\n", world().size(), world().backend().c_str());
      std::fprintf(stderr, "dru: data %s; forget %s:", p.data.c_str(), p.rule.c_str());
      for (const auto& c : counts)
        std::fprintf(stderr, " %s %lld/%lld", c.split.c_str(), static_cast<long long>(c.forget),
                     static_cast<long long>(c.total));
      std::fprintf(stderr, "\ndru: model %s, %s loss, batch %lld; epochs: original %d, retrain %d", p.model.c_str(),
                   loss_name(p.loss), static_cast<long long>(p.batch), p.original.epochs, p.gold.epochs);
      for (const auto& m : method_names()) std::fprintf(stderr, ", %s %d", m.c_str(), p.methods.at(m).epochs);
      std::fprintf(stderr, "; AIN lr %g, cap %d epochs\n", opt.ain_lr, p.ain_max_epochs);
    }
  }
  if (root) fs::create_directories(out);
  if (p.model == "bert-lite" && root) tokenizer.save((out / "tokenizer.txt").string());  // for reference; retrained each run

  ResultSet& rs = sum.results;
  rs.preset = p.name;
  rs.device = opt.device;
  rs.rule = p.rule;
  rs.data = p.data;
  rs.loss = loss_name(p.loss);
  rs.quick = opt.quick;
  rs.ain_lr = opt.ain_lr;
  rs.settings = preset_json(p);
  rs.settings["metrics"] = metric_json(p, opt.ain_lr);
  rs.notes.push_back(
      "Losses on the test split's retain and forget parts; W1 and the relative difference on the training forget "
      "set; MIA = fraction of training-forget samples a loss-based RBF SVM calls \"member\" (weak on regression "
      "losses, PAPER.md §6.21); AIN = relearning steps of the model over the gold model's to reach 1.05 x the "
      "original's validation forget loss (on copies); time = the stage's wall clock.");

  Runner runner(opt, p, sum);
  const nlohmann::json base = data_json(p);
  std::vector<uint64_t> seeds;
  for (int k = 0; k < opt.seeds; ++k) {
    const uint64_t seed = opt.first_seed + uint64_t(k);
    seeds.push_back(seed);
    const fs::path dir = out / fmt::format("seed{}", seed);
    if (root) fs::create_directories(dir);
    ModelConfig mc = cfg;
    mc.seed = seed;
    Task task = make_task(data, p.rule, mc, p.loss, p.batch, seed);
    task.device = opt.device == "cuda" ? Device::cuda : Device::cpu;
    task.graphs = opt.graphs;  // the same results as eager steps: not part of the stage keys
    if (task.device == Device::cuda) keep_data_on_device(task, opt.progress && root && k == 0);
    auto key_of = [&](const std::string& stage, const nlohmann::json& settings, const std::vector<std::string>& inputs) {
      nlohmann::json j{{"stage", stage}, {"base", base}, {"seed", seed}, {"settings", settings}, {"inputs", inputs}};
      if (task.device == Device::cuda) j["device"] = "cuda";  // GPU results differ from the CPU's in rounding
      return hash_hex(j.dump());
    };
    // The checkpoint folder carries the stage key, so a changed setting never resumes a stale state.
    auto with_ckpt = [&](MethodSettings s, const std::string& stage, const std::string& key) {
      s.quiet = true;
      if (opt.resume) {
        s.checkpoint_dir = (dir / (stage + "." + key + ".ckpt")).string();
        s.resume = true;
      }
      return s;
    };
    std::vector<ModelStage> models;
    bool cached = false;
    {
      const std::string key = key_of("original", settings_json(p.original), {});
      const auto s = with_ckpt(p.original, "original", key);
      models.push_back(model_stage(dir, "original", key, task, opt.fresh,
                                   settings_json(p.original), [&] { return train_original(task, s); }, &cached));
      runner.done("original", seed, k, cached, models.back().seconds);
    }
    {
      const std::string key = key_of("gold", settings_json(p.gold), {});
      const auto s = with_ckpt(p.gold, "gold", key);
      models.push_back(model_stage(dir, "gold", key, task, opt.fresh,
                                   settings_json(p.gold), [&] { return retrain(task, s); }, &cached));
      runner.done("gold", seed, k, cached, models.back().seconds);
    }
    for (const auto& m : method_names()) {
      MethodSettings s = p.methods.at(m);
      s.quiet = true;
      const Model& original = *models[0].model;
      models.push_back(model_stage(dir, m, key_of(m, settings_json(s), {models[0].key}), task, opt.fresh,
                                   settings_json(s), [&] { return unlearn(m, task, original, s); }, &cached));
      runner.done(m, seed, k, cached, models.back().seconds);
    }
    std::vector<std::string> keys;
    for (const auto& st : models) keys.push_back(st.key);
    const auto t0 = Clock::now();
    SeedResult sr;
    sr.seed = seed;
    sr.rows = metrics_stage(dir, key_of("metrics", metric_json(p, opt.ain_lr), keys), task, p, opt.ain_lr, seed,
                            models, opt.fresh, &cached);
    rs.seeds.push_back(std::move(sr));
    runner.done("metrics", seed, k, cached, since(t0));
  }
  if (root) {
    write_results(out.string(), rs);
    write_plots(out, p, seeds, stages, sum);
  }
  return sum;
}

}  // namespace dru
