// test_gpu_train.cpp — whole models and training steps on the GPU: every model's forward and backward
// against the CPU (the models issue's CUDA parity), no host synchronisation inside a training step,
// bit-identical parameters from two identical runs, the fit loop's device-side scheduler, and CUDA
// graphs (a captured step replays as eager steps; fit with graphs trains exactly as without).
#include <doctest/doctest.h>

#include "engine/arena.h"
#include "engine/cuda_runtime.h"
#include "engine/fit.h"
#include "engine/optim.h"
#include "models/model.h"
#include "tests/gpu/gpu_util.h"

using namespace dru;
using namespace dru::gpu_test;

namespace {

// Small but complete configurations of every model (the CPU side must stay quick).
ModelConfig small_config(const std::string& name) {
  ModelConfig c;
  c.name = name;
  c.seed = 3;
  if (name == "resnet18") c.small_stem = true;
  if (name == "stsb-lstm") {
    c.embed_dim = 50;
    c.seq_len = 8;
  }
  if (name == "bert-lite") {
    c.vocab = 300;
    c.layers = 2;
    c.hidden = 64;
    c.heads = 4;
    c.ffn = 128;
    c.seq_len = 12;
  }
  if (name == "electricity-lstm") c.history = 48;
  return c;
}

ModelInput to_cuda(const ModelInput& in) {
  ModelInput o;
  if (in.x.defined()) o.x = in.x.to(Device::cuda);
  if (in.x2.defined()) o.x2 = in.x2.to(Device::cuda);
  if (in.mask.defined()) o.mask = in.mask.to(Device::cuda);
  return o;
}

struct Trained {
  std::unique_ptr<Model> model;
  ParamArena arena;
};

// A model on dev with its parameters in an arena.
std::unique_ptr<Trained> build(const ModelConfig& c, Device dev) {
  auto t = std::make_unique<Trained>();
  t->model = make_model(c);
  t->model->to(dev);
  t->arena.finalize(t->model->parameters());
  return t;
}

}  // namespace

TEST_CASE("gpu: every model forward and backward matches the CPU") {
  for (const std::string& name : model_names()) {
    ModelConfig c = small_config(name);
    auto cpu = build(c, Device::cpu);
    auto gpu = build(c, Device::cuda);
    Generator g(11);
    ModelInput in = cpu->model->example_input(4, g);
    // Eval mode (no dropout draws); resnet18 also in train mode, for batch norm's batch statistics.
    for (Mode mode : {Mode::eval, Mode::train}) {
      if (mode == Mode::train && name != "resnet18" && name != "allcnn") continue;
      cpu->arena.zero_grad();
      gpu->arena.zero_grad();
      ModelOutput oc = cpu->model->forward(in, mode);
      ModelOutput og = gpu->model->forward(to_cuda(in), mode);
      Tensor target = randn(oc.pred.shape(), 5);
      l1_loss(oc.pred, target).backward();
      l1_loss(og.pred, target.to(Device::cuda)).backward();
      std::string tag = name + (mode == Mode::train ? " train" : " eval");
      expect_close(tag + " prediction", og.pred, oc.pred, 1e-4);
      // Train-mode batch norm over 4 samples divides by small batch deviations, which magnifies f32
      // rounding in the gradients (measured: 4e-3 scaled error for resnet18 on an H100).
      expect_close(tag + " parameter gradients", gpu->arena.grads, cpu->arena.grads, mode == Mode::train ? 2e-2 : 2e-3);
      REQUIRE(og.activations.size() == oc.activations.size());
      for (size_t i = 0; i < oc.activations.size(); ++i)
        expect_close(tag + " activation " + oc.activations[i].first, og.activations[i].second,
                     oc.activations[i].second, 1e-4);
    }
  }
}

namespace {

// n training steps of a model on the GPU: zero_grad, forward (train), L1, device-side loss sum,
// backward, Adam. Returns the host syncs counted during the last `counted` steps.
int64_t train_steps(Trained& t, Adam& adam, const ModelInput& in, const Tensor& target, int n, int counted) {
  Tensor total = Tensor::zeros(Shape{}, DType::f32, Device::cuda);
  int64_t s0 = 0;
  for (int i = 0; i < n; ++i) {
    if (i == n - counted) s0 = cuda::host_syncs();
    adam.zero_grad();
    Tensor loss = l1_loss(t.model->forward(in, Mode::train).pred, target);
    add_(total, loss.detach().reshape(Shape{}));
    loss.backward();
    adam.step();
  }
  int64_t syncs = cuda::host_syncs() - s0;
  CHECK(std::isfinite(total.item()));
  return syncs;
}

}  // namespace

