// bench_epoch.cpp — times whole training epochs with the data resident on the device, the workload the
// CUDA backend exists for (compared with tools/reference/bench_epoch_torch.py, the same models, data
// sizes and loop in PyTorch):
//
//   allcnn     AllCNN on 32x32 images: 12,208 images (AgeDB's training split), batch 256
//   stsb-lstm  the STS-B LSTM: 5,249 sentence pairs (STS-B's training split), batch 256, 10 words (the
//              paper's T) of 300-d word vectors per sentence
//
// Data are synthetic (timing does not depend on pixel values); images are already normalised f32.
// One epoch = a fresh permutation uploaded once, then per batch: index_select the batch, forward in
// train mode, L1 loss, backward, Adam (lr 1e-3); the batch losses are summed on the device and read
// once at the end. The first epoch warms up (cuDNN algorithm choice, the memory pool); the median of
// the others is reported, with the host synchronisations counted per step.
//
//   bench_epoch MODEL [--device cuda|cpu] [--epochs N] [--n SAMPLES] [--batch B] [--graphs]
//
// --graphs replays each full batch's step from one CUDA graph (cuda_runtime.h); the model must not
// draw host random numbers in training (AllCNN does not; the STS-B LSTM's dropout does, and is refused).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "engine/cuda_runtime.h"
#include "engine/optim.h"
#include "models/model.h"

using namespace dru;

namespace {

struct Options {
  std::string model;
  Device device = Device::cuda;
  int epochs = 4;
  int64_t n = 0, batch = 256;
  bool graphs = false;  // replay full batches from a CUDA graph
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "bench_epoch: %s\nusage: bench_epoch allcnn|stsb-lstm [--device cuda|cpu] [--epochs N] "
                       "[--n SAMPLES] [--batch B] [--graphs]\n", why);
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
    } else {
      usage(("bad option or value: " + a + " " + v).c_str());
    }
  }
  if (o.n == 0) o.n = o.model == "allcnn" ? 12208 : 5249;
  if (o.graphs && o.device != Device::cuda) usage("--graphs needs --device cuda");
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
    Adam adam(arena, AdamConfig{1e-3});

    // The data set, resident on the device.
    Tensor x, x2, y = random_tensor(Shape{o.n, 1}, gen, 0, 5, o.device);
    if (o.model == "allcnn") {
      x = random_tensor(Shape{o.n, 3, 32, 32}, gen, -1, 1, o.device);
    } else {
      x = random_tensor(Shape{o.n, T, D}, gen, -1, 1, o.device);
      x2 = random_tensor(Shape{o.n, T, D}, gen, -1, 1, o.device);
    }
    const int64_t steps = (o.n + o.batch - 1) / o.batch;
    std::vector<double> ms;
    int64_t syncs = 0;
    double last_loss = 0;
    // Batch losses are summed in one device buffer for the whole run (a graph keeps its address).
    Tensor total = Tensor::zeros(Shape{}, DType::f32, o.device);
    // One training step on the rows idx (i64 on the device) of the resident data.
    auto train_step = [&](const Tensor& idx) {
      ModelInput in;
      in.x = index_select(x, idx);
      if (x2.defined()) in.x2 = index_select(x2, idx);
      adam.zero_grad();
      Tensor loss = l1_loss(model->forward(in, Mode::train).pred, index_select(y, idx));
      add_(total, loss.detach().reshape(Shape{}));
      loss.backward();
      adam.step();
    };
    // --graphs: the first full batch runs eagerly (warming cuDNN's plans and the workspaces up to size),
    // the second is captured into a CUDA graph, and every full batch from then on is one replay of it,
    // its rows copied first into a fixed index buffer; Adam counts steps on the device. A last, smaller
    // batch runs eagerly.
    std::unique_ptr<cuda::Graph> graph;
    Tensor idx_buf;
    if (o.graphs) {
      adam.set_device_steps(true);
      idx_buf = Tensor::empty(Shape{o.batch}, DType::i64, Device::cuda);
    }
    bool warmed = false;
    for (int e = 0; e < o.epochs; ++e) {
      if (o.device == Device::cuda) cuda::synchronize();
      auto t0 = std::chrono::steady_clock::now();
      int64_t s0 = cuda::host_syncs();
      std::vector<int64_t> perm(size_t(o.n));
      for (int64_t i = 0; i < o.n; ++i) perm[size_t(i)] = i;
      for (int64_t i = o.n - 1; i > 0; --i) std::swap(perm[size_t(i)], perm[size_t(gen.below(uint64_t(i + 1)))]);
      Tensor order = Tensor::from(perm, Shape{o.n}).to(o.device);
      total.fill_(0.0);
      for (int64_t b = 0; b < steps; ++b) {
        Tensor idx = order.slice(0, b * o.batch, std::min(o.n, (b + 1) * o.batch));
        if (!o.graphs || idx.numel() != o.batch) {
          train_step(idx);
          continue;
        }
        idx_buf.copy_(idx);  // device to device, queued before the replay
        if (!warmed) {
          train_step(idx_buf);
          warmed = true;
        } else {
          if (!graph) {
            graph = cuda::capture([&] { train_step(idx_buf); });
            adam.add_replayed_steps(-1);  // capturing ran step() on the host but took no step
          }
          graph->replay();
          adam.add_replayed_steps(1);
        }
      }
      syncs = cuda::host_syncs() - s0;
      last_loss = total.item() / double(steps);  // the epoch's one host synchronisation
      double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "bench_epoch %s: epoch %d  %.1f ms  mean loss %.4f\n", o.model.c_str(), e + 1, t, last_loss);
      if (e > 0) ms.push_back(t);
    }
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
