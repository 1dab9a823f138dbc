// test_optim.cpp — Adam and ReduceLROnPlateau against PyTorch, and their saved state.
//
// The reference values come from tools/fixtures/make_optim_fixture.py (torch 1.13 on the CPU), kept in
// tests/fixtures/{adam,plateau}_fixture.json.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/temp_dir.h"
#include "tests/util.h"
#include "tests/fixture.h"
#include "engine/optim.h"

using namespace dru;
using dru::test::same_bytes;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

json load_fixture(const char* name) { return dru::test::load_fixture(name, "tools/fixtures/make_optim_fixture.py"); }

using dru::test::TempDir;

// An arena holding one parameter "w" with the given values; the arena keeps the tensor alive.
void make_arena(ParamArena& arena, const std::vector<double>& values, DType dt, const char* name = "w") {
  arena.finalize({{name, Tensor::from(values, Shape{int64_t(values.size())}, dt)}});
}

void set_grads(ParamArena& arena, const std::vector<double>& g) {
  arena.grads.copy_(Tensor::from(g, Shape{int64_t(g.size())}, arena.grads.dtype()));
}

AdamConfig adam_config_of(const json& c) {
  return AdamConfig{c["lr"].get<double>(), c["beta1"].get<double>(), c["beta2"].get<double>(), c["eps"].get<double>(),
                    c["weight_decay"].get<double>()};
}

PlateauConfig plateau_config_of(const json& c) {
  PlateauConfig p;
  p.mode = c["mode"] == "min" ? PlateauMode::min : PlateauMode::max;
  p.factor = c["factor"];
  p.patience = c["patience"];
  p.threshold = c["threshold"];
  p.threshold_mode = c["threshold_mode"] == "rel" ? ThresholdMode::rel : ThresholdMode::abs;
  p.cooldown = c["cooldown"];
  p.min_lr = c["min_lr"];
  return p;
}

}  // namespace

TEST_CASE("adam: matches PyTorch over 10 steps (f32 and f64)") {
  json fx = load_fixture("adam_fixture.json");
  auto initial = fx["initial"].get<std::vector<double>>();
  auto grads = fx["grads"].get<std::vector<std::vector<double>>>();
  for (const json& c : fx["cases"]) {
    DType dt = c["dtype"] == "f32" ? DType::f32 : DType::f64;
    // f32 follows PyTorch's operation order, so only the last bit or two may differ.
    double tol = dt == DType::f32 ? 1e-6 : 1e-12;
    ParamArena arena;
    make_arena(arena, initial, dt);
    Adam adam(arena, adam_config_of(c));
    double worst = 0;
    for (size_t t = 0; t < grads.size(); ++t) {
      set_grads(arena, grads[t]);
      adam.step();
      auto want = c["params_after"][t].get<std::vector<double>>();
      auto got = arena.values.to_vector();
      for (size_t i = 0; i < want.size(); ++i) {
        double err = std::abs(got[i] - want[i]) / std::max(std::abs(want[i]), 1e-3);
        worst = std::max(worst, err);
        CHECK_MESSAGE(err <= tol, "step " << t + 1 << " element " << i << ": " << got[i] << " vs " << want[i]);
      }
    }
    CHECK(adam.steps() == int64_t(grads.size()));
    MESSAGE(std::string(dtype_name(dt)) << " wd=" << c["weight_decay"] << ": worst relative error " << worst << " (tolerance "
                           << tol << ")");
  }
}

TEST_CASE("adam: first step moves each parameter by about lr against its gradient's sign") {
  ParamArena arena;
  make_arena(arena, {1.0, -2.0, 0.5}, DType::f64);
  Adam adam(arena, AdamConfig{.lr = 0.1});
  set_grads(arena, {3.0, -1e-3, 0.0});
  adam.step();
  auto p = arena.values.to_vector();
  // m / sqrt(v) after bias correction is g / |g|, so the step is lr up to eps; a zero gradient stays put.
  CHECK(p[0] == doctest::Approx(0.9).epsilon(1e-7));
  CHECK(p[1] == doctest::Approx(-1.9).epsilon(1e-5));
  CHECK(p[2] == 0.5);
  adam.zero_grad();
  CHECK(arena.grads.to_vector() == std::vector<double>{0, 0, 0});
}

