// bench_epoch.cpp — times whole training epochs with the data resident on the device, the workload the
// CUDA backend exists for (compared with tools/reference/bench_epoch_torch.py, the same models, data
// sizes and loop in PyTorch):
//
//   allcnn     AllCNN on 32x32 images: 12,208 images (AgeDB's training split), batch 256
//   stsb-lstm  the STS-B LSTM: 5,249 sentence pairs (STS-B's training split), batch 256, 10 words (the
//              paper's T) of 300-d word vectors per sentence
//
// Data are synthetic (timing does not depend on pixel values); images are already normalised f32.
// The epochs are run by the fit loop the unlearning methods use (engine/fit.h): per epoch a fresh
// permutation uploaded once, then per batch: index_select the batch on the device (the stage hook),
// forward in train mode, L1 loss, backward, Adam (lr 1e-3); the batch losses are summed on the device
// and read once at the end of the epoch (validation is a constant). The first epoch warms up (cuDNN
// algorithm choice, the memory pool); the median of the others is reported, with the host
// synchronisations per step (the epoch's one read subtracted).
//
//   bench_epoch MODEL [--device cuda|cpu] [--epochs N] [--n SAMPLES] [--batch B] [--graphs] [--profile-epoch K]
//
// --graphs replays each full batch's step from one CUDA graph (FitConfig::graphs). --profile-epoch K
// turns the CUDA profiler's collection on for epoch K only, for a run under
// `ncu --profile-from-start off` (tools/gpu_check.sh profiles one AllCNN step this way).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "engine/cuda_runtime.h"
#include "engine/fit.h"
#include "models/model.h"

using namespace dru;

namespace {

struct Options {
  std::string model;
  Device device = Device::cuda;
  int epochs = 4;
  int64_t n = 0, batch = 256;
  bool graphs = false;    // replay full batches from a CUDA graph
  int profile_epoch = 0;  // > 0: the CUDA profiler collects during this epoch only
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "bench_epoch: %s\nusage: bench_epoch allcnn|stsb-lstm [--device cuda|cpu] [--epochs N] "
                       "[--n SAMPLES] [--batch B] [--graphs] [--profile-epoch K]\n", why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) usage("name a model");
  o.model = argv[1];
  if (o.model != "allcnn" && o.model != "stsb-lstm") usage("the model must be allcnn or stsb-lstm");
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--graphs") {
      o.graphs = true;
      continue;
    }
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    std::string v = argv[++i];
    char* end = nullptr;
    long long x = std::strtoll(v.c_str(), &end, 10);
    bool is_num = !v.empty() && *end == '\0' && x > 0;
    if (a == "--device") {
      if (v != "cuda" && v != "cpu") usage("--device must be cuda or cpu");
      o.device = v == "cuda" ? Device::cuda : Device::cpu;
    } else if (a == "--epochs" && is_num && x >= 2) {
      o.epochs = int(x);
    } else if (a == "--n" && is_num) {
      o.n = x;
    } else if (a == "--batch" && is_num) {
      o.batch = x;
    } else if (a == "--profile-epoch" && is_num) {
      o.profile_epoch = int(x);
    } else {
      usage(("bad option or value: " + a + " " + v).c_str());
    }
  }
  if (o.n == 0) o.n = o.model == "allcnn" ? 12208 : 5249;
  if (o.graphs && o.device != Device::cuda) usage("--graphs needs --device cuda");
  if (o.profile_epoch > 0 && o.device != Device::cuda) usage("--profile-epoch needs --device cuda");
  if (o.profile_epoch > o.epochs) usage("--profile-epoch is after the last epoch");
  return o;
}

