// experiment.cpp — see experiment.h. Settings as JSON, Ctrl-C, progress, the run over seeds and stages,
// and the plots. The presets are in presets.cpp, where their data comes from in experiment_data.cpp, the
// stage cache in stage_cache.cpp and the metrics stage in metrics_stage.cpp.
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
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "data/tokenizer.h"
#include "engine/check.h"
#include "engine/checkpoint.h"
#include "engine/comm.h"
#include "engine/cuda_runtime.h"
#include "unlearn/metrics.h"
#include "unlearn/metrics_stage.h"
#include "unlearn/provenance.h"
#include "unlearn/stage_cache.h"

namespace dru {
namespace fs = std::filesystem;

nlohmann::json settings_json(const MethodSettings& s) {
  return {{"epochs", s.epochs},
          {"lr", s.lr},
          {"batch", s.batch},
          {"plateau_factor", s.plateau.factor},
          {"plateau_patience", s.plateau.patience},
          {"restore_best", s.restore_best},
          {"beta", s.beta},
          {"blindspot_epochs", s.blindspot_epochs},
          {"blindspot_lr", s.blindspot_lr},
          {"blindspot_restore_best", s.blindspot_restore_best}};
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

nlohmann::json metric_json(const Preset& p) {
  // "version" changes whenever the metrics stage computes something new, so older cached results
  // are recomputed rather than read with the new field missing (3: the balanced attack with its own
  // accuracy, the AIN ladder, the training forget loss, the floored relative difference).
  return {{"version", 3},
          {"attack", {{"samples", p.mia.samples}, {"members", mia_members_name(p.mia.members)}, {"folds", p.mia.folds}}},
          {"ain", {{"lr", p.ain.lr}, {"alpha", p.ain.alpha}, {"cap", p.ain.cap}, {"min_gold_steps", p.ain.min_gold_steps}}}};
}

}  // namespace

nlohmann::json preset_json(const Preset& p) {
  nlohmann::json j = data_json(p);
  j["original"] = settings_json(p.original);
  j["gold"] = settings_json(p.gold);
  for (const auto& [m, s] : p.methods) j["methods"][m] = settings_json(s);
  return j;
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

// The audit's stages are named "planted-" + a main stage ("planted-gold2": a second, independently seeded
// gold model of the planted task, the Retrain row's reference).
const std::string kPlanted = "planted-";

class Runner {
 public:
  Runner(const ExperimentOptions& opt, const Preset& p, ExperimentSummary& sum) : opt_(opt), p_(p), sum_(sum) {
    // Weights for the ETA: roughly epochs over the whole training set.
    double main = p.original.epochs + p.gold.epochs;
    for (const auto& [m, s] : p.methods) main += s.epochs + (m == "blindspot" ? s.blindspot_epochs : 0);
    const bool planted = opt.audit == "planted";
    per_seed_weight_ = main + 3.0 + (planted ? main + p.gold.epochs : 0);
    total_stages_ = opt.seeds * int((2 + p.methods.size()) * (planted ? 2 : 1) + (planted ? 1 : 0) + 1);
  }

  double weight(const std::string& stage_in) const {
    std::string stage = stage_in.rfind(kPlanted, 0) == 0 ? stage_in.substr(kPlanted.size()) : stage_in;
    if (stage == "original") return p_.original.epochs;
    if (stage == "gold" || stage == "gold2") return p_.gold.epochs;
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
                   static_cast<unsigned long long>(seed), stage_label(stage).c_str(),
                   cached ? "cached" : fmt::format("{:.1f} s", seconds).c_str(), clock_text(since(start_)).c_str(),
                   eta.c_str());
    }
    // Data parallel: every rank stops after the same stage when any rank saw Ctrl-C.
    const bool interrupted = world().all_reduce(interrupt_flag().load() ? 1.0 : 0.0) > 0;
    if (interrupted)
      throw Interrupted(fmt::format("interrupted after the {} stage of seed {}: finished stages are saved in {}; run "
                                    "the same command again to continue",
                                    stage_label(stage), seed, sum_.out));
    if (seed_index == 0 && stage == opt_.stop_after)
      throw Interrupted(fmt::format("stopped after the {} stage of seed {} (--stop-after); finished stages are saved in {}",
                                    stage_label(stage), seed, sum_.out));
  }

  static std::string stage_label(const std::string& stage) {
    if (stage == "metrics") return "metrics";
    if (stage.rfind(kPlanted, 0) == 0) {
      const std::string s = stage.substr(kPlanted.size());
      return "planted audit: " + (s == "gold2" ? std::string("Retrain (second seed)") : display_name(s));
    }
    return display_name(stage);
  }