TEST_CASE("reduce_lr_on_plateau: matches PyTorch lr sequence") {
  json fx = load_fixture("plateau_fixture.json");
  for (const json& c : fx["cases"]) {
    CAPTURE(c["name"].get<std::string>());
    ReduceLROnPlateau sched(plateau_config_of(c), c["lr"].get<double>());
    auto metrics = c["metrics"].get<std::vector<double>>();
    int reductions = 0;
    for (size_t e = 0; e < metrics.size(); ++e) {
      CAPTURE(e);
      double before = sched.lr();
      bool reduced = sched.step(metrics[e]);
      const json& want = c["after"][e];
      // Same double arithmetic as Python, so exact equality.
      CHECK(sched.lr() == want["lr"].get<double>());
      CHECK(sched.state().best == want["best"].get<double>());
      CHECK(sched.state().num_bad_epochs == want["num_bad_epochs"].get<int>());
      CHECK(sched.state().cooldown_counter == want["cooldown_counter"].get<int>());
      CHECK(reduced == (sched.lr() != before));
      CHECK(sched.state().last_epoch == int(e + 1));
      reductions += reduced;
    }
    MESSAGE(c["name"].get<std::string>() << ": " << reductions << " reductions over " << metrics.size() << " epochs");
  }
}

TEST_CASE("reduce_lr_on_plateau: state round trip continues identically") {
  json fx = load_fixture("plateau_fixture.json");
  const json& c = fx["cases"][0];
  auto metrics = c["metrics"].get<std::vector<double>>();
  ReduceLROnPlateau a(plateau_config_of(c), c["lr"].get<double>());
  for (size_t e = 0; e < 17; ++e) a.step(metrics[e]);

  // A scheduler built with other settings takes the saved configuration too, as torch's load_state_dict does.
  ReduceLROnPlateau b(PlateauConfig{}, 123.0);
  b.load_state_metadata(a.state_metadata());
  CHECK(b.state_metadata() == a.state_metadata());
  for (size_t e = 17; e < metrics.size(); ++e) {
    CHECK(a.step(metrics[e]) == b.step(metrics[e]));
    CHECK(a.lr() == b.lr());
  }

  // The initial best (+inf) survives the text form.
  ReduceLROnPlateau fresh(PlateauConfig{}, 0.1);
  ReduceLROnPlateau back(PlateauConfig{.mode = PlateauMode::max}, 1.0);
  back.load_state_metadata(fresh.state_metadata());
  CHECK(std::isinf(back.state().best));
  CHECK(back.state().best > 0);

  auto meta = a.state_metadata();
  meta["plateau.patience"] = "two";
  CHECK_THROWS_WITH_AS(b.load_state_metadata(meta), doctest::Contains("'plateau.patience' = 'two' is not an integer"),
                       Error);
  meta = a.state_metadata();
  meta.erase("plateau.lr");
  CHECK_THROWS_WITH_AS(b.load_state_metadata(meta), doctest::Contains("no 'plateau.lr' entry"), Error);
  CHECK_THROWS_WITH_AS(ReduceLROnPlateau(PlateauConfig{.factor = 1.0}, 0.1), doctest::Contains("factor 1 must be < 1"),
                       Error);
}

TEST_CASE("adam: state save and restore continues identically") {
  json fx = load_fixture("adam_fixture.json");
  auto initial = fx["initial"].get<std::vector<double>>();
  auto grads = fx["grads"].get<std::vector<std::vector<double>>>();
  AdamConfig cfg = adam_config_of(fx["cases"][1]);  // with weight decay and non-default betas
  PlateauConfig pcfg{.factor = 0.5, .patience = 0};
  TempDir dir("optim_resume");

  for (DType dt : {DType::f32, DType::f64}) {
    std::string dtype = dtype_name(dt);
    CAPTURE(dtype);
    // Uninterrupted: 10 steps.
    ParamArena ref_arena;
    make_arena(ref_arena, initial, dt);
    Adam ref(ref_arena, cfg);
    for (auto& g : grads) {
      set_grads(ref_arena, g);
      ref.step();
    }

    // Interrupted after 5 steps: parameters go to a model file, optimiser and scheduler to a state file.
    std::string model_path = dir.file("model.safetensors"), state_path = dir.file("train_state.safetensors");
    {
      ParamArena arena;
      make_arena(arena, initial, dt);
      Adam adam(arena, cfg);
      ReduceLROnPlateau plateau(pcfg, cfg.lr);
      for (size_t t = 0; t < 5; ++t) {
        set_grads(arena, grads[t]);
        adam.step();
        plateau.step(1.0);  // never improves after the first epoch: the lr halves, Adam does not see it
      }
      TensorFile model;
      model.tensors["w"] = arena.find("w").param.detach();
      save_safetensors(model_path, model);
      save_train_state(state_path, adam, plateau);
    }

    ParamArena arena;
    arena.finalize({{"w", load_safetensors(model_path).tensors.at("w")}});
    Adam adam(arena, AdamConfig{.lr = 0.5});  // wrong settings on purpose: the state restores them
    ReduceLROnPlateau plateau(PlateauConfig{}, 0.5);
    load_train_state(state_path, adam, plateau);
    CHECK(adam.steps() == 5);
    CHECK(adam.lr() == cfg.lr);
    CHECK(plateau.lr() == cfg.lr * 0.5 * 0.5 * 0.5 * 0.5);
    CHECK(plateau.config().factor == 0.5);
    for (size_t t = 5; t < grads.size(); ++t) {
      set_grads(arena, grads[t]);
      adam.step();
    }
    CHECK(same_bytes(arena.values, ref_arena.values));
    CHECK(same_bytes(adam.exp_avg(), ref.exp_avg()));
    CHECK(same_bytes(adam.exp_avg_sq(), ref.exp_avg_sq()));
  }
}