Tensor random_tensor(const Shape& s, Generator& g, double lo, double hi, Device dev) {
  Tensor t = Tensor::empty(s);
  g.fill_uniform(t, lo, hi);
  return t.to(dev);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  try {
    if (o.device == Device::cuda && cuda_device_count() == 0) {
      std::printf("bench_epoch: skipped — no GPU is visible\n");
      return 77;
    }
    Generator gen(7);
    ModelConfig cfg;
    cfg.name = o.model;
    cfg.seed = 1;
    const int64_t T = 10, D = 300;
    if (o.model == "stsb-lstm") {
      cfg.embed_dim = D;
      cfg.seq_len = T;
    }
    std::unique_ptr<Model> model = make_model(cfg);
    model->to(o.device);
    ParamArena arena;
    arena.finalize(model->parameters());

    // The data set, resident on the device.
    Tensor x, x2, y = random_tensor(Shape{o.n, 1}, gen, 0, 5, o.device);
    if (o.model == "allcnn") {
      x = random_tensor(Shape{o.n, 3, 32, 32}, gen, -1, 1, o.device);
    } else {
      x = random_tensor(Shape{o.n, T, D}, gen, -1, 1, o.device);
      x2 = random_tensor(Shape{o.n, T, D}, gen, -1, 1, o.device);
    }
    const int64_t steps = (o.n + o.batch - 1) / o.batch;
    auto rows = [](const Tensor& t, const Tensor& idx) { return t.defined() ? index_select(t, idx) : Tensor(); };
    Tensor order;
    int64_t s0 = 0;  // host syncs at the start of the epoch being logged
    FitHooks hooks;
    hooks.batches_per_epoch = steps;
    hooks.begin_epoch = [&](int epoch) {
      if (epoch == o.profile_epoch) {
        cuda::synchronize();  // nothing of the earlier epochs in the profile (not counted below)
        s0 = cuda::host_syncs();
        cuda::profiler(true);
      }
      std::vector<int64_t> perm(size_t(o.n));
      for (int64_t i = 0; i < o.n; ++i) perm[size_t(i)] = i;
      for (int64_t i = o.n - 1; i > 0; --i) std::swap(perm[size_t(i)], perm[size_t(gen.below(uint64_t(i + 1)))]);
      order = Tensor::from(perm, Shape{o.n}).to(o.device);
    };
    hooks.stage = [&](int64_t b) {
      Tensor idx = order.slice(0, b * o.batch, std::min(o.n, (b + 1) * o.batch));
      return std::vector<Tensor>{rows(x, idx), rows(x2, idx), rows(y, idx)};
    };
    hooks.staged_loss = [&](const std::vector<Tensor>& v) {
      return l1_loss(model->forward(ModelInput{v[0], v[1], Tensor()}, Mode::train).pred, v[2]);
    };
    hooks.validate = [] { return 0.0; };
    std::vector<double> ms;
    int64_t syncs = 0;
    double last_loss = 0;
    hooks.log = [&](const EpochLog& e) {
      if (e.epoch == o.profile_epoch) cuda::profiler(false);  // the epoch's end was read: its kernels ran
      const int64_t epoch_syncs = cuda::host_syncs() - s0 - 1;  // less the end-of-epoch read
      s0 = cuda::host_syncs();
      std::fprintf(stderr, "bench_epoch %s: epoch %d  %.1f ms  mean loss %.4f\n", o.model.c_str(), e.epoch,
                   e.seconds * 1e3, e.train_loss);
      if (e.epoch == 1) return;  // warm-up
      ms.push_back(e.seconds * 1e3);
      syncs = std::max(syncs, epoch_syncs);
      last_loss = e.train_loss;
    };
    FitConfig fit_cfg;
    fit_cfg.epochs = o.epochs;
    fit_cfg.adam = AdamConfig{1e-3};
    fit_cfg.graphs = o.graphs;
    fit(*model, arena, hooks, fit_cfg);
    std::sort(ms.begin(), ms.end());
    std::string dev = o.device == Device::cuda ? cuda::device_name(0) : std::string("cpu");
    // How cuDNN's convolution algorithms were chosen (engine/cuda/conv.cu) and whether TF32 was on.
    const char* find = std::getenv("DRU_CUDNN_BENCHMARK");
    std::string impl = std::string("dru") + (find && std::strcmp(find, "1") == 0 ? " cudnn-find" : "") +
                       (o.device == Device::cuda && cuda::tf32() ? " tf32" : "") + (o.graphs ? " graphs" : "");
    std::printf("{\"bench\":\"epoch\",\"model\":\"%s\",\"impl\":\"%s\",\"device\":\"%s\",\"n\":%lld,\"batch\":%lld,"
                "\"steps\":%lld,\"epoch_ms\":%.2f,\"syncs_per_step\":%.3f,\"loss\":%.5f}\n",
                o.model.c_str(), impl.c_str(), dev.c_str(), (long long)o.n, (long long)o.batch, (long long)steps,
                ms[ms.size() / 2], double(syncs) / double(steps), last_loss);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_epoch: %s\n", e.what());
    return 1;
  }
}