 private:
  const ExperimentOptions& opt_;
  const Preset& p_;
  ExperimentSummary& sum_;
  Clock::time_point start_ = Clock::now();
  double per_seed_weight_ = 0, done_weight_ = 0, run_weight_ = 0, run_seconds_ = 0;
  int stage_no_ = 0, total_stages_ = 0;
};

// The plots: relative prediction difference density per model (pooled over seeds, docs/paper.md §4.5,
// with the floored denominator of docs/metrics.md) and the training curves of the original and gold
// models (first seed).
void write_plots(const fs::path& out, const Preset& p, const ResultSet& rs, const std::vector<std::string>& stages,
                 ExperimentSummary& sum) {
  const double lo = 0, hi = 2;
  const int bins = 40;
  std::vector<Curve> curves;
  for (const auto& stage : stages) {
    if (stage == "gold") continue;
    std::vector<double> rel;
    for (const SeedResult& s : rs.seeds) {
      const fs::path pd = out / fmt::format("seed{}", s.seed) / "predictions";
      std::vector<double> y = read_npy((pd / "targets.npy").string());
      std::vector<double> g = read_npy((pd / "retrain.npy").string());
      std::vector<double> m = read_npy((pd / (file_slug(stage) + ".npy")).string());
      std::vector<double> r = relative_difference(m, g, y, s.rel_floor);
      rel.insert(rel.end(), r.begin(), r.end());
    }
    Curve c;
    c.label = display_name(stage);
    c.y = density(rel, lo, hi, bins);
    for (int b = 0; b < bins; ++b) c.x.push_back(lo + (b + 0.5) * (hi - lo) / bins);
    curves.push_back(c);
  }
  std::string why;
  if (!plot_curves((out / "relative_difference.png").string(),
                   fmt::format("{}: relative prediction difference from the retrained model (train forget set)", p.name),
                   "|pred - retrain| / max(|y|, sd of the training targets)", "density", curves, &why))
    sum.plot_notes.push_back("relative_difference.png skipped: " + why);

  std::vector<Curve> train;
  for (const char* stage : {"original", "gold"}) {
    auto j = read_json(out / fmt::format("seed{}", rs.seeds.front().seed) / (std::string(stage) + ".json"));
    if (!j) continue;
    Curve t, v;
    t.label = display_name(stage) + " train";
    v.label = display_name(stage) + " validation";
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
                                     fmt::format("{}: training curves (seed {})", p.name, rs.seeds.front().seed), "epoch",
                                     std::string(loss_name(p.loss)) + " loss", train, &why))
    sum.plot_notes.push_back("training_curves.png skipped: " + why);
}

}  // namespace

// ---- the run ------------------------------------------------------------------------------------

