// test_nn.cpp — modules (names, counts, initialisation ranges, state_dict), the parameter arena,
// the fit loop (best checkpoint, resume, the stage/staged_loss split CUDA graphs use, graphs refused
// on the CPU), the generator's device draws outside a capture, and the demo MLP reaching a low
// validation error.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "data/table.h"
#include "engine/arena.h"
#include "engine/checkpoint.h"
#include "engine/cuda_runtime.h"
#include "engine/fit.h"
#include "engine/nn.h"
#include "tests/temp_dir.h"
#include "tools/demo.h"

using namespace dru;

namespace {

using dru::test::TempDir;

struct TinyNet : Module {
  TinyNet(Generator& g) {
    conv = register_module("conv", std::make_shared<Conv2d>(3, 4, 3, 1, 1, false, g));
    bn = register_module("bn", std::make_shared<BatchNorm>(4));
    head = register_module("head", std::make_shared<Linear>(4, 1, true, g));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = relu(bn->forward(conv->forward(x)));
    return head->forward(mean(h, {2, 3}));
  }
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm> bn;
  std::shared_ptr<Linear> head;
};

}  // namespace

TEST_CASE("nn: parameter names follow PyTorch's state_dict") {
  Generator g(0);
  TinyNet net(g);
  std::vector<std::string> names;
  for (auto& [n, t] : net.parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"conv.weight", "bn.weight", "bn.bias", "head.weight", "head.bias"});
  auto sd = net.state_dict();
  CHECK(sd.count("bn.running_mean"));
  CHECK(sd.count("bn.running_var"));
  CHECK(sd.count("bn.num_batches_tracked"));
  CHECK(net.num_parameters() == 4 * 3 * 9 + 4 + 4 + 4 + 1);
  Generator g2(0);
  LSTM lstm(5, 7, 2, g2);
  auto p = lstm.parameters();
  CHECK(p[0].first == "weight_ih_l0");
  CHECK(p[0].second.shape() == Shape{28, 5});
  CHECK(p[5].first == "weight_hh_l1");
  CHECK(p[5].second.shape() == Shape{28, 7});
}

TEST_CASE("nn: default initialisation ranges match PyTorch") {
  Generator g(1);
  Linear lin(100, 50, true, g);
  double bound = 1.0 / std::sqrt(100.0), mx = 0, sum = 0;
  for (double v : lin.weight.to_vector()) {
    mx = std::max(mx, std::fabs(v));
    sum += v;
  }
  CHECK(mx <= bound);
  CHECK(mx > 0.95 * bound);                        // the whole range is used
  CHECK(std::fabs(sum / 5000.0) < 0.05 * bound);   // centred
  Conv2d conv(8, 4, 3, 1, 1, true, g);
  for (double v : conv.weight.to_vector()) CHECK(std::fabs(v) <= 1.0 / std::sqrt(72.0));
  BatchNorm bn(3);
  CHECK(bn.weight.to_vector() == std::vector<double>{1, 1, 1});
  CHECK(bn.running_var.to_vector() == std::vector<double>{1, 1, 1});
  Embedding emb(1000, 10, g);
  double s2 = 0;
  for (double v : emb.weight.to_vector()) s2 += v * v;
  CHECK(std::sqrt(s2 / 10000.0) == doctest::Approx(1.0).epsilon(0.05));  // N(0, 1)
}

TEST_CASE("nn: state_dict round trip through safetensors / strict errors") {
  Generator g(2), g2(3);
  TinyNet a(g), b(g2);
  TempDir tmp("nn");
  std::string dir = tmp.str();
  TensorFile f;
  f.tensors = a.state_dict();
  save_safetensors(dir + "/a.safetensors", f);
  b.load_state_dict(load_safetensors(dir + "/a.safetensors").tensors);
  CHECK(b.head->weight.to_vector() == a.head->weight.to_vector());
  auto sd = a.state_dict();
  sd.erase("head.bias");
  CHECK_THROWS_WITH_AS(b.load_state_dict(sd), doctest::Contains("'head.bias' is missing"), Error);
  sd = a.state_dict();
  sd["extra"] = Tensor::zeros(Shape{1});
  CHECK_THROWS_WITH_AS(b.load_state_dict(sd), doctest::Contains("the checkpoint has 'extra'"), Error);
}

