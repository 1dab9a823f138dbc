// fit.cpp — see fit.h.
#include "engine/fit.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "engine/checkpoint.h"
#include "engine/failpoint.h"
#include "engine/comm.h"
#include "engine/cuda_runtime.h"

namespace dru {

namespace {

namespace fs = std::filesystem;

std::map<std::string, Tensor> snapshot(const Module& m) {
  NoGradGuard ng;
  std::map<std::string, Tensor> s;
  for (auto& [name, t] : m.state_dict()) s[name] = t.to(Device::cpu).clone();
  return s;
}

// Paths inside the checkpoint folder. Resuming reads only `state`; best and last are copies for users
// (PyTorch opens them), written after it.
struct Paths {
  std::string best, last, state;
  explicit Paths(const std::string& dir)
      : best(dir + "/best.safetensors"), last(dir + "/last.safetensors"), state(dir + "/last.state.safetensors") {}
};

double meta_number(const TensorFile& f, const std::string& key, const std::string& path) {
  auto it = f.metadata.find(key);
  DRU_CHECK(it != f.metadata.end(), "{}: metadata key '{}' is missing; the file was not written by fit", path, key);
  char* end = nullptr;
  double x = std::strtod(it->second.c_str(), &end);
  DRU_CHECK(!it->second.empty() && *end == '\0', "{}: metadata '{}' = '{}' is not a number", path, key, it->second);
  return x;
}

// The training state after an epoch, in ONE file written atomically (write_file_atomic's rename), so a
// run killed at any moment finds either the previous epoch's complete state or this one's: never weights
// of one epoch beside optimiser moments of another. It holds the weights ("model." + name), the best
// weights so far ("best." + name), Adam's moments and step, the scheduler, the epoch counters and the
// state of every random generator of the model (dropout), so the resumed run draws what an
// uninterrupted one would.
constexpr const char* kStateFormat = "dru-fit-state-2";

struct Resumed {
  int epoch = 0, best_epoch = 0;
  double best_val = HUGE_VAL;
  std::map<std::string, Tensor> best;
};

void save_state(const std::string& path, Module& model, const std::map<std::string, Tensor>& weights,
                const std::map<std::string, Tensor>& best, const Adam& adam, const ReduceLROnPlateau& plateau, int epoch,
                int best_epoch, double best_val) {
  TensorFile f = adam.state();
  for (auto& [k, v] : plateau.state_metadata()) f.metadata[k] = v;
  for (auto& [name, t] : weights) f.tensors["model." + name] = t;
  for (auto& [name, t] : best) f.tensors["best." + name] = t;
  nlohmann::json gens = nlohmann::json::object();
  for (auto& [name, g] : model.generators()) {
    const Generator::State st = g->state();
    gens[name] = {st.seed, st.offset, st.used};
  }
  f.metadata["format"] = kStateFormat;
  f.metadata["fit.epoch"] = std::to_string(epoch);
  f.metadata["fit.best_epoch"] = std::to_string(best_epoch);
  f.metadata["fit.best_val"] = fmt::format("{:.17g}", best_val);
  f.metadata["fit.generators"] = gens.dump();
  save_safetensors(path, f);
}

Resumed load_state(const std::string& path, Module& model, Adam& adam, ReduceLROnPlateau& plateau) {
  TensorFile f = load_safetensors(path);
  auto fmt_it = f.metadata.find("format");
  DRU_CHECK(fmt_it != f.metadata.end() && fmt_it->second == kStateFormat,
            "{}: not a training state this dru can resume (format '{}', expected '{}'); delete the checkpoint "
            "folder or run without --resume",
            path, fmt_it == f.metadata.end() ? "none" : fmt_it->second, kStateFormat);
  TensorFile optimiser;
  optimiser.metadata = f.metadata;
  std::map<std::string, Tensor> weights;
  Resumed r;
  for (auto& [name, t] : f.tensors) {
    if (name.rfind("model.", 0) == 0)
      weights[name.substr(6)] = t;
    else if (name.rfind("best.", 0) == 0)
      r.best[name.substr(5)] = t;
    else
      optimiser.tensors[name] = t;
  }
  r.epoch = int(meta_number(f, "fit.epoch", path));
  r.best_epoch = int(meta_number(f, "fit.best_epoch", path));
  r.best_val = meta_number(f, "fit.best_val", path);
  nlohmann::json gens;
  try {
    gens = nlohmann::json::parse(f.metadata.at("fit.generators"));
  } catch (const std::exception&) {
    DRU_FAIL("{}: the generators' state is missing or unreadable; delete the checkpoint folder", path);
  }
  auto mine = model.generators();
  DRU_CHECK(gens.is_object() && gens.size() == mine.size(),
            "{}: the state holds {} generators but the model has {}; was it saved for another model?", path,
            gens.is_object() ? gens.size() : 0, mine.size());
  std::vector<Generator::State> states;
  for (auto& [name, g] : mine) {
    DRU_CHECK(gens.contains(name) && gens[name].is_array() && gens[name].size() == 3,
              "{}: no state for the model's generator '{}'", path, name);
    states.push_back({gens[name][0].get<uint64_t>(), gens[name][1].get<uint64_t>(), gens[name][2].get<int>()});
  }
  // Everything is checked before anything changes: the weights, then the optimiser and scheduler (their
  // loader checks before it changes), then the generators.
  model.load_state_dict(weights);
  load_train_state(optimiser, adam, plateau, path);
  for (size_t i = 0; i < mine.size(); ++i) mine[i].second->restore(states[i]);
  return r;
}

void save_model(const std::string& path, const std::map<std::string, Tensor>& weights,
                std::map<std::string, std::string> meta) {
  TensorFile f;
  f.tensors = weights;
  f.metadata = std::move(meta);
  save_safetensors(path, f);
}


// Full batches' training steps replayed from one CUDA graph (FitConfig::graphs). The first batch with
// the graph's shapes runs eagerly (cuDNN plans, workspaces and model caches reach their size), the next
// is captured, and every later one copies its staged tensors into the buffers the graph reads and
// replays it. Batches of other shapes (a smaller last batch) run eagerly. A refused capture (the loss
// copies to the host or draws host random numbers) is said once on stderr, and the fit goes on eagerly.
class StepGraph {
 public:
  using Step = std::function<void(const std::vector<Tensor>& staged)>;
  explicit StepGraph(Step step) : step_(std::move(step)) {}

