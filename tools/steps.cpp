// steps.cpp — see steps.h.
//
// The data comes from load_preset_data, experiment.cpp's own loader, so a checkpoint from `dru train` is a
// model of the same task `dru experiment` builds for the preset.
#include "tools/steps.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include "data/tokenizer.h"
#include "engine/check.h"
#include "engine/checkpoint.h"
#include "unlearn/experiment.h"
#include "unlearn/metrics.h"

namespace dru {
namespace fs = std::filesystem;

namespace {

// The ModelConfig fields that define a model, grouped by the models that read them. The bert-lite
// group came later than the others: model_config_differences accepts checkpoints without it.
nlohmann::json config_json(const ModelConfig& c) {
  return {{"name", c.name}, {"seed", c.seed},
          // allcnn, resnet18
          {"small_stem", c.small_stem}, {"image_size", c.image_size},
          // stsb-lstm (seq_len also bert-lite's example-input length)
          {"embed_dim", c.embed_dim}, {"seq_len", c.seq_len}, {"lstm_dropout", c.lstm_dropout},
          // bert-lite
          {"vocab", c.vocab}, {"layers", c.layers}, {"hidden", c.hidden}, {"heads", c.heads}, {"ffn", c.ffn},
          {"max_positions", c.max_positions}, {"dropout", c.dropout},
          // electricity-lstm (lstm_dropout too)
          {"customers", c.customers}, {"history", c.history}, {"horizon", c.horizon}};
}

// The task of a preset: its data, model and loss with the given rule ("" = the preset's) and seed.
Task build_task(Preset& p, const std::string& data, const std::string& rule, const std::string& data_root,
                uint64_t seed) {
  if (!rule.empty()) p.rule = rule;
  ModelConfig cfg;
  ExperimentOptions eo;
  eo.data = data;
  eo.data_root = data_root;
  Tokenizer tokenizer;  // stsb-bertlite trains its tokenizer while loading
  DataSet ds = load_preset_data(p, eo, cfg, true, &tokenizer);
  (void)preset_forget_rule(p, ds);  // a bad --forget is a usage error, not make_task's runtime error
  cfg.seed = seed;
  return make_task(std::move(ds), p.rule, cfg, p.loss, p.batch, seed);
}

void apply_overrides(MethodSettings& s, const StepOptions& opt) {
  if (opt.epochs > 0) s.epochs = opt.epochs;
  if (opt.lr > 0) s.lr = opt.lr;
  if (opt.beta >= 0) s.beta = opt.beta;
  s.quiet = opt.quiet;
}

// Checks, before any training, that --out can be written: not empty, not a folder, its folder creatable
// and writable (a temporary file is created there, as save_safetensors will, and removed). Otherwise a
// bad --out failed only after the whole training, losing it.
void check_output_path(const std::string& out) {
  if (out.empty()) throw UsageError("--out is empty: give the model file to write (.safetensors)");
  std::error_code ec;
  if (fs::is_directory(out, ec))
    throw UsageError(fmt::format("--out {} is a folder: give a file name, e.g. {}/model.safetensors", out,
                                 fs::path(out).lexically_normal().string()));
  const fs::path parent = fs::path(out).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    fs::create_directories(parent, ec);
    if (ec)
      throw UsageError(fmt::format("--out {}: cannot create its folder {} ({}); choose a writable place", out,
                                   parent.string(), ec.message()));
  }
  const std::string probe = fmt::format("{}.tmp.{}", out, ::getpid());  // save_safetensors' temporary name
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    throw UsageError(fmt::format("--out {}: cannot write in {} ({}); choose a writable place", out,
                                 parent.empty() ? "." : parent.string(), std::strerror(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
}

// A NaN or infinite weight makes every prediction, loss and metric NaN: refused with the tensor named
// rather than printed as "nan" with exit 0.
void check_finite(const TensorFile& f, const std::string& path) {
  for (const auto& [name, t] : f.tensors) {
    if (t.dtype() != DType::f32 && t.dtype() != DType::f64) continue;  // load_state_dict checks the dtypes
    const int64_t bad = dispatch_float(t.dtype(), "check_finite", [&](auto tag) {
      using T = decltype(tag);
      const T* v = t.data<T>();
      int64_t n = 0;
      for (int64_t i = 0; i < t.numel(); ++i) n += !std::isfinite(v[i]);
      return n;
    });
    DRU_CHECK(bad == 0, "{}: tensor '{}' holds {} NaN or infinite value{} (of {}): the model diverged or the file is "
              "damaged; train it again", path, name, bad, bad == 1 ? "" : "s", t.numel());
  }
}

void save_model(const std::string& path, const Model& m, std::map<std::string, std::string> meta) {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  TensorFile f;
  f.tensors = m.state_dict();
  f.metadata = std::move(meta);
  save_safetensors(path, f);
}

std::map<std::string, std::string> task_metadata(const Preset& p, bool quick, const Task& task) {
  return {{"format", "dru-step-1"},
          {"preset", p.name},
          {"quick", quick ? "true" : "false"},
          {"data", p.data},
          {"rule", p.rule},
          {"seed", std::to_string(task.seed)},
          {"model_config", config_json(task.model).dump()}};
}

// A checkpoint written by `dru train` or `dru unlearn`, with the task its metadata describes.
struct Loaded {
  TensorFile file;
  Preset preset;
  bool quick = false;
  Task task;
  std::unique_ptr<Model> model;
};

std::string meta_or_fail(const TensorFile& f, const std::string& path, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end())
    throw UsageError(fmt::format("{}: not a dru train/unlearn checkpoint (no '{}' in its metadata)", path, key));
  return it->second;
}

TensorFile read_checkpoint(const std::string& path, const std::string& flag, const std::string& preset) {
  if (!fs::is_regular_file(path)) throw UsageError(fmt::format("{} {}: no such file", flag, path));
  TensorFile f = load_safetensors(path);
  const std::string p = meta_or_fail(f, path, "preset");
  if (p != preset)
    throw UsageError(fmt::format("{} was trained for preset '{}', not '{}'", path, p, preset));
  return f;
}

// The stage a checkpoint records ("original", "gold" or a method); "" in files that predate it.
std::string stage_of(const TensorFile& f) {
  auto it = f.metadata.find("stage");
  return it == f.metadata.end() ? "" : it->second;
}

// Loads `path` for preset; the task is rebuilt from its metadata (with --data, from that data instead of
// the recorded path: a moved checkout) unless `task` is given (then the file's rule, seed and model must
// match it). `check` runs on the file before the data is loaded.
Loaded load_checkpoint(const std::string& path, const std::string& flag, const StepOptions& opt,
                       const Task* task = nullptr, const std::function<void(const TensorFile&)>& check = {}) {
  Loaded l;
  l.file = read_checkpoint(path, flag, opt.preset);
  const auto& f = l.file;
  if (check) check(f);
  l.quick = meta_or_fail(f, path, "quick") == "true";
  l.preset = make_preset(opt.preset, l.quick);
  const std::string recorded = meta_or_fail(f, path, "data"), rule = meta_or_fail(f, path, "rule");
  const std::string data = opt.data.empty() ? recorded : opt.data;
  const std::string seed_text = meta_or_fail(f, path, "seed");
  const std::string cfg_text = meta_or_fail(f, path, "model_config");
  uint64_t seed = 0;
  try {
    seed = std::stoull(seed_text);
  } catch (const std::exception&) {
    throw UsageError(fmt::format("{}: bad seed '{}' in its metadata", path, seed_text));
  }
  if (task) {
    std::vector<std::string> diff;
    if (task->rule.text != rule) diff.push_back(fmt::format("forget rule '{}' against '{}'", rule, task->rule.text));
    if (task->seed != seed) diff.push_back(fmt::format("seed {} against {}", seed, task->seed));
    for (const auto& d : model_config_differences(cfg_text, task->model)) diff.push_back("model: " + d);
    if (!diff.empty())
      throw UsageError(fmt::format("{} {} and --model {} were trained on different tasks: {}", flag, path, opt.model,
                                   fmt::join(diff, "; ")));
    l.preset.data = data;
    l.preset.rule = rule;
  } else {
    l.task = build_task(l.preset, data, rule, opt.data_root, seed);
    const std::vector<std::string> diff = model_config_differences(cfg_text, l.task.model);
    if (!diff.empty())
      throw UsageError(fmt::format("{}: its model does not match preset {}{} on {}: {}", path, opt.preset,
                                   l.quick ? " --quick" : "", l.preset.data, fmt::join(diff, "; ")));
    task = &l.task;
  }
  check_finite(f, path);
  l.model = fresh_model(*task, 0);
  l.model->load_state_dict(f.tensors);
  return l;
}

}  // namespace

std::string model_config_text(const ModelConfig& cfg) { return config_json(cfg).dump(); }

std::vector<std::string> model_config_differences(const std::string& saved_text, const ModelConfig& cfg) {
  const nlohmann::json saved = nlohmann::json::parse(saved_text, nullptr, false);
  if (!saved.is_object()) return {fmt::format("model_config is not a JSON object: {}", saved_text)};
  const nlohmann::json now = config_json(cfg);
  std::vector<std::string> out;
  for (const auto& [key, value] : now.items()) {
    // A key the file lacks is not a mismatch: checkpoints written before a field was recorded (the
    // bert-lite sizes) still load. Their preset and --quick fixed those sizes, and a tensor of the
    // wrong shape would still fail in load_state_dict.
    if (saved.contains(key) && saved.at(key) != value)
      out.push_back(fmt::format("{} {} in the checkpoint, {} now", key, saved.at(key).dump(), value.dump()));
  }
  for (const auto& [key, value] : saved.items())
    if (!now.contains(key))
      out.push_back(fmt::format("{} {} in the checkpoint, unknown to this dru", key, value.dump()));
  return out;
}

void run_train_step(const StepOptions& opt) {
  Preset p = make_preset(opt.preset, opt.quick);
  const Task task = build_task(p, opt.data, opt.forget, opt.data_root, opt.seed);
  check_output_path(opt.out);  // after the data and rule checks (their errors come first), before training
  MethodSettings s = opt.retain_only ? p.gold : p.original;
  apply_overrides(s, opt);
  const std::string stage = opt.retain_only ? "gold" : "original";
  if (!opt.quiet)
    std::fprintf(stderr, "dru: train %s%s (%s model): data %s, forget %s, seed %llu, %d epochs, lr %g\n",
                 p.name.c_str(), opt.quick ? " --quick" : "", stage.c_str(), p.data.c_str(), p.rule.c_str(),
                 static_cast<unsigned long long>(opt.seed), s.epochs, s.lr);
  MethodResult r = opt.retain_only ? retrain(task, s) : train_original(task, s);
  auto meta = task_metadata(p, opt.quick, task);
  meta["stage"] = stage;
  meta["settings"] = settings_json(s).dump();
  save_model(opt.out, *r.model, meta);
  std::printf("stage %s\nseconds %.3f\nsaved %s\n", stage.c_str(), r.seconds, opt.out.c_str());
}

void run_unlearn_step(const StepOptions& opt) {
  Loaded l = load_checkpoint(opt.model, "--model", opt, nullptr, [&](const TensorFile& f) {
    // The same file under another spelling (./x, a link) counts too.
    auto canonical = [](const std::string& p) {
      std::error_code ec;
      fs::path c = fs::weakly_canonical(p, ec);
      return ec ? fs::path(p).lexically_normal() : c;
    };
    std::error_code ec;
    if (fs::equivalent(opt.out, opt.model, ec) || canonical(opt.out) == canonical(opt.model))
      throw UsageError(fmt::format("--out {} is the --model file: unlearning would overwrite the original model; "
                                   "write to another file", opt.out));
    const std::string stage = stage_of(f);
    if (!stage.empty() && stage != "original")
      throw UsageError(fmt::format("--model {} is a '{}' model; unlearning starts from an original model (dru train "
                                   "without --retain-only)", opt.model, stage));
    check_output_path(opt.out);  // before the data is loaded and the method runs
  });
  MethodSettings s = l.preset.methods.at(opt.method);
  apply_overrides(s, opt);
  MethodResult r = unlearn(opt.method, l.task, *l.model, s);
  auto meta = task_metadata(l.preset, l.quick, l.task);
  meta["stage"] = opt.method;
  meta["settings"] = settings_json(s).dump();
  save_model(opt.out, *r.model, meta);
  std::printf("stage %s\nseconds %.3f\nsaved %s\n", opt.method.c_str(), r.seconds, opt.out.c_str());
}

EvalNumbers run_eval_step(const StepOptions& opt) {
  Loaded l = load_checkpoint(opt.model, "--model", opt);
  std::optional<Loaded> gold;  // checked before anything is printed
  if (!opt.gold.empty())
    gold.emplace(load_checkpoint(opt.gold, "--gold", opt, &l.task, [&](const TensorFile& f) {
      const std::string stage = stage_of(f);
      if (!stage.empty() && stage != "gold")
        throw UsageError(fmt::format("--gold {} is not a gold model (its stage is '{}'); --gold takes the retrained "
                                     "model (dru train --retain-only)", opt.gold, stage));
    }));
  EvalNumbers e;
  e.retain_loss = evaluate(*l.model, l.task, l.task.test.retain);
  e.forget_loss = evaluate(*l.model, l.task, l.task.test.forget);
  std::printf("retain_test_loss %.6f\nforget_test_loss %.6f\n", e.retain_loss, e.forget_loss);
  if (gold) {
    const std::vector<double> pred = predict(*l.model, l.task, l.task.train.forget);
    const std::vector<double> gpred = predict(*gold->model, l.task, l.task.train.forget);
    e.has_gold = true;
    e.w1 = wasserstein1(pred, gpred);
    e.mia_forget = membership_attack(*l.model, l.task, l.preset.mia, stream_seed(l.task.seed, "attack")).forget;
    std::printf("w1_vs_gold %.6f\nmia_forget %.6f\n", e.w1, e.mia_forget);
  }
  return e;
}

}  // namespace dru