TEST_CASE("nn: load_state_dict converts F32 and F64 but refuses integer weights and float counters") {
  Generator g(2), g2(3);
  TinyNet a(g), b(g2);
  // F64 weights load into the f32 model (and batch norm's I64 counter as it is).
  auto sd = a.state_dict();
  for (auto& [name, t] : sd)
    if (t.dtype() == DType::f32) t = t.detach().to(DType::f64);
  CHECK(sd.at("bn.num_batches_tracked").dtype() == DType::i64);
  b.load_state_dict(sd);
  CHECK(b.head->weight.to_vector() == a.head->weight.to_vector());
  // Integer weights would be truncated silently: refused, naming the tensor and its dtype.
  for (DType t : {DType::i64, DType::u8}) {
    sd = a.state_dict();
    sd["head.weight"] = sd["head.weight"].detach().to(t);
    CHECK_THROWS_WITH_AS(b.load_state_dict(sd),
                         doctest::Contains(fmt::format("load_state_dict: 'head.weight' is {} in the checkpoint, but the "
                                                       "model holds floating-point values (F32 or F64) there; this is "
                                                       "not a checkpoint of this model",
                                                       t == DType::i64 ? "I64" : "U8").c_str()),
                         Error);
  }
  sd = a.state_dict();
  sd["bn.num_batches_tracked"] = sd["bn.num_batches_tracked"].detach().to(DType::f32);
  CHECK_THROWS_WITH_AS(b.load_state_dict(sd),
                       doctest::Contains("'bn.num_batches_tracked' is F32 in the checkpoint, but the model holds an "
                                         "integer counter (I64 or U8) there"),
                       Error);
}

TEST_CASE("arena: parameters become views - backward accumulates into the flat gradient") {
  Generator g(4);
  Linear lin(3, 2, true, g);
  std::vector<double> before = lin.weight.to_vector();
  ParamArena arena;
  arena.finalize(lin.parameters());
  CHECK(arena.size() == 8);
  CHECK(lin.weight.to_vector() == before);  // values moved, not changed
  CHECK(lin.weight.raw() == arena.values.raw());
  Tensor x = Tensor::ones(Shape{4, 3});
  sum(lin(x)).backward();
  std::vector<double> gr = arena.grads.to_vector();
  for (int i = 0; i < 6; ++i) CHECK(gr[size_t(i)] == 4.0);  // d/dw of sum over 4 rows of ones
  CHECK(gr[6] == 4.0);
  arena.zero_grad();
  CHECK(lin.weight.grad().to_vector() == std::vector<double>(6, 0.0));
}

TEST_CASE("fit: keeps the best validation checkpoint and resumes to the same result") {
  TempDir tmp("fit");
  std::string dir = tmp.str();
  auto run = [&](int epochs, bool resume) {
    DemoConfig cfg;
    cfg.epochs = epochs;
    cfg.quiet = true;
    cfg.checkpoint_dir = dir;
    cfg.resume = resume;
    return run_demo(cfg);
  };
  DemoResult full = run(6, false);
  CHECK(full.fit.epochs.size() == 6);
  CHECK(std::filesystem::exists(dir + "/best.safetensors"));
  CHECK(std::filesystem::exists(dir + "/last.state.safetensors"));
  for (auto& e : std::filesystem::directory_iterator(dir))
    CHECK_MESSAGE(e.path().string().find(".tmp") == std::string::npos, "temporary file left: " << e.path());
  std::filesystem::remove_all(dir);
  run(3, false);
  DemoResult resumed = run(6, true);
  CHECK(resumed.fit.start_epoch == 4);
  REQUIRE(resumed.fit.epochs.size() == 3);
  // Epochs 4..6 after a resume equal epochs 4..6 of the uninterrupted run.
  for (int i = 0; i < 3; ++i) {
    CHECK(resumed.fit.epochs[size_t(i)].train_loss == full.fit.epochs[size_t(i + 3)].train_loss);
    CHECK(resumed.fit.epochs[size_t(i)].val_loss == full.fit.epochs[size_t(i + 3)].val_loss);
  }
  CHECK(resumed.val_l1 == full.val_l1);
}

namespace {

// An MLP with dropout, trained by fit on 40 random rows in batches of 16 (the last one has 8), either
// through train_loss or through the stage/staged_loss pair; returns the final parameters.
struct SplitRun {
  std::vector<double> params;
  FitResult fit;
};
SplitRun fit_mlp(bool split, bool graphs) {
  Generator g(11);
  struct Mlp : Module {
    explicit Mlp(Generator& g) {
      a = register_module("a", std::make_shared<Linear>(5, 8, true, g));
      drop = register_module("drop", std::make_shared<Dropout>(0.3, 5));
      b = register_module("b", std::make_shared<Linear>(8, 1, true, g));
    }
    Tensor forward(const Tensor& x) override { return b->forward(drop->forward(relu(a->forward(x)))); }
    std::shared_ptr<Linear> a, b;
    std::shared_ptr<Dropout> drop;
  } net(g);
  ParamArena arena;
  arena.finalize(net.parameters());
  Tensor x = Tensor::empty(Shape{40, 5}), y = Tensor::empty(Shape{40, 1});
  g.fill_normal(x, 0, 1);
  g.fill_normal(y, 0, 1);
  auto batch = [](const Tensor& t, int64_t b) { return t.slice(0, b * 16, std::min<int64_t>(40, b * 16 + 16)); };
  FitHooks h;
  h.batches_per_epoch = 3;
  if (split) {
    h.stage = [&](int64_t b) { return std::vector<Tensor>{batch(x, b), batch(y, b)}; };
    h.staged_loss = [&](const std::vector<Tensor>& v) { return l1_loss(net.forward(v[0]), v[1]); };
  } else {
    h.train_loss = [&](int64_t b) { return l1_loss(net.forward(batch(x, b)), batch(y, b)); };
  }
  h.validate = [&] { return l1_loss(net.forward(x), y).item(); };
  h.log = [](const EpochLog&) {};
  FitConfig cfg;
  cfg.epochs = 3;
  cfg.adam = AdamConfig{1e-2};
  cfg.graphs = graphs;
  SplitRun r;
  r.fit = fit(net, arena, h, cfg);
  r.params = arena.values.to_vector();
  return r;
}

}  // namespace

