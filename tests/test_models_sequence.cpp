// test_models_sequence.cpp — "stsb-lstm" and "electricity-lstm": parameter counts and names, shapes,
// golden values against their PyTorch twins (tests/fixtures/*_golden.json, written by
// tools/reference/make_sequence_fixture.py), gradients reaching every parameter, summaries, argument
// errors, and the training loss falling on slices of the real STS-B and electricity data.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/arena.h"
#include "engine/optim.h"
#include "models/forecaster.h"
#include "models/stsb_lstm.h"
#include "data/electricity.h"
#include "data/stsb.h"
#include "tests/fixture.h"
#include "tests/util.h"

using namespace dru;
using dru::test::seconds_since;
using dru::test::Worst;

namespace {


nlohmann::json load_fixture(const std::string& name) {
  return dru::test::load_fixture(name, "tools/reference/make_sequence_fixture.py");
}

std::vector<std::string> names_of(const Module& m) {
  std::vector<std::string> names;
  for (auto& [n, t] : m.parameters()) names.push_back(n);
  return names;
}

// A tensor whose flat element i is f(i); the same formulas as make_sequence_fixture.py.
template <class F> Tensor formula(const Shape& s, F f, DType dt = DType::f32) {
  std::vector<double> v(size_t(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = f(double(i));
  return Tensor::from(v, s, dt);
}

// Parameter k (state_dict order), element i: scale * sin(0.37 i + 0.11 k), scale 1/sqrt(shape[1]) for
// matrices and 0.1 for vectors.
void set_formula_parameters(Model& model) {
  int k = 0;
  for (auto& [name, p] : model.parameters()) {
    double scale = p.ndim() == 2 ? 1.0 / std::sqrt(double(p.size(1))) : 0.1;
    const double kk = k++;
    p.copy_(formula(p.shape(), [&](double i) { return scale * std::sin(0.37 * i + 0.11 * kk); }, p.dtype()));
  }
}

// One tensor against its fixture summary; the floors are 1e-3 of the group's own magnitude.
void compare_summary(Worst& w, const std::string& label, const Tensor& t, const nlohmann::json& j) {
  REQUIRE_MESSAGE(t.shape() == Shape(j.at("shape").get<std::vector<int64_t>>()),
                  label << " has shape " << t.shape().str());
  std::vector<double> v = t.to_vector();
  double s = 0;
  for (double x : v) s += x;
  const double abs_sum = j.at("abs_sum").get<double>();
  w.add(s, j.at("sum").get<double>(), 1e-3 * abs_sum, label + " sum");
  for (auto& pair : j.at("samples")) {
    size_t idx = pair[0].get<size_t>();
    w.add(v.at(idx), pair[1].get<double>(), 1e-3 * abs_sum / double(v.size()),
          label + "[" + std::to_string(idx) + "]");
  }
}

// Runs forward and backward of L = sum(pred * W) in both modes and compares with the fixture.
void check_golden(Model& model, const ModelInput& in, const nlohmann::json& fix) {
  set_formula_parameters(model);
  CHECK(model.num_parameters() == fix.at("parameters").get<int64_t>());
  const double tol = 1e-4;
  for (Mode mode : {Mode::train, Mode::eval}) {
    const std::string m = mode == Mode::train ? "train" : "eval";
    const nlohmann::json& ref = fix.at(m);
    for (auto& [n, p] : model.parameters()) p.impl->grad = Tensor();
    ModelOutput out = model.forward(in, mode);
    Tensor w = formula(out.pred.shape(), [](double i) { return std::cos(0.29 * i + 0.3); });
    sum(mul(out.pred, w)).backward();

    Worst wp{model.name() + " " + m + " pred"};
    std::vector<double> pv = out.pred.to_vector(), pr = ref.at("pred").at("values").get<std::vector<double>>();
    REQUIRE(pv.size() == pr.size());
    double scale = 0;
    for (double v : pr) scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < pv.size(); ++i) wp.add(pv[i], pr[i], 1e-3 * scale, "pred[" + std::to_string(i) + "]");
    wp.report(tol);

    Worst wa{model.name() + " " + m + " activations"};
    REQUIRE(out.activations.size() == ref.at("activations").size());
    for (size_t i = 0; i < out.activations.size(); ++i) {
      const nlohmann::json& ja = ref.at("activations")[i];
      CHECK(out.activations[i].first == ja.at("name").get<std::string>());
      compare_summary(wa, out.activations[i].first, out.activations[i].second, ja);
    }
    wa.report(tol);

    Worst wg{model.name() + " " + m + " gradients"};
    auto params = model.parameters();
    REQUIRE(params.size() == ref.at("grads").size());
    for (size_t i = 0; i < params.size(); ++i) {
      const nlohmann::json& jg = ref.at("grads")[i];
      CHECK(params[i].first == jg.at("name").get<std::string>());
      REQUIRE_MESSAGE(params[i].second.grad().defined(), params[i].first << " received no gradient");
      compare_summary(wg, params[i].first, params[i].second.grad(), jg);
    }
    wg.report(tol);
  }
}

ModelConfig stsb_config(int64_t d) {
  ModelConfig cfg;
  cfg.name = "stsb-lstm";
  cfg.embed_dim = d;
  return cfg;
}

ModelConfig electricity_config() {
  ModelConfig cfg;
  cfg.name = "electricity-lstm";
  return cfg;
}

void check_every_parameter_learns(Model& model) {
  Generator gen(5);
  ModelInput in = model.example_input(4, gen);
  ModelOutput out = model.forward(in, Mode::train);
  Tensor w = formula(out.pred.shape(), [](double i) { return std::cos(0.29 * i + 0.3); });
  sum(mul(out.pred, w)).backward();
  for (auto& [n, p] : model.parameters()) {
    REQUIRE_MESSAGE(p.grad().defined(), model.name() << ": " << n << " received no gradient");
    double mx = 0;
    for (double g : p.grad().to_vector()) mx = std::max(mx, std::fabs(g));
    CHECK_MESSAGE(mx > 0, model.name() << ": " << n << " has an all-zero gradient");
  }
}

// Means of the first and the last ten of the 50 losses, and the verdict.
void check_loss_falls(const std::string& what, const std::vector<double>& losses, double ratio) {
  REQUIRE(losses.size() >= 20);
  double first = 0, last = 0;
  for (size_t i = 0; i < 10; ++i) {
    first += losses[i] / 10;
    last += losses[losses.size() - 10 + i] / 10;
  }
  MESSAGE(what << ": mean loss of the first 10 steps " << first << ", of the last 10 " << last << " (must be below "
               << ratio << " x first)");
  CHECK(std::isfinite(last));
  CHECK(last < ratio * first);
}

}  // namespace

TEST_CASE("stsb-lstm: parameter counts and PyTorch names") {
  CHECK(make_model(stsb_config(300))->num_parameters() == 104577);
  auto m100 = make_model(stsb_config(100));
  CHECK(m100->num_parameters() == 53377);
  CHECK(names_of(*m100) == std::vector<std::string>{"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                                                    "lstm.bias_hh_l0", "fc1.weight", "fc1.bias", "fc2.weight",
                                                    "fc2.bias", "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias"});
  CHECK(m100->state_dict().size() == 12);  // no buffers
  CHECK(m100->name() == "stsb-lstm");
}

TEST_CASE("electricity-lstm: parameter count and PyTorch names") {
  auto m = make_model(electricity_config());
  CHECK(m->num_parameters() == 28632);
  CHECK(names_of(*m) == std::vector<std::string>{"customer_embedding.weight", "lstm.weight_ih_l0",
                                                 "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
                                                 "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
  CHECK(m->name() == "electricity-lstm");
}

TEST_CASE("stsb-lstm: output and activation shapes") {
  auto m = make_model(stsb_config(100));
  Generator gen(1);
  ModelInput in = m->example_input(3, gen);
  CHECK(in.x.shape() == Shape{3, 10, 100});
  ModelOutput out = m->forward(in, Mode::eval);
  CHECK(out.pred.shape() == Shape{3, 1});
  REQUIRE(out.activations.size() == 4);
  std::vector<std::pair<std::string, Shape>> want{
      {"dropout1", Shape{3, 10, 64}}, {"dropout2", Shape{3, 10, 64}}, {"fc1", Shape{3, 64}}, {"fc2", Shape{3, 32}}};
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(out.activations[i].first == want[i].first);
    CHECK(out.activations[i].second.shape() == want[i].second);
  }
  // Any sentence length runs.
  ModelInput shorter = in;
  shorter.x = in.x.slice(1, 0, 4);
  shorter.x2 = in.x2.slice(1, 0, 4);
  CHECK(m->forward(shorter, Mode::eval).activations[0].second.shape() == Shape{3, 4, 64});
}

TEST_CASE("electricity-lstm: output and activation shapes") {
  auto m = make_model(electricity_config());
  Generator gen(2);
  ModelInput in = m->example_input(2, gen);
  CHECK(in.x.shape() == Shape{2, 168, 3});
  CHECK(in.x2.shape() == Shape{2});
  ModelOutput out = m->forward(in, Mode::eval);
  CHECK(out.pred.shape() == Shape{2, 24, 3});
  REQUIRE(out.activations.size() == 2);
  CHECK(out.activations[0].first == "dropout");
  CHECK(out.activations[0].second.shape() == Shape{2, 168, 64});
  CHECK(out.activations[1].first == "fc1");
  CHECK(out.activations[1].second.shape() == Shape{2, 64});
}

TEST_CASE("stsb-lstm: golden values against PyTorch in train and eval mode") {
  nlohmann::json fix = load_fixture("stsb_lstm_golden.json");
  const auto& sz = fix.at("sizes");
  ModelConfig cfg = stsb_config(sz.at("D").get<int64_t>());
  cfg.seq_len = sz.at("T").get<int64_t>();
  cfg.lstm_dropout = 0.0;  // the golden check is deterministic
  auto m = make_model(cfg);
  Shape s{sz.at("N").get<int64_t>(), cfg.seq_len, cfg.embed_dim};
  ModelInput in;
  in.x = formula(s, [](double i) { return 0.8 * std::sin(0.13 * i + 0.7); });
  in.x2 = formula(s, [](double i) { return 0.8 * std::cos(0.17 * i + 0.2); });
  check_golden(*m, in, fix);
}

TEST_CASE("electricity-lstm: golden values against PyTorch in train and eval mode") {
  nlohmann::json fix = load_fixture("electricity_lstm_golden.json");
  const auto& sz = fix.at("sizes");
  ModelConfig cfg = electricity_config();
  cfg.customers = sz.at("customers").get<int64_t>();
  cfg.horizon = sz.at("horizon").get<int64_t>();
  cfg.history = sz.at("T").get<int64_t>();
  cfg.lstm_dropout = 0.0;
  auto m = make_model(cfg);
  const int64_t n = sz.at("N").get<int64_t>();
  ModelInput in;
  in.x = formula(Shape{n, cfg.history, 3}, [](double i) { return std::sin(0.21 * i + 0.3); });
  std::vector<int64_t> ids;
  for (int64_t j = 0; j < n; ++j) ids.push_back((3 * j + 1) % cfg.customers);
  in.x2 = Tensor::from(ids, Shape{n});
  check_golden(*m, in, fix);
}

TEST_CASE("sequence models: every parameter receives a non-zero gradient") {
  check_every_parameter_learns(*make_model(stsb_config(100)));
  check_every_parameter_learns(*make_model(electricity_config()));
}

TEST_CASE("sequence models: dropout acts in train mode only") {
  for (ModelConfig cfg : {stsb_config(100), electricity_config()}) {
    auto m = make_model(cfg);
    Generator gen(3);
    ModelInput in = m->example_input(2, gen);
    NoGradGuard ng;
    std::vector<double> e1 = m->forward(in, Mode::eval).pred.to_vector();
    std::vector<double> e2 = m->forward(in, Mode::eval).pred.to_vector();
    std::vector<double> t1 = m->forward(in, Mode::train).pred.to_vector();
    CHECK_MESSAGE(e1 == e2, cfg.name << ": eval is not deterministic");
    CHECK_MESSAGE(t1 != e1, cfg.name << ": train mode gave the eval output (dropout 0.3 inactive)");
  }
}

TEST_CASE("sequence models: summary rows") {
  auto s = make_model(stsb_config(300))->summary();
  REQUIRE(s.size() == 8);
  std::vector<std::string> layers, outputs;
  int64_t total = 0;
  for (auto& r : s) {
    layers.push_back(r.layer);
    outputs.push_back(r.output);
    total += r.params;
  }
  CHECK(layers == std::vector<std::string>{"lstm", "dropout1", "dropout2", "fc1", "fc2", "fc3", "fc4", "output"});
  CHECK(outputs == std::vector<std::string>{"-", "(1, 10, 64)", "(1, 10, 64)", "(1, 64)", "(1, 32)", "-", "-", "(1, 1)"});
  CHECK(s[0].params == 93696);
  CHECK(total == 104577);

  auto e = make_model(electricity_config())->summary();
  REQUIRE(e.size() == 6);
  CHECK(e[0].layer == "customer_embedding");
  CHECK(e[0].params == 80);
  CHECK(e[2].layer == "dropout");
  CHECK(e[2].output == "(1, 168, 64)");
  CHECK(e[3].output == "(1, 64)");
  CHECK(e[5].layer == "output");
  CHECK(e[5].output == "(1, 24, 3)");
}

TEST_CASE("sequence models: bad inputs throw naming the model and the shapes") {
  auto m = make_model(stsb_config(100));
  ModelInput in;
  in.x = Tensor::zeros(Shape{2, 10, 100});
  CHECK_THROWS_WITH_AS(m->forward(in, Mode::eval), doctest::Contains("stsb-lstm: needs both sentences"), Error);
  in.x2 = Tensor::zeros(Shape{2, 10, 300});
  CHECK_THROWS_WITH_AS(m->forward(in, Mode::eval), doctest::Contains("sentence 2 (x2) has shape (2, 10, 300)"), Error);
  in.x2 = Tensor::zeros(Shape{2, 8, 100});
  CHECK_THROWS_WITH_AS(m->forward(in, Mode::eval), doctest::Contains("sentence shapes (2, 10, 100) and (2, 8, 100)"),
                       Error);
  in.x2 = Tensor::zeros(Shape{2, 10, 100}, DType::f64);
  CHECK_THROWS_WITH_AS(m->forward(in, Mode::eval), doctest::Contains("dtype f64"), Error);
  in.x = Tensor::zeros(Shape{20, 100});
  CHECK_THROWS_WITH_AS(m->forward(in, Mode::eval), doctest::Contains("expected (N, T, 100)"), Error);

  auto e = make_model(electricity_config());
  ModelInput ein;
  ein.x = Tensor::zeros(Shape{2, 168, 4});
  ein.x2 = Tensor::from(std::vector<int64_t>{0, 1}, Shape{2});
  CHECK_THROWS_WITH_AS(e->forward(ein, Mode::eval), doctest::Contains("features have shape (2, 168, 4)"), Error);
  ein.x = Tensor::zeros(Shape{2, 168, 3});
  ein.x2 = Tensor::from(std::vector<int64_t>{0, 1, 2}, Shape{3});
  CHECK_THROWS_WITH_AS(e->forward(ein, Mode::eval), doctest::Contains("customer ids have shape (3,) and dtype i64; expected (2,) i64"), Error);
  ein.x2 = Tensor::from(std::vector<int64_t>{0, 10}, Shape{2});
  CHECK_THROWS_WITH_AS(e->forward(ein, Mode::eval), doctest::Contains("outside the vocabulary [0, 10)"), Error);
  ein.x2 = Tensor();
  CHECK_THROWS_WITH_AS(e->forward(ein, Mode::eval), doctest::Contains("needs past features"), Error);
}

TEST_CASE("stsb-lstm: training loss falls on real STS-B pairs with GloVe 100-d") {
  // The shipped STS-B and GloVe 100-d through the data library's loader (the paper's cleaning and
  // unknown-word rule); the file is sorted by score, so take 256 pairs spread evenly over it.
  auto t0 = std::chrono::steady_clock::now();
  const int64_t rows = 256, batch = 32;
  DataSet ds = load_stsb_vectors(StsbOptions::from_root(std::string(DRU_SOURCE_DIR) + "/data"));
  std::vector<int64_t> pick;
  for (int64_t i = 0; i < rows; ++i) pick.push_back(i * ds.train.size() / rows);
  Samples slice = ds.train.select(pick);
  REQUIRE(slice.x.size(2) == 100);
  const Tensor &x1 = slice.x, &x2 = slice.x2, &y = slice.y;
  MESSAGE("loaded " << ds.train.size() << " training pairs (using " << rows << ") in " << seconds_since(t0) << " s");

  ModelConfig cfg = stsb_config(100);
  auto model = make_model(cfg);
  ParamArena arena;
  arena.finalize(model->parameters());
  Adam adam(arena, AdamConfig{.lr = 1e-3});
  Generator gen(11);
  std::vector<int64_t> order = gen.permutation(rows);
  std::vector<double> losses;
  for (int step = 0; step < 50; ++step) {
    const int64_t start = (step * batch) % rows;
    Tensor idx = Tensor::from(std::vector<int64_t>(order.begin() + start, order.begin() + start + batch), Shape{batch});
    ModelInput in;
    in.x = index_select(x1, idx);
    in.x2 = index_select(x2, idx);
    adam.zero_grad();
    Tensor loss = mse_loss(model->forward(in, Mode::train).pred, index_select(y, idx));
    loss.backward();
    adam.step();
    losses.push_back(loss.item());
  }
  check_loss_falls("stsb-lstm MSE", losses, 0.8);
  MESSAGE("stsb-lstm: 50 steps of batch 32 in " << seconds_since(t0) << " s");
}

TEST_CASE("electricity-lstm: training quantile loss falls on real hourly load") {
  const std::string csv = std::string(DRU_SOURCE_DIR) + "/data/electricity/ld2011_2014_mt001-010_hourly.csv";
  auto t0 = std::chrono::steady_clock::now();
  // 256 seeded random training windows through the data library's loader (standardised load, hour of
  // day, day of week; the paper's split).
  ModelConfig cfg = electricity_config();
  const int64_t windows = 256, batch = 16;
  ElectricityOptions eo;
  eo.path = csv;
  eo.max_train = windows;
  eo.seed = 7;
  DataSet ds = load_electricity(eo);
  REQUIRE(ds.train.size() == windows);
  struct {
    Tensor x, ids, target;
  } data{ds.train.x, ds.train.x2, ds.train.y};

  auto model = make_model(cfg);
  ParamArena arena;
  arena.finalize(model->parameters());
  Adam adam(arena, AdamConfig{.lr = 1e-3});
  std::vector<double> losses;
  for (int step = 0; step < 50; ++step) {
    const int64_t start = (step * batch) % windows;
    ModelInput in;
    in.x = data.x.slice(0, start, start + batch);
    in.x2 = data.ids.slice(0, start, start + batch);
    Tensor target = data.target.slice(0, start, start + batch).reshape(Shape{batch * cfg.horizon});
    adam.zero_grad();
    Tensor pred = model->forward(in, Mode::train).pred.reshape(Shape{batch * cfg.horizon, 3});
    Tensor loss = quantile_loss(pred, target, kElectricityQuantiles);
    loss.backward();
    adam.step();
    losses.push_back(loss.item());
  }
  check_loss_falls("electricity-lstm quantile loss", losses, 0.8);
  MESSAGE("electricity-lstm: data and 50 steps of batch " << batch << " in " << seconds_since(t0) << " s");
}
