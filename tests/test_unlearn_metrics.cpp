// test_unlearn_metrics.cpp — the regression-unlearning metrics (unlearn/metrics.h).
//
// Wasserstein distances and the attack's SVM predictions are compared with values computed once with
// scipy and scikit-learn (tools/fixtures/make_metrics_fixture.py -> tests/fixtures/metrics_fixture.json).
// The model-level metrics run on a small synthetic STS-B-shaped task (stsb-lstm on random word vectors)
// so each case takes a second or two.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/optim.h"
#include "engine/rng.h"
#include "tests/fixture.h"
#include "tests/util.h"
#include "unlearn/metrics.h"

using namespace dru;
using dru::test::seconds_since;
using json = nlohmann::json;

namespace {

json load_fixture() {
  return dru::test::load_fixture("metrics_fixture.json", "tools/fixtures/make_metrics_fixture.py");
}

constexpr int64_t kSteps = 4, kDim = 8;

// n pairs of random (T, D) "sentences" whose score (0-5) depends on both, so a model can learn it.
Samples synthetic_pairs(int64_t n, Generator& gen) {
  Samples s;
  s.x = Tensor::empty(Shape{n, kSteps, kDim}, DType::f32);
  s.x2 = Tensor::empty(Shape{n, kSteps, kDim}, DType::f32);
  gen.fill_normal(s.x, 0, 1);
  gen.fill_normal(s.x2, 0, 1);
  std::vector<double> x = s.x.to_vector(), x2 = s.x2.to_vector();
  auto y = std::vector<float>(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    double d = 0;
    for (int64_t t = 0; t < kSteps; ++t) d += x[size_t((i * kSteps + t) * kDim)] - x2[size_t((i * kSteps + t) * kDim)];
    y[size_t(i)] = float(2.5 + 2.5 * std::tanh(d / 2));
    s.label.push_back(y[size_t(i)]);
    s.key.push_back(std::to_string(i));
  }
  s.y = Tensor::from(y, Shape{n, 1});
  return s;
}

// stsb-lstm at D = 8 on 192 / 64 / 64 synthetic pairs, forget score < 2, MSE, batch 32 (6 batches).
Task small_task() {
  Generator gen(2024);
  DataSet ds;
  ds.name = "stsb";
  ds.label_name = "score";
  ds.train = synthetic_pairs(192, gen);
  ds.val = synthetic_pairs(64, gen);
  ds.test = synthetic_pairs(64, gen);
  ModelConfig cfg;
  cfg.name = "stsb-lstm";
  cfg.embed_dim = kDim;
  cfg.seq_len = kSteps;
  return make_task(std::move(ds), "score<2", cfg, LossKind::mse, 32, 7);
}

// Epochs of Adam (lr 0.01) on s from a fresh initialisation.
std::unique_ptr<Model> trained_model(const Task& task, const Samples& s, int epochs) {
  std::unique_ptr<Model> m = fresh_model(task, 1);
  ParamArena arena;
  arena.finalize(m->parameters());
  Adam adam(arena, AdamConfig{.lr = 0.01});
  BatchOrder order(s.size(), task.batch, true, 1);
  for (int e = 1; e <= epochs; ++e) {
    order.begin_epoch(e);
    for (int64_t b = 0; b < order.batches(); ++b) {
      Batch batch = gather_batch(s, order.indices(b));
      adam.zero_grad();
      task_loss(task, m->forward(to_input(task, batch, true, 0), Mode::train).pred, batch.y).backward();
      adam.step();
    }
  }
  return copy_model(task, *m);  // a model with its own storage, out of the arena
}

bool same_weights(const Model& a, const Model& b) {
  auto sa = a.state_dict(), sb = b.state_dict();
  if (sa.size() != sb.size()) return false;
  for (auto& [name, t] : sa)
    if (t.to_vector() != sb.at(name).to_vector()) return false;
  return true;
}

}  // namespace