  void run(const std::vector<Tensor>& staged) {
    if (!off_ && buffers_.empty())  // the first batch sets the graph's shapes
      for (const Tensor& t : staged)
        buffers_.push_back(t.defined() ? Tensor::empty(t.shape(), t.dtype(), t.device()) : Tensor());
    if (off_ || !fits(staged)) return step_(staged);
    for (size_t i = 0; i < staged.size(); ++i)
      if (staged[i].defined()) buffers_[i].copy_(staged[i]);  // device to device, queued before the step
    if (!warmed_) {
      warmed_ = true;
      return step_(buffers_);
    }
    if (!graph_) {
      try {
        graph_ = cuda::capture([&] { step_(buffers_); });
      } catch (const Error& e) {
        std::fprintf(stderr, "fit: CUDA graphs off for this run: %s\n", e.what());
        off_ = true;
        return step_(staged);
      }
    }
    graph_->replay();
    ++replays_;
  }
  int64_t replays() const { return replays_; }

 private:
  bool fits(const std::vector<Tensor>& staged) const {
    if (staged.size() != buffers_.size()) return false;
    for (size_t i = 0; i < staged.size(); ++i) {
      const Tensor &a = staged[i], &b = buffers_[i];
      if (a.defined() != b.defined()) return false;
      if (a.defined() && (!on_cuda(a) || a.shape() != b.shape() || a.dtype() != b.dtype())) return false;
    }
    return true;
  }