namespace {

// Every command-line override of the preset, checked before any data is read.
void apply_overrides(Preset& p, const ExperimentOptions& opt) {
  for (const auto& a : opt.sets) apply_setting(p, a);
  if (opt.ain_lr >= 0) {
    if (!std::isfinite(opt.ain_lr) || opt.ain_lr > 10)
      throw UsageError(fmt::format("--ain-lr {}: give a rate in (0, 10], or 0 to choose from the ladder", opt.ain_lr));
    p.ain.lr = opt.ain_lr;
  }
  if (opt.ain_alpha >= 0) {
    if (!std::isfinite(opt.ain_alpha) || opt.ain_alpha > 10)
      throw UsageError(fmt::format("--ain-alpha {}: give a number in [0, 10]", opt.ain_alpha));
    p.ain.alpha = opt.ain_alpha;
  }
  if (opt.ain_cap >= 0) {
    if (opt.ain_cap < 1) throw UsageError(fmt::format("--ain-cap {}: give at least 1 step", opt.ain_cap));
    p.ain.cap = opt.ain_cap;
  }
  if (!opt.mia_members.empty()) {
    try {
      p.mia.members = parse_mia_members(opt.mia_members);
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  }
}

// A hash of everything the loaded data holds (every tensor's bytes, labels, groups, keys), so a stage is
// never reused after the data changed, whatever path it was read from.
std::string data_fingerprint(const DataSet& d) {
  uint64_t h = 14695981039346656037ull;
  auto bytes = [&h](const void* p, size_t n) {
    const unsigned char* c = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) {
      h ^= c[i];
      h *= 1099511628211ull;
    }
  };
  auto text = [&](const std::string& s) { bytes(s.data(), s.size() + 1); };
  for (const Samples* s : {&d.train, &d.val, &d.test}) {
    for (const Tensor* t : {&s->x, &s->x2, &s->mask, &s->y}) {
      if (!t->defined()) {
        text("-");
        continue;
      }
      const Tensor c = t->device() == Device::cpu ? *t : t->to(Device::cpu);  // storage is contiguous
      text(c.shape().str());
      bytes(c.raw(), c.nbytes());
    }
    bytes(s->label.data(), s->label.size() * sizeof(double));
    for (const auto& g : s->group) text(g);
    for (const auto& k : s->key) text(k);
  }
  return fmt::format("{:016x}", h);
}

// The forget sets a rule selects, as a hash (an ids= file's contents, a random rule's draws).
std::string forget_fingerprint(const Task& t) {
  std::string all;
  for (const ForgetSplit* s : {&t.train, &t.val, &t.test}) {
    all += std::to_string(s->forget.size()) + ":";
    for (const auto& k : s->forget.key) all += k + "\n";
    all += fmt::format("{}\n", fmt::join(s->forget.label, ","));
  }
  return hash_hex(all);
}

void print_plan(const Preset& p, const ExperimentOptions& opt, const std::string& out,
                const std::vector<ForgetCounts>& counts) {
  std::fprintf(stderr, "dru: experiment %s%s on %s, %d seed%s, output %s\n", p.name.c_str(), opt.quick ? " --quick" : "",
               opt.device.c_str(), opt.seeds, opt.seeds == 1 ? "" : "s", out.c_str());
  if (world().size() > 1)
    std::fprintf(stderr, "dru: data parallel over %d ranks (%s)\n", world().size(), world().backend().c_str());
  std::fprintf(stderr, "dru: data %s; forget %s:", p.data.c_str(), p.rule.c_str());
  for (const auto& c : counts)
    std::fprintf(stderr, " %s %lld/%lld", c.split.c_str(), static_cast<long long>(c.forget),
                 static_cast<long long>(c.total));
  std::fprintf(stderr, "\ndru: model %s, %s loss, batch %lld; epochs: original %d, retrain %d", p.model.c_str(),
               loss_name(p.loss), static_cast<long long>(p.batch), p.original.epochs, p.gold.epochs);
  for (const auto& m : method_names()) std::fprintf(stderr, ", %s %d", m.c_str(), p.methods.at(m).epochs);
  std::fprintf(stderr, "\ndru: attack: members %s, up to %lld per class, %d folds; AIN: %s, alpha %g, cap %s\n",
               mia_members_name(p.mia.members), static_cast<long long>(p.mia.samples), p.mia.folds,
               p.ain.lr > 0 ? fmt::format("lr {:g}", p.ain.lr).c_str() : "lr from the ladder (gold >= 20 steps)",
               p.ain.alpha, p.ain.cap > 0 ? fmt::format("{} steps", p.ain.cap).c_str() : "10 epochs");
  if (opt.audit == "planted")
    std::fprintf(stderr, "dru: audit planted: a second original on data with 10%% of the training targets shifted by "
                         "+2 sd, unlearned by every method\n");
}

// One run at a time per output folder: two runs writing the same stages would each finish "successfully"
// with the last writer's files. An flock(2) on OUT/.dru-lock, held for the run and released by the kernel
// however the process ends (no stale lock after a kill).
class OutputLock {
 public:
  explicit OutputLock(const fs::path& dir) {
    if (dir.empty()) return;  // data parallel: rank 0 alone writes the folder
    const std::string path = (dir / ".dru-lock").string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    DRU_CHECK(fd_ >= 0, "{}: cannot open the output folder's lock file ({})", path, std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char pid[32] = {0};
      ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
      ::close(fd_);
      fd_ = -1;
      DRU_FAIL("another dru experiment (process {}) is writing to {}; wait for it to finish or pass another --out",
               n > 0 ? std::string(pid, size_t(n)) : std::string("?"), dir.string());
    }
    const std::string me = std::to_string(::getpid());
    if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
      // the pid is only for the message above
    }
  }
  ~OutputLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  int fd_ = -1;
};