TEST_CASE("gpu: a training step makes no host synchronisation") {
  for (const char* name : {"allcnn", "stsb-lstm", "bert-lite"}) {
    auto t = build(small_config(name), Device::cuda);
    Adam adam(t->arena, AdamConfig{1e-3});
    Generator g(2);
    ModelInput in = to_cuda(t->model->example_input(8, g));
    Tensor target = Tensor::zeros(Shape{8, 1}, DType::f32, Device::cuda);
    int64_t syncs = train_steps(*t, adam, in, target, 6, 4);
    fmt::print("  {:<48} host syncs in 4 steps: {}\n", name, syncs);
    CHECK_MESSAGE(syncs == 0, name << " synchronised " << syncs << " times in 4 steps");
  }
}

TEST_CASE("gpu: two identical training runs give bit-identical parameters") {
  for (const char* name : {"allcnn", "resnet18", "stsb-lstm", "bert-lite"}) {
    std::vector<double> runs[2];
    for (int r = 0; r < 2; ++r) {
      auto t = build(small_config(name), Device::cuda);
      Adam adam(t->arena, AdamConfig{1e-3});
      Generator g(9);
      ModelInput in = to_cuda(t->model->example_input(8, g));
      Tensor target = randn(Shape{8, 1}, 4).to(Device::cuda);
      train_steps(*t, adam, in, target, 5, 1);
      runs[r] = t->arena.values.to_vector();
    }
    size_t differ = 0;
    for (size_t i = 0; i < runs[0].size(); ++i) differ += runs[0][i] != runs[1][i];
    fmt::print("  {:<48} parameters that differ between runs: {}\n", name, differ);
    CHECK(differ == 0);
  }
}

TEST_CASE("gpu: fit runs the scheduler on the device and reads once per epoch") {
  auto t = build(small_config("stsb-lstm"), Device::cuda);
  Generator g(3);
  ModelInput in = to_cuda(t->model->example_input(16, g));
  Tensor target = randn(Shape{16, 1}, 6).to(Device::cuda);
  FitHooks h;
  h.batches_per_epoch = 3;
  h.train_loss = [&](int64_t) { return l1_loss(t->model->forward(in, Mode::train).pred, target); };
  h.validate = [] { return 0.0; };
  // A validation loss that never improves after epoch 1: with patience 1 the lr falls at epoch 3.
  int calls = 0;
  h.validate_device = [&] { return Tensor::full(Shape{1}, ++calls == 1 ? 1.0 : 2.0, DType::f32, Device::cuda); };
  std::vector<EpochLog> logs;
  h.log = [&](const EpochLog& e) { logs.push_back(e); };
  FitConfig cfg;
  cfg.epochs = 4;
  cfg.adam = AdamConfig{1e-2};
  cfg.plateau.patience = 1;
  cfg.plateau.factor = 0.5;
  int64_t s0 = cuda::host_syncs();
  fit(*t->model, t->arena, h, cfg);
  int64_t syncs = cuda::host_syncs() - s0;
  REQUIRE(logs.size() == 4);
  // The CPU rule on the same metrics gives the reference lr sequence.
  ReduceLROnPlateau ref(cfg.plateau, 1e-2);
  for (int e = 0; e < 4; ++e) {
    CHECK(logs[size_t(e)].lr == doctest::Approx(ref.lr()).epsilon(1e-12));
    CHECK(logs[size_t(e)].val_loss == (e == 0 ? 1.0 : 2.0));
    ref.step(e == 0 ? 1.0 : 2.0);
  }
  fmt::print("  {:<48} host syncs in 4 epochs of 3 steps: {}\n", "fit stsb-lstm", syncs);
  // One read per epoch, plus the best-weights snapshot when epoch 1 improves (one copy per tensor).
  CHECK(syncs <= 4 + int64_t(t->model->state_dict().size()));
}