  Step step_;
  std::vector<Tensor> buffers_;  // what the graph reads; declared before graph_, so they outlive it
  std::unique_ptr<cuda::Graph> graph_;
  bool warmed_ = false, off_ = false;
  int64_t replays_ = 0;
};

}  // namespace

void broadcast_buffers(const Module& model) {
  Communicator& comm = world();
  if (comm.size() == 1) return;
  for (auto& [name, t] : model.buffers()) {
    Tensor b = t;  // a handle to the module's own storage: written in place
    comm.broadcast(b, 0);
  }
}

std::string format_epoch(const EpochLog& e, int epochs) {
  return fmt::format("epoch {:>{}}/{}  train {:.4f}  val {:.4f}  lr {:.2g}  {:.2f}s{}", e.epoch,
                     std::to_string(epochs).size(), epochs, e.train_loss, e.val_loss, e.lr, e.seconds,
                     e.improved ? "  *" : "");
}

FitResult fit(Module& model, ParamArena& arena, const FitHooks& hooks, const FitConfig& cfg) {
  const bool staged = hooks.stage && hooks.staged_loss;
  DRU_CHECK((hooks.train_loss || staged) && hooks.validate,
            "fit: the validate hook and either train_loss or stage and staged_loss are required");
  DRU_CHECK(hooks.batches_per_epoch > 0, "fit: batches_per_epoch is {}; the training set is empty",
            hooks.batches_per_epoch);
  DRU_CHECK(cfg.epochs >= 1, "fit: epochs must be at least 1 (got {})", cfg.epochs);
  Adam adam(arena, cfg.adam);
  ReduceLROnPlateau plateau(cfg.plateau, cfg.adam.lr);
  FitResult res;
  res.best_val = HUGE_VAL;
  std::map<std::string, Tensor> best;

  // Data parallel (comm.h): every rank runs this loop; gradients are summed over the ranks before each
  // step, so all take the same steps and the same decisions. Only rank 0 writes files and logs.
  Communicator& comm = world();
  const bool root = comm.is_root(), parallel = comm.size() > 1;
  std::unique_ptr<Paths> paths;
  if (!cfg.checkpoint_dir.empty()) {
    std::error_code ec;
    if (root) fs::create_directories(cfg.checkpoint_dir, ec);
    DRU_CHECK(!ec, "fit: cannot create checkpoint folder {}: {}", cfg.checkpoint_dir, ec.message());
    paths = std::make_unique<Paths>(cfg.checkpoint_dir);
    // Rank 0 decides; every rank then reads the file (a resumed parallel run needs a shared folder).
    const bool saved = comm.broadcast(fs::exists(paths->state) ? 1.0 : 0.0) != 0;
    if (cfg.resume && saved) {
      Resumed r = load_state(paths->state, model, adam, plateau);
      res.start_epoch = r.epoch + 1;
      res.best_epoch = r.best_epoch;
      res.best_val = r.best_val;
      best = std::move(r.best);
      if (root) std::fprintf(stderr, "fit: resuming from %s after epoch %d\n", cfg.checkpoint_dir.c_str(), r.epoch);
    } else if (cfg.resume && root) {
      std::fprintf(stderr, "fit: no saved state in %s; starting from epoch 1\n", cfg.checkpoint_dir.c_str());
    }
  }

  // Every rank starts from rank 0's weights, as DDP's constructor does (they are seeded alike anyway).
  if (parallel) {
    comm.broadcast(arena.values, 0);
    broadcast_buffers(model);
  }
  auto log = hooks.log ? hooks.log : [&](const EpochLog& e) { std::printf("%s\n", format_epoch(e, cfg.epochs).c_str()); std::fflush(stdout); };
  // On the GPU the batch losses are summed there and read once per epoch. The device-side scheduler
  // needs the validation loss of the whole set; in parallel it is summed on the host.
  const bool dev = on_cuda(arena.values);
  const bool device_val = dev && hooks.validate_device && !parallel;
  Tensor total_dev = dev ? Tensor::zeros(Shape{}, DType::f32, Device::cuda) : Tensor();  // a graph keeps its address
  double total = 0;
  int epoch = res.start_epoch;
  int64_t b = 0;
  // One training step on the loss compute() returns.
  auto train_step = [&](const std::function<Tensor()>& compute) {
    adam.zero_grad();
    Tensor loss = compute();
    if (!loss.defined()) {  // no rows of this batch on this rank: it adds zero gradients
      DRU_CHECK(parallel, "fit: the train_loss hook returned no loss for batch {}", b + 1);
    } else if (dev) {
      add_(total_dev, loss.detach().reshape(Shape{}));  // read once at the end of the epoch
    } else {
      double v = loss.item();
      DRU_CHECK(std::isfinite(v), "fit: training diverged at epoch {} batch {} (loss {}); lower the learning rate",
                epoch, b + 1, v);
      total += v;
    }
    if (loss.defined()) loss.backward();
    if (parallel) comm.all_reduce(arena.grads);  // the whole arena in one call
    adam.step();
  };
  std::unique_ptr<StepGraph> graph;
  if (cfg.graphs && staged && dev && !parallel)
    graph = std::make_unique<StepGraph>([&](const std::vector<Tensor>& in) { train_step([&] { return hooks.staged_loss(in); }); });
  else if (cfg.graphs && root)
    std::fprintf(stderr, "fit: CUDA graphs need a model on CUDA, one process and the stage hooks; running eagerly\n");
  for (; epoch <= cfg.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    EpochLog e;
    e.epoch = epoch;
    e.lr = adam.lr();
    if (hooks.begin_epoch) hooks.begin_epoch(epoch);
    model.train(true);
    total = 0;
    if (dev) total_dev.fill_(0.0);
    for (b = 0; b < hooks.batches_per_epoch; ++b) {
      if (graph)
        graph->run(hooks.stage(b));
      else
        train_step([&] { return staged ? hooks.staged_loss(hooks.stage(b)) : hooks.train_loss(b); });
      failpoint("fit.batch");
    }
    model.train(false);
    if (parallel) broadcast_buffers(model);
    if (device_val) {
      Tensor val;
      {
        NoGradGuard ng;
        val = hooks.validate_device();
      }
      plateau.step_device(val, adam.lr_device());
      float sums[2] = {0, 0};
      cuda::HostRead reads[3] = {{&sums[0], total_dev.raw(), sizeof(float)},
                                 {&sums[1], val.raw(), sizeof(float)},
                                 plateau.device_state_read()};
      cuda::read_to_host(reads, 3);  // the epoch's one host synchronisation
      total = sums[0];
      e.val_loss = sums[1];
    } else {
      if (dev) total = total_dev.item();
      NoGradGuard ng;
      e.val_loss = hooks.validate();
    }
    if (parallel) {
      // The ranks' shares of the batch losses add up to the single-process sum; rank 0's numbers are
      // everyone's, so every rank's scheduler and best-epoch choice agree bit for bit.
      total = comm.broadcast(comm.all_reduce(total));
      e.val_loss = comm.broadcast(e.val_loss);
    }
    DRU_CHECK(std::isfinite(total), "fit: training diverged in epoch {} (summed loss {}); lower the learning rate",
              epoch, total);
    e.train_loss = total / double(hooks.batches_per_epoch);
    e.improved = e.val_loss < res.best_val;
    if (e.improved) {
      res.best_val = e.val_loss;
      res.best_epoch = epoch;
      best = snapshot(model);
    }
    if (!device_val) plateau.step(e.val_loss);
    adam.set_lr(plateau.lr());
    if (paths && root) {
      const std::map<std::string, Tensor> weights = snapshot(model);
      save_state(paths->state, model, weights, best, adam, plateau, epoch, res.best_epoch, res.best_val);
      failpoint("fit.epoch_saved");
      save_model(paths->last, weights, {{"epoch", std::to_string(epoch)}});
      if (e.improved) save_model(paths->best, best, {{"epoch", std::to_string(epoch)}});
    }
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.epochs.push_back(e);
    if (root) log(e);
  }
  if (graph) {
    res.graph_replays = graph->replays();
    const long long steps = (long long)(res.epochs.size()) * (long long)hooks.batches_per_epoch;
    if (root) std::fprintf(stderr, "fit: %lld of %lld training steps replayed from a CUDA graph\n",
                           (long long)res.graph_replays, steps);
  }
  if (cfg.restore_best && !best.empty()) model.load_state_dict(best);
  model.train(true);
  return res;
}

}  // namespace dru
