// bench_cpu.cpp — CPU benchmarks of the engine against the machine (and, through
// tools/bench_torch_cpu.py, against PyTorch on the same CPU).
//
//   step: one training step (forward, backward, Adam) of a conv net with AllCNN's convolutions
//         (docs/paper.md §2.1: 3→96→96→192(s2)→192→192→192(s2)→192→192(1x1), each conv → batchnorm → ReLU,
//         then AvgPool(8) → Linear(192→1)), batch 32, 32×32 inputs, L1 loss.
//   resnet: one training step of ResNet-18 with the small-image stem (models/), batch 16, 32x32, L1.
//   adam: one Adam step over an 11.2 M-parameter arena (ResNet-18's size). Adam reads p, g, m, v and
//         writes p, m, v: 28 bytes per f32 parameter; GB/s is compared with a loop of the same memory
//         traffic and no arithmetic, measured in the same run (stream_bandwidth_gbs).
// Prints a table and one JSON row per measurement (median of the timed repetitions after warm-up).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <omp.h>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "kernels/common/host_timing.h"
#include "models/model.h"

using namespace dru;

namespace {

using bench::host_median_ms;

struct ConvNet : Module {
  explicit ConvNet(Generator& g) {
    // (in, out, kernel, stride) of AllCNN's eight blocks.
    const int spec[8][4] = {{3, 96, 3, 1},    {96, 96, 3, 1},   {96, 192, 3, 2},  {192, 192, 3, 1},
                            {192, 192, 3, 1}, {192, 192, 3, 2}, {192, 192, 3, 1}, {192, 192, 1, 1}};
    for (int i = 0; i < 8; ++i) {
      auto block = std::make_shared<Sequential>();
      block->add(std::make_shared<Conv2d>(spec[i][0], spec[i][1], spec[i][2], spec[i][3], (spec[i][2] - 1) / 2, false, g))
          .add(std::make_shared<BatchNorm>(spec[i][1]))
          .add(std::make_shared<ReLU>());
      blocks.push_back(register_module("conv" + std::to_string(i + 1), block));
    }
    fc = register_module("classifier", std::make_shared<Linear>(192, 1, true, g));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (auto& b : blocks) h = b->forward(h);
    return fc->forward(avg_pool2d(h, 8, 8).flatten(1));
  }
  std::vector<std::shared_ptr<Sequential>> blocks;
  std::shared_ptr<Linear> fc;
};

// The reference bandwidth for Adam: a loop with Adam's memory traffic and none of its arithmetic
// (read p, g, m, v; write p, m, v in place; 28 bytes per element) over the same footprint. memcpy is
// not the reference: for large sizes it uses non-temporal stores that bypass the cache, while Adam's
// 180 MB working set may sit in a large last-level cache; a loop of ordinary loads and stores sees
// the same memory level Adam does.
double stream_bandwidth_gbs(int64_t n) {
  const size_t len = static_cast<size_t>(n);
  std::vector<float> p(len, 1.0f), g(len, 1e-3f), m(len, 0.0f), v(len, 0.0f);
  float *pp = p.data(), *pg = g.data(), *pm = m.data(), *pv = v.data();
  double ms = host_median_ms(3, 21, [&] {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      pm[i] += pg[i];
      pv[i] += pg[i];
      pp[i] -= pg[i];
    }
  });
  return 28.0 * double(n) / (ms * 1e6);
}

// One training step: zero the arena, forward, L1 loss, backward, Adam.
double bench_step(int reps) {
  Generator g(0);
  ConvNet net(g);
  ParamArena arena;
  arena.finalize(net.parameters());
  Adam adam(arena, AdamConfig{0.001});
  Tensor x = Tensor::empty(Shape{32, 3, 32, 32});
  Tensor y = Tensor::empty(Shape{32, 1});
  g.fill_uniform(x, -1, 1);
  g.fill_uniform(y, 0, 100);
  return host_median_ms(2, reps, [&] {
    adam.zero_grad();
    Tensor loss = l1_loss(net(x), y);
    loss.backward();
    adam.step();
  });
}

// One training step of ResNet-18 with the small-image stem (models/resnet.h), batch 16, 32x32.
double bench_resnet_step(int reps) {
  ModelConfig cfg;
  cfg.name = "resnet18";
  cfg.small_stem = true;
  auto model = make_model(cfg);
  ParamArena arena;
  arena.finalize(model->parameters());
  Adam adam(arena, AdamConfig{0.001});
  Generator g(0);
  ModelInput in = model->example_input(16, g);
  Tensor y = Tensor::empty(Shape{16, 1});
  g.fill_uniform(y, 0, 100);
  return host_median_ms(2, reps, [&] {
    adam.zero_grad();
    Tensor loss = l1_loss(model->forward(in, Mode::train).pred, y);
    loss.backward();
    adam.step();
  });
}

double bench_adam(int64_t n, int reps) {
  ParamArena big;
  big.finalize({{"p", Tensor::zeros(Shape{n})}});
  big.grads.fill_(0.01);
  Adam adam(big, AdamConfig{0.001});
  return host_median_ms(3, std::max(reps, 20), [&] { adam.step(); });
}

}  // namespace

int main(int argc, char** argv) {
  int reps = argc > 1 ? std::atoi(argv[1]) : 10;
  std::string only = argc > 2 ? argv[2] : "";  // "step", "resnet" or "adam" runs one benchmark (for profiling)
  int threads = omp_get_max_threads();
  std::printf("dru CPU bench: %d OpenMP threads, median of %d repetitions\n", threads, reps);

  if (only.empty() || only == "step") {
    double ms = bench_step(reps);
    std::printf("%-34s %10.2f\n", "allcnn step (batch 32, 32x32)", ms);
    std::printf("{\"bench\": \"allcnn_step_cpu\", \"engine\": \"dru\", \"threads\": %d, \"ms\": %.3f}\n", threads, ms);
  }
  if (only.empty() || only == "resnet") {
    double ms = bench_resnet_step(reps);
    std::printf("%-34s %10.2f\n", "resnet18 small-stem step (b16)", ms);
    std::printf("{\"bench\": \"resnet18_small_step_cpu\", \"engine\": \"dru\", \"threads\": %d, \"ms\": %.3f}\n", threads,
                ms);
  }
  if (only.empty() || only == "adam") {
    const int64_t n = 11'200'000;
    double ms = bench_adam(n, reps);
    double gbs = 28.0 * double(n) / (ms * 1e6);
    double stream_gbs = stream_bandwidth_gbs(n);
    std::printf("%-34s %10.3f ms %8.2f GB/s %5.0f%% of the same-traffic streaming loop (%.2f GB/s)\n",
                "adam step (11.2M params)", ms, gbs, 100.0 * gbs / stream_gbs, stream_gbs);
    std::printf("{\"bench\": \"adam_step_cpu\", \"engine\": \"dru\", \"threads\": %d, \"params\": %lld, \"ms\": %.4f, "
                "\"gbs\": %.3f, \"stream_gbs\": %.3f}\n",
                threads, static_cast<long long>(n), ms, gbs, stream_gbs);
  }
  return 0;
}