namespace {

struct GraphRun {
  std::vector<double> params;
  int64_t steps = 0;
  double loss_sum = 0;
  int64_t syncs_in_replays = -1;
};

// One eager warm-up step, then 4 more: eager, or captured once and replayed 4 times. Eager and captured
// Adam steps run the same kernels, and dropout reads its counter from a replay counter in a graph, so
// the two runs should agree bit for bit.
GraphRun train_with_graph(const std::string& name, bool graphs) {
  auto t = build(small_config(name), Device::cuda);
  Adam adam(t->arena, AdamConfig{1e-3});
  Generator g(9);
  ModelInput in = to_cuda(t->model->example_input(8, g));
  Tensor target = randn(Shape{8, 1}, 4).to(Device::cuda);
  Tensor total = Tensor::zeros(Shape{}, DType::f32, Device::cuda);
  auto step = [&] {
    adam.zero_grad();
    Tensor loss = l1_loss(t->model->forward(in, Mode::train).pred, target);
    add_(total, loss.detach().reshape(Shape{}));
    loss.backward();
    adam.step();
  };
  step();
  GraphRun r;
  if (graphs) {
    std::unique_ptr<cuda::Graph> graph = cuda::capture(step);
    CHECK(adam.steps() == 1);  // capturing takes no step
    int64_t s0 = cuda::host_syncs();
    for (int i = 0; i < 4; ++i) graph->replay();
    r.syncs_in_replays = cuda::host_syncs() - s0;
  } else {
    for (int i = 0; i < 4; ++i) step();
  }
  r.params = t->arena.values.to_vector();
  r.steps = adam.steps();
  r.loss_sum = total.item();
  return r;
}

}  // namespace

TEST_CASE("gpu: a CUDA graph of a training step replays like eager steps") {
  // allcnn and resnet18: batch norm; stsb-lstm and bert-lite: dropout drawn through replay counters.
  for (const char* name : {"allcnn", "resnet18", "stsb-lstm", "bert-lite"}) {
    GraphRun eager = train_with_graph(name, false), replayed = train_with_graph(name, true);
    REQUIRE(eager.params.size() == replayed.params.size());
    size_t differ = 0;
    double worst = 0;
    for (size_t i = 0; i < eager.params.size(); ++i) {
      differ += eager.params[i] != replayed.params[i];
      worst = std::max(worst, std::abs(eager.params[i] - replayed.params[i]));
    }
    fmt::print("  {:<48} parameters differing from eager: {} (worst {:.2e}); host syncs in 4 replays: {}\n",
               std::string(name) + " graph replay", differ, worst, replayed.syncs_in_replays);
    CHECK(differ == 0);  // the same kernels on the same values in the same order
    CHECK(replayed.steps == 5);
    CHECK(replayed.syncs_in_replays == 0);
    CHECK(replayed.loss_sum == eager.loss_sum);
    CHECK(std::isfinite(replayed.loss_sum));
  }
}

TEST_CASE("gpu: capturing a step that needs the host is refused cleanly") {
  auto t = build(small_config("allcnn"), Device::cuda);
  Adam adam(t->arena, AdamConfig{1e-3});
  Generator g(9);
  ModelInput in = to_cuda(t->model->example_input(8, g));
  Tensor target = Tensor::zeros(Shape{8, 1}, DType::f32, Device::cuda);
  auto step = [&] {
    adam.zero_grad();
    Tensor loss = l1_loss(t->model->forward(in, Mode::train).pred, target);
    loss.backward();
    adam.step();
    return loss;
  };
  step();  // warm-up: workspaces at full size before the capture
  // Reading the loss on the host inside the step: a graph cannot wait for itself.
  CHECK_THROWS_WITH_AS(cuda::capture([&] { (void)step().item(); }), doctest::Contains("cannot capture a copy to the host"),
                       Error);
  CHECK_FALSE(cuda::capturing());
  // A host random draw inside the step: the replays would repeat it.
  Generator host(1);
  CHECK_THROWS_WITH_AS(cuda::capture([&] { (void)host.uniform(); }), doctest::Contains("random numbers on the host"),
                       Error);
  CHECK(adam.steps() == 1);  // the refused captures took no step
  step();                    // the stream works after the refused captures
  CHECK(adam.steps() == 2);
  CHECK(std::isfinite(t->arena.values.to_vector()[0]));
}