TEST_CASE("adam: loading a state for a different arena fails clearly and changes nothing") {
  TempDir dir("optim_mismatch");
  ParamArena a20;
  make_arena(a20, std::vector<double>(20, 1.0), DType::f32);
  Adam adam20(a20, AdamConfig{});
  set_grads(a20, std::vector<double>(20, 0.5));
  adam20.step();
  TensorFile state = adam20.state();

  ParamArena a21;
  make_arena(a21, std::vector<double>(21, 1.0), DType::f32);
  Adam adam21(a21, AdamConfig{.lr = 0.25});
  CHECK_THROWS_WITH_AS(adam21.load_state(state), doctest::Contains("'adam.m' has shape (20,) but the arena has 21"),
                       Error);
  CHECK(adam21.steps() == 0);
  CHECK(adam21.lr() == 0.25);

  ParamArena renamed;
  make_arena(renamed, std::vector<double>(20, 1.0), DType::f32, "v");
  Adam adam_renamed(renamed, AdamConfig{});
  CHECK_THROWS_WITH_AS(adam_renamed.load_state(state), doctest::Contains("the state was saved for parameters"), Error);

  ParamArena a64;
  make_arena(a64, std::vector<double>(20, 1.0), DType::f64);
  Adam adam64(a64, AdamConfig{});
  CHECK_THROWS_WITH_AS(adam64.load_state(state), doctest::Contains("'adam.m' is f32 but the arena is f64"), Error);

  TensorFile no_v = state;
  no_v.tensors.erase("adam.v");
  CHECK_THROWS_WITH_AS(adam20.load_state(no_v), doctest::Contains("no tensor 'adam.v'"), Error);

  // Through the file: the message names it, and neither object changes.
  std::string path = dir.file("state.safetensors");
  ReduceLROnPlateau plateau(PlateauConfig{}, 0.1);
  save_train_state(path, adam20, plateau);
  ReduceLROnPlateau other(PlateauConfig{.patience = 3}, 0.7);
  CHECK_THROWS_WITH_AS(load_train_state(path, adam21, other), doctest::Contains(path.c_str()), Error);
  CHECK(other.lr() == 0.7);
  CHECK(other.config().patience == 3);

  CHECK_THROWS_WITH_AS(Adam(a20, AdamConfig{.beta1 = 1.0}), doctest::Contains("beta1 1 is outside [0, 1)"), Error);
  ParamArena empty;
  CHECK_THROWS_WITH_AS(Adam(empty, AdamConfig{}), doctest::Contains("call ParamArena::finalize first"), Error);
}

TEST_CASE("plateau: the device rule refuses a metric that is not one f32 value on cuda") {
  ReduceLROnPlateau p(PlateauConfig{}, 0.1);
  CHECK_THROWS_WITH_AS(p.step_device(Tensor::full(Shape{1}, 1.0), nullptr), doctest::Contains("one f32 value on cuda"),
                       Error);
  CHECK_THROWS_WITH_AS(p.device_state_read(), doctest::Contains("step_device was never called"), Error);
  CHECK(p.lr() == 0.1);  // nothing changed
}