nlohmann::json counts_json(const std::vector<ForgetCounts>& counts) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& c : counts) j[c.split] = {{"total", c.total}, {"forget", c.forget}, {"retain", c.retain}};
  return j;
}

}  // namespace

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
  if (!opt.audit.empty() && opt.audit != "planted")
    throw UsageError(fmt::format("--audit '{}': the audit available is planted", opt.audit));
  if (!opt.forget.empty()) p.rule = opt.forget;
  if (opt.adjust) opt.adjust(p);
  apply_overrides(p, opt);
  const bool planted = opt.audit == "planted";
  std::vector<std::string> stages{"original", "gold"};
  for (const auto& m : method_names()) stages.push_back(m);
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
  std::vector<std::string> skipped;  // --skip-bad's images, recorded in results.json
  const DataSet data = load_preset_data(p, opt, cfg, !opt.progress || !root, &tokenizer, &skipped);
  // The rule is checked (and the counts shown) before any training: every split must have forget and
  // retain samples, since the metrics measure both on every split.
  const ForgetRule rule = preset_forget_rule(p, data);
  std::vector<ForgetCounts> counts;
  try {
    counts = count_forget(data, rule);
    check_every_split(counts, rule);
  } catch (const Error& e) {
    throw UsageError(e.what());  // the rule (a flag) does not fit the data: exit 2, before any training
  }
  if (opt.progress && root) print_plan(p, opt, sum.out, counts);
  if (root) fs::create_directories(out);
  OutputLock lock(root ? out : fs::path());
  if (p.model == "bert-lite" && root) tokenizer.save((out / "tokenizer.txt").string());  // for reference; retrained each run

  ResultSet& rs = sum.results;
  rs.preset = p.name;
  rs.device = opt.device;
  rs.rule = p.rule;
  rs.data = p.data;
  rs.loss = loss_name(p.loss);
  rs.quick = opt.quick;
  rs.sets = opt.sets;
  rs.audit = opt.audit;
  rs.settings = preset_json(p);
  rs.settings["metrics"] = metric_json(p);
  if (planted) rs.settings["planted"] = settings_json(planted_settings(p));
  rs.provenance = provenance_json(opt.command_line);
  rs.provenance["counts"] = counts_json(counts);
  rs.skipped_images = skipped;
  rs.notes.push_back(
      "Losses: the test split's retain and forget parts, and the training forget set (what the model was asked to "
      "forget). W1 and the relative difference (|pred − retrain| / max(|y|, sd of the training targets)) on the "
      "training forget set. MIA = fraction of training-forget samples a loss-based RBF SVM, fitted on equal numbers "
      "of members and non-members, calls \"member\"; the attack's accuracy and AUC are its own, on held-out folds "
      "of its members and non-members. AIN = relearning steps of the model over the gold model's to get back to "
      "(1 + alpha) x the original's validation forget loss (on copies). Time = the stage's wall clock. "
      "docs/metrics.md explains each.");
  if (planted)
    rs.notes.push_back(
        "Planted shift kept (--audit planted): a second original trained where a seeded tenth of the training "
        "targets is raised by 2 standard deviations, unlearned (that tenth is the forget set) by each method; the "
        "column is the mean over those samples of (prediction − the planted task's gold prediction) / shift: 1 = "
        "the whole shift survives, 0 = as if never seen. Retrain's row is a second gold model of another seed.");
  if (!skipped.empty())
    rs.notes.push_back(fmt::format("{} image{} could not be read and {} left out (--skip-bad); results.json lists "
                                   "them under skipped_images.", skipped.size(), skipped.size() == 1 ? "" : "s",
                                   skipped.size() == 1 ? "was" : "were"));

  Runner runner(opt, p, sum);
  std::vector<std::string> reused;                         // stages read back from an earlier run
  nlohmann::json continued = nlohmann::json::array();     // trainings continued from a per-epoch checkpoint
  nlohmann::json base = data_json(p);
  base["data_fingerprint"] = data_fingerprint(data);
  for (int k = 0; k < opt.seeds; ++k) {
    const uint64_t seed = opt.first_seed + uint64_t(k);
    const fs::path dir = out / fmt::format("seed{}", seed);
    if (root) fs::create_directories(dir);
    ModelConfig mc = cfg;
    mc.seed = seed;
    Task task = make_task(data, p.rule, mc, p.loss, p.batch, seed);
    task.device = opt.device == "cuda" ? Device::cuda : Device::cpu;
    task.graphs = opt.graphs;  // the same results as eager steps: not part of the stage keys
    const std::string forget_hash = forget_fingerprint(task);
    std::optional<PlantedTask> pt;
    if (planted) {
      pt = make_planted_task(task, 0.1, 2.0, stream_seed(seed, "planted"));
      if (task.device == Device::cuda) keep_data_on_device(pt->task, false);
    }
    if (task.device == Device::cuda) keep_data_on_device(task, opt.progress && root && k == 0);
    auto key_of = [&](const std::string& stage, const nlohmann::json& settings, const std::vector<std::string>& inputs) {
      nlohmann::json j{{"stage", stage},       {"base", base},     {"seed", seed},
                       {"settings", settings}, {"inputs", inputs}, {"forget", forget_hash}};
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
    // What this run reused or continued (results.json says when a run was resumed).
    auto record = [&](const ModelStage& st, bool cached) {
      const std::string where = fmt::format("seed{}/{}", seed, st.name);
      if (cached) reused.push_back(where);
      if (st.resumed_from_epoch > 0) continued.push_back({{"stage", where}, {"after_epoch", st.resumed_from_epoch}});
    };
    // Runs (or loads) the original, the gold model and every method of task t under stage names prefix + ...
    auto run_stages = [&](const Task& t, const std::string& prefix, const MethodSettings& original_settings,
                          const MethodSettings& gold_settings, std::vector<ModelStage>& models) {
      bool cached = false;
      {
        const std::string name = prefix + "original", key = key_of(name, settings_json(original_settings), {});
        const auto s = with_ckpt(original_settings, name, key);
        models.push_back(model_stage(dir, name, key, t, opt.fresh, settings_json(original_settings),
                                     [&] { return train_original(t, s); }, &cached));
        record(models.back(), cached);
        runner.done(name, seed, k, cached, models.back().seconds);
      }
      {
        const std::string name = prefix + "gold", key = key_of(name, settings_json(gold_settings), {});
        const auto s = with_ckpt(gold_settings, name, key);
        models.push_back(model_stage(dir, name, key, t, opt.fresh, settings_json(gold_settings),
                                     [&] { return retrain(t, s); }, &cached));
        record(models.back(), cached);
        runner.done(name, seed, k, cached, models.back().seconds);
      }
      for (const auto& m : method_names()) {
        MethodSettings s = p.methods.at(m);
        s.quiet = true;
        const Model& original = *models[0].model;
        const std::string name = prefix + m;
        models.push_back(model_stage(dir, name, key_of(name, settings_json(s), {models[0].key}), t, opt.fresh,
                                     settings_json(s), [&] { return unlearn(m, t, original, s); }, &cached));
        record(models.back(), cached);
        runner.done(name, seed, k, cached, models.back().seconds);
      }
    };
    std::vector<ModelStage> models, planted_models;
    run_stages(task, "", p.original, p.gold, models);
    std::vector<std::string> keys;
    for (const auto& st : models) keys.push_back(st.key);
    PlantedModels pm;
    if (planted) {
      const MethodSettings ps = planted_settings(p);
      run_stages(pt->task, kPlanted, ps, ps, planted_models);
      // The Retrain row's reference: the planted task's gold model again, from another seed.
      Task other = pt->task;
      other.seed = stream_seed(seed, "planted-gold2");
      const std::string name = kPlanted + "gold2", key = key_of(name, settings_json(ps), {});
      bool cached = false;
      const auto s = with_ckpt(ps, name, key);
      planted_models.push_back(model_stage(dir, name, key, other, opt.fresh, settings_json(ps),
                                           [&] { return retrain(other, s); }, &cached));
      record(planted_models.back(), cached);
      runner.done(name, seed, k, cached, planted_models.back().seconds);
      pm.task = &pt->task;
      pm.shift = pt->shift;
      pm.gold = planted_models[1].model.get();
      pm.rows.push_back(planted_models[0].model.get());      // Original
      pm.rows.push_back(planted_models.back().model.get());  // Retrain: the second gold model
      for (size_t i = 2; i < planted_models.size() - 1; ++i) pm.rows.push_back(planted_models[i].model.get());
      for (const auto& st : planted_models) keys.push_back(st.key);
    }
    const auto t0 = Clock::now();
    bool cached = false;
    nlohmann::json metric_settings = metric_json(p);
    metric_settings["planted"] = planted;
    SeedResult sr = metrics_stage(dir, key_of("metrics", metric_settings, keys), task, p, seed, models,
                                  planted ? &pm : nullptr, opt.fresh, &cached);
    if (cached) reused.push_back(fmt::format("seed{}/metrics", seed));
    rs.seeds.push_back(std::move(sr));
    runner.done("metrics", seed, k, cached, since(t0));
  }
  rs.provenance["resumed"] = !reused.empty() || !continued.empty();
  rs.provenance["reused_stages"] = reused;
  rs.provenance["continued_training"] = continued;
  if (root) {
    write_results(out.string(), rs);
    write_plots(out, p, rs, stages, sum);
  }
  return sum;
}

}  // namespace dru