TEST_CASE("gpu: a captured Adam step replays as eager steps") {
  // Seven steps with new gradients each time: all eager, or one eager and six replays of a captured
  // step() (the gradients copied in before each replay, outside the graph); and the CPU's Adam.
  std::vector<double> runs[2];
  int64_t steps[2] = {0, 0};
  ParamArena cpu;
  cpu.finalize({{"w", randn(Shape{1029}, 1)}});
  Adam cpu_adam(cpu, AdamConfig{1e-2, 0.9, 0.999, 1e-8, 0.01});
  for (int s = 0; s < 7; ++s) {
    cpu.grads.copy_(randn(Shape{1029}, 10 + uint64_t(s)));
    cpu_adam.step();
  }
  for (int graphs = 0; graphs < 2; ++graphs) {
    ParamArena arena;
    arena.finalize({{"w", randn(Shape{1029}, 1).to(Device::cuda)}});
    Adam adam(arena, AdamConfig{1e-2, 0.9, 0.999, 1e-8, 0.01});
    std::unique_ptr<cuda::Graph> graph;
    for (int s = 0; s < 7; ++s) {
      arena.grads.copy_(randn(Shape{1029}, 10 + uint64_t(s)).to(Device::cuda));
      if (!graphs || s == 0) {
        adam.step();
        continue;
      }
      if (!graph) graph = cuda::capture([&] { adam.step(); });
      graph->replay();
    }
    runs[graphs] = arena.values.to_vector();
    steps[graphs] = adam.steps();
  }
  size_t differ = 0;
  for (size_t i = 0; i < runs[0].size(); ++i) differ += runs[0][i] != runs[1][i];
  fmt::print("  {:<48} values differing: {} of {}\n", "adam replayed steps vs eager steps", differ, runs[0].size());
  CHECK(differ == 0);  // the bias corrections come from the replay counter: steps 2..7, as eagerly
  CHECK(steps[1] == 7);
  // The step's scalars computed on the device against the CPU's (the same double formulas).
  expect_close("adam eager steps on cuda vs cpu", Tensor::from(runs[0], Shape{1029}), cpu.values, 1e-6);
}

namespace {

// fit on 40 resident rows in batches of 16 (the last has 8), 3 epochs, with or without graphs.
struct FitRun {
  std::vector<double> params;
  FitResult res;
  int64_t syncs = 0;
};
FitRun fit_small(const std::string& name, bool graphs) {
  auto t = build(small_config(name), Device::cuda);
  Generator g(5);
  ModelInput all = to_cuda(t->model->example_input(40, g));
  std::vector<int64_t> pred_dims = t->model->forward(all, Mode::eval).pred.shape().vec();  // (40, ...)
  Tensor y = randn(Shape(pred_dims), 8).to(Device::cuda);
  auto rows = [](const Tensor& x, int64_t b) {
    return x.defined() ? x.slice(0, b * 16, std::min<int64_t>(40, b * 16 + 16)) : Tensor();
  };
  FitHooks h;
  h.batches_per_epoch = 3;
  h.stage = [&](int64_t b) { return std::vector<Tensor>{rows(all.x, b), rows(all.x2, b), rows(all.mask, b), rows(y, b)}; };
  h.staged_loss = [&](const std::vector<Tensor>& v) {
    return l1_loss(t->model->forward(ModelInput{v[0], v[1], v[2]}, Mode::train).pred, v[3]);
  };
  h.validate = [] { return 0.0; };
  h.validate_device = [] { return Tensor::zeros(Shape{1}, DType::f32, Device::cuda); };
  h.log = [](const EpochLog&) {};
  FitConfig cfg;
  cfg.epochs = 3;
  cfg.adam = AdamConfig{1e-3};
  cfg.graphs = graphs;
  FitRun r;
  int64_t s0 = cuda::host_syncs();
  r.res = fit(*t->model, t->arena, h, cfg);
  r.syncs = cuda::host_syncs() - s0;
  r.params = t->arena.values.to_vector();
  return r;
}

}  // namespace

TEST_CASE("gpu: fit with CUDA graphs trains exactly as the eager fit") {
  // electricity-lstm and bert-lite keep size-derived index tensors (IndexCache): the smaller last batch
  // adds its own instead of replacing the one the graph reads.
  for (const char* name : {"allcnn", "stsb-lstm", "electricity-lstm", "bert-lite"}) {
    FitRun eager = fit_small(name, false), graphs = fit_small(name, true);
    size_t differ = 0;
    for (size_t i = 0; i < eager.params.size(); ++i) differ += eager.params[i] != graphs.params[i];
    fmt::print("  {:<48} replays {} (expected 5); parameters differing {}; host syncs {} vs eager {}\n",
               std::string(name) + " fit graphs", graphs.res.graph_replays, differ, graphs.syncs, eager.syncs);
    // Epoch 1: batch 1 warms up, batch 2 is captured (and replayed); epochs 2 and 3 replay both.
    CHECK(graphs.res.graph_replays == 5);
    CHECK(differ == 0);
    REQUIRE(graphs.res.epochs.size() == 3);
    for (size_t e = 0; e < 3; ++e) CHECK(graphs.res.epochs[e].train_loss == eager.res.epochs[e].train_loss);
    CHECK(graphs.syncs == eager.syncs);  // the epochs' reads (and the best-weights snapshot) only
  }
}