TEST_CASE("wasserstein1: matches scipy on the fixture") {
  json fx = load_fixture();
  double worst = 0;
  for (const json& c : fx.at("wasserstein")) {
    std::vector<double> a = c.at("a").get<std::vector<double>>(), b = c.at("b").get<std::vector<double>>();
    const double want = c.at("distance").get<double>();
    const double got = wasserstein1(a, b), back = wasserstein1(b, a);
    INFO(c.at("name").get<std::string>() << ": " << got << " vs scipy " << want);
    CHECK(std::fabs(got - want) <= 1e-9);
    CHECK(std::fabs(back - want) <= 1e-9);
    worst = std::max(worst, std::fabs(got - want));
  }
  MESSAGE("largest difference from scipy " << worst << " (tolerance 1e-9)");
  CHECK(wasserstein1({3.0}, {3.0, 3.0}) == 0.0);
  CHECK(wasserstein1({0.0, 1.0}, {0.0}) == doctest::Approx(0.5));
  CHECK_THROWS_WITH_AS(wasserstein1({}, {1.0}), doctest::Contains("empty"), Error);
  CHECK_THROWS_WITH_AS(wasserstein1({NAN}, {1.0}), doctest::Contains("finite"), Error);
}

TEST_CASE("relative_difference: divides by the target and skips zero targets") {
  std::vector<double> d = relative_difference({2.0, 5.0, 1.0, -3.0}, {1.0, 4.0, 9.0, -1.0}, {4.0, 0.0, 2.0, -2.0});
  REQUIRE(d.size() == 3);
  CHECK(d[0] == doctest::Approx(0.25));
  CHECK(d[1] == doctest::Approx(4.0));
  CHECK(d[2] == doctest::Approx(1.0));
  CHECK_THROWS_WITH_AS(relative_difference({1.0}, {1.0, 2.0}, {1.0}), doctest::Contains("differ"), Error);
}

TEST_CASE("membership attack: SVM predictions identical to scikit-learn") {
  json fx = load_fixture();
  auto t0 = std::chrono::steady_clock::now();
  int64_t points = 0;
  for (const json& c : fx.at("svm")) {
    const auto member = c.at("member").get<std::vector<double>>();
    const auto nonmember = c.at("nonmember").get<std::vector<double>>();
    const auto query = c.at("query").get<std::vector<double>>();
    INFO(c.at("name").get<std::string>());
    for (const char* set : {"query", "member", "nonmember"}) {
      const std::vector<double>& v = std::string(set) == "query" ? query : std::string(set) == "member" ? member : nonmember;
      const auto want = c.at(std::string("pred_") + set).get<std::vector<int>>();
      const std::vector<int> got = membership_predictions(member, nonmember, v);
      REQUIRE(got.size() == want.size());
      int64_t differ = 0;
      for (size_t i = 0; i < got.size(); ++i) differ += got[i] != want[i];
      INFO(set << ": " << differ << " of " << got.size() << " predictions differ");
      CHECK(differ == 0);
      points += int64_t(got.size());
    }
    // The fractions are the means of the same predictions.
    auto mean = [](const std::vector<int>& p) {
      double s = 0;
      for (int v : p) s += v;
      return s / double(p.size());
    };
    MiaResult r = membership_attack_losses(member, nonmember, query);
    CHECK(r.forget == doctest::Approx(mean(c.at("pred_query").get<std::vector<int>>())).epsilon(1e-12));
    CHECK(r.train == doctest::Approx(mean(c.at("pred_member").get<std::vector<int>>())).epsilon(1e-12));
    CHECK(r.test == doctest::Approx(mean(c.at("pred_nonmember").get<std::vector<int>>())).epsilon(1e-12));
  }
  MESSAGE(points << " predictions compared with scikit-learn in " << seconds_since(t0) << " s");
  CHECK_THROWS_WITH_AS(membership_attack_losses({}, {1.0}, {1.0}), doctest::Contains("member"), Error);
  CHECK_THROWS_WITH_AS(membership_attack_losses({1.0}, {INFINITY}, {1.0}), doctest::Contains("loss"), Error);
}