TEST_CASE("fit: the stage and staged_loss hooks train exactly as train_loss") {
  SplitRun whole = fit_mlp(false, false), split = fit_mlp(true, false);
  CHECK(split.params == whole.params);  // the same batches, dropout draws and steps: bit for bit
  REQUIRE(split.fit.epochs.size() == 3);
  for (size_t e = 0; e < 3; ++e) CHECK(split.fit.epochs[e].train_loss == whole.fit.epochs[e].train_loss);
  // On the CPU graphs are refused with a message and the loop runs eagerly, with the same results.
  SplitRun graphs = fit_mlp(true, true);
  CHECK(graphs.params == whole.params);
  CHECK(graphs.fit.graph_replays == 0);
}

TEST_CASE("fit: with neither train_loss nor both stage hooks it refuses to start") {
  Generator g(1);
  Linear lin(2, 1, true, g);
  ParamArena arena;
  arena.finalize(lin.parameters());
  FitHooks h;
  h.batches_per_epoch = 1;
  h.validate = [] { return 0.0; };
  h.stage = [](int64_t) { return std::vector<Tensor>{}; };
  CHECK_THROWS_WITH_AS(fit(lin, arena, h, FitConfig{}), doctest::Contains("either train_loss or stage and staged_loss"),
                       Error);
}

TEST_CASE("rng: outside a CUDA graph capture a device draw is a plain reservation") {
  Generator a(3, 100), b(3, 100);
  Generator::DeviceDraw d = a.reserve_device(64);
  CHECK(d.base == nullptr);
  CHECK(d.first == b.reserve(64));
  CHECK(a.offset() == b.offset());
  uint64_t counter = 7;
  CHECK(cuda::replay_counter(&counter, 5) == nullptr);
  CHECK(counter == 7);
}

TEST_CASE("demo: the MLP reaches a low validation error on the diabetes table") {
  DemoConfig cfg;
  cfg.quiet = true;
  DemoResult r = run_demo(cfg);
  MESSAGE("demo validation L1 " << r.val_l1 << " (median predictor " << r.baseline_val_l1 << ")");
  CHECK(r.n_train + r.n_val == 442);
  // A linear model reaches about 43-45 on this table; predicting the median about 62-66.
  CHECK(r.val_l1 < 0.75 * r.baseline_val_l1);
  CHECK(r.val_l1 < 48.0);
}

TEST_CASE("table: malformed rows give one clear error") {
  TempDir tmp("table");
  std::string dir = tmp.str();
  auto write = [&](const std::string& text) {
    std::string p = dir + "/t.txt";
    write_file_atomic(p, text);
    return p;
  };
  CHECK_THROWS_WITH_AS(read_table(dir + "/missing.txt"), doctest::Contains("cannot open the file"), Error);
  CHECK_THROWS_WITH_AS(read_table(write("a b target\n1 2 3\n4 5\n")), doctest::Contains("t.txt:3: 2 fields, the header has 3"),
                       Error);
  CHECK_THROWS_WITH_AS(read_table(write("a,target\n1,nan\n")), doctest::Contains("column 'target' holds 'nan'"), Error);
  CHECK_THROWS_WITH_AS(read_table(write("a,target\n")), doctest::Contains("no data rows"), Error);
  Table t = read_table(write("a, target\n1, 2\n\n3,4\n"));
  CHECK(t.rows.size() == 2);
  CHECK(t.column("target") == 1);
  // A folder (dru demo --data data/diabetes) is said to be one, not "the file is empty".
  CHECK_THROWS_WITH_AS(read_table(dir),
                       doctest::Contains((dir + ": is a folder; give the table file inside it (a header row naming the "
                                                "columns, one of them 'target', then one row of numbers per sample; "
                                                "e.g. data/diabetes/diabetes.txt)").c_str()),
                       Error);
}
