// fit.cpp — see fit.h.
#include "engine/fit.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "engine/checkpoint.h"
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

// Paths inside the checkpoint folder.
struct Paths {
  std::string best, last, state;
  explicit Paths(const std::string& dir)
      : best(dir + "/best.safetensors"), last(dir + "/last.safetensors"), state(dir + "/last.state.safetensors") {}
};

void save_model(const std::string& path, const std::map<std::string, Tensor>& weights,
                std::map<std::string, std::string> meta) {
  TensorFile f;
  f.tensors = weights;
  f.metadata = std::move(meta);
  save_safetensors(path, f);
}

double meta_number(const TensorFile& f, const std::string& key, const std::string& path) {
  auto it = f.metadata.find(key);
  DRU_CHECK(it != f.metadata.end(), "{}: metadata key '{}' is missing; the file was not written by fit", path, key);
  char* end = nullptr;
  double x = std::strtod(it->second.c_str(), &end);
  DRU_CHECK(!it->second.empty() && *end == '\0', "{}: metadata '{}' = '{}' is not a number", path, key, it->second);
  return x;
}

}  // namespace

std::string format_epoch(const EpochLog& e, int epochs) {
  return fmt::format("epoch {:>{}}/{}  train {:.4f}  val {:.4f}  lr {:.2g}  {:.2f}s{}", e.epoch,
                     std::to_string(epochs).size(), epochs, e.train_loss, e.val_loss, e.lr, e.seconds,
                     e.improved ? "  *" : "");
}

FitResult fit(Module& model, ParamArena& arena, const FitHooks& hooks, const FitConfig& cfg) {
  DRU_CHECK(hooks.train_loss && hooks.validate, "fit: the train_loss and validate hooks are required");
  DRU_CHECK(hooks.batches_per_epoch > 0, "fit: batches_per_epoch is {}; the training set is empty",
            hooks.batches_per_epoch);
  DRU_CHECK(cfg.epochs >= 1, "fit: epochs must be at least 1 (got {})", cfg.epochs);
  Adam adam(arena, cfg.adam);
  ReduceLROnPlateau plateau(cfg.plateau, cfg.adam.lr);
  FitResult res;
  res.best_val = HUGE_VAL;
  std::map<std::string, Tensor> best;

  std::unique_ptr<Paths> paths;
  if (!cfg.checkpoint_dir.empty()) {
    std::error_code ec;
    fs::create_directories(cfg.checkpoint_dir, ec);
    DRU_CHECK(!ec, "fit: cannot create checkpoint folder {}: {}", cfg.checkpoint_dir, ec.message());
    paths = std::make_unique<Paths>(cfg.checkpoint_dir);
    if (cfg.resume && fs::exists(paths->last) && fs::exists(paths->state)) {
      TensorFile last = load_safetensors(paths->last);
      model.load_state_dict(last.tensors);
      load_train_state(paths->state, adam, plateau);
      res.start_epoch = int(meta_number(last, "epoch", paths->last)) + 1;
      res.best_epoch = int(meta_number(last, "best_epoch", paths->last));
      res.best_val = meta_number(last, "best_val", paths->last);
      if (fs::exists(paths->best)) best = load_safetensors(paths->best).tensors;
      std::fprintf(stderr, "fit: resuming from %s after epoch %d\n", cfg.checkpoint_dir.c_str(), res.start_epoch - 1);
    } else if (cfg.resume) {
      std::fprintf(stderr, "fit: no saved state in %s; starting from epoch 1\n", cfg.checkpoint_dir.c_str());
    }
  }

  auto log = hooks.log ? hooks.log : [&](const EpochLog& e) { std::printf("%s\n", format_epoch(e, cfg.epochs).c_str()); std::fflush(stdout); };
  for (int epoch = res.start_epoch; epoch <= cfg.epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    EpochLog e;
    e.epoch = epoch;
    e.lr = adam.lr();
    if (hooks.begin_epoch) hooks.begin_epoch(epoch);
    model.train(true);
    const bool dev = on_cuda(arena.values);
    double total = 0;
    Tensor total_dev = dev ? Tensor::zeros(Shape{}, DType::f32, Device::cuda) : Tensor();
    for (int64_t b = 0; b < hooks.batches_per_epoch; ++b) {
      adam.zero_grad();
      Tensor loss = hooks.train_loss(b);
      if (dev) {
        add_(total_dev, loss.detach().reshape(Shape{}));  // read once at the end of the epoch
      } else {
        double v = loss.item();
        DRU_CHECK(std::isfinite(v), "fit: training diverged at epoch {} batch {} (loss {}); lower the learning rate",
                  epoch, b + 1, v);
        total += v;
      }
      loss.backward();
      adam.step();
    }
    model.train(false);
    if (dev && hooks.validate_device) {
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
    DRU_CHECK(std::isfinite(total), "fit: training diverged in epoch {} (summed loss {}); lower the learning rate",
              epoch, total);
    e.train_loss = total / double(hooks.batches_per_epoch);
    e.improved = e.val_loss < res.best_val;
    if (e.improved) {
      res.best_val = e.val_loss;
      res.best_epoch = epoch;
      best = snapshot(model);
      if (paths) save_model(paths->best, best, {{"epoch", std::to_string(epoch)}});
    }
    if (!(dev && hooks.validate_device)) plateau.step(e.val_loss);
    adam.set_lr(plateau.lr());
    if (paths) {
      save_model(paths->last, snapshot(model),
                 {{"epoch", std::to_string(epoch)},
                  {"best_epoch", std::to_string(res.best_epoch)},
                  {"best_val", fmt::format("{:.17g}", res.best_val)}});
      save_train_state(paths->state, adam, plateau);
    }
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.epochs.push_back(e);
    log(e);
  }
  if (cfg.restore_best && !best.empty()) model.load_state_dict(best);
  model.train(true);
  return res;
}

}  // namespace dru