TEST_CASE("membership attack: fractions in the unit interval and deterministic for a seed") {
  auto t0 = std::chrono::steady_clock::now();
  Task task = small_task();
  std::unique_ptr<Model> model = trained_model(task, task.data.train, 20);
  std::unique_ptr<Model> before = copy_model(task, *model);
  MiaResult a = membership_attack(*model, task, 50, 3);
  MiaResult b = membership_attack(*model, task, 50, 3);
  MiaResult all = membership_attack(*model, task, 2000, 3);  // more than any set holds: every sample
  MESSAGE("member fractions: forget " << a.forget << ", train " << a.train << ", test " << a.test
                                      << " (every sample: " << all.forget << ", " << all.train << ", " << all.test
                                      << ") in " << seconds_since(t0) << " s");
  for (const MiaResult& r : {a, all}) {
    for (double f : {r.forget, r.train, r.test}) {
      CHECK(f >= 0.0);
      CHECK(f <= 1.0);
    }
  }
  CHECK(a.forget == b.forget);
  CHECK(a.train == b.train);
  CHECK(a.test == b.test);
  // A 50-sample query has fractions in steps of 1/50.
  CHECK(std::fabs(a.forget * 50 - std::round(a.forget * 50)) < 1e-9);
  CHECK(same_weights(*model, *before));
  CHECK_THROWS_WITH_AS(membership_attack(*model, task, 0, 3), doctest::Contains("sample size"), Error);
}

TEST_CASE("anamnesis index: counts relearning steps on copies") {
  auto t0 = std::chrono::steady_clock::now();
  Task task = small_task();
  REQUIRE(task.data.train.size() == 192);
  REQUIRE(task.val.forget.size() > 0);
  // The original learns every score; "far" (a stand-in for the gold model) never saw a score below 2.
  std::unique_ptr<Model> original = trained_model(task, task.data.train, 20);
  std::unique_ptr<Model> far = trained_model(task, task.train.retain, 20);
  std::unique_ptr<Model> original_before = copy_model(task, *original), far_before = copy_model(task, *far);
  const double l_orig = evaluate(*original, task, task.val.forget);
  const double l_far = evaluate(*far, task, task.val.forget);
  MESSAGE("validation forget MSE: original " << l_orig << ", retain-only " << l_far);
  REQUIRE(l_far > 1.05 * l_orig);

  SUBCASE("a model already at the target needs exactly one step") {
    CHECK(relearn_steps(task, *far, 1e30, 0.01, 10) == 1);
    CHECK(relearn_steps(task, *far, l_far, 0.0, 10) == 1);  // lr 0: the loss stays exactly l_far
    AinResult r = anamnesis_index(task, *original, *original, *original, 0.0);
    CHECK(r.unlearned_steps == 1);
    CHECK(r.gold_steps == 1);
    CHECK(r.ain == 1.0);
    CHECK(r.floor);
    CHECK(r.cap == 10 * 6);
  }
  SUBCASE("a model that cannot move runs to the cap") {
    CHECK(relearn_steps(task, *far, 0.5 * l_far, 0.0, 2) == 2 * 6);
    AinResult r = anamnesis_index(task, *original, *far, *original, 0.0, 0.05, 2);
    CHECK(r.unlearned_steps == 12);
    CHECK(r.gold_steps == 1);
    CHECK(r.cap == 12);
    CHECK(r.ain == 12.0);
    CHECK_FALSE(r.floor);
  }
  SUBCASE("relearning a retain-only model takes between one step and the cap") {
    AinResult r = anamnesis_index(task, *original, *far, *original, 0.01, 0.05, 3);
    MESSAGE("the retain-only model relearns to within 5% of the original in " << r.unlearned_steps << " of " << r.cap
                                                                    << " steps");
    CHECK(r.unlearned_steps >= 1);
    CHECK(r.unlearned_steps <= r.cap);
    CHECK(r.gold_steps >= 1);
    CHECK(r.ain == double(r.unlearned_steps) / double(r.gold_steps));
    CHECK(relearn_steps(task, *far, 0.5 * l_orig, 0.01, 3) >= r.unlearned_steps);  // a lower target is harder
  }
  CHECK(same_weights(*original, *original_before));
  CHECK(same_weights(*far, *far_before));
  CHECK_THROWS_WITH_AS(relearn_steps(task, *far, 1.0, 0.01, 0), doctest::Contains("max_epochs"), Error);
  MESSAGE("in " << seconds_since(t0) << " s");
}
