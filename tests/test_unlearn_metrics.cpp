// test_unlearn_metrics.cpp — the regression-unlearning metrics (unlearn/metrics.h).
//
// Wasserstein distances, the attack's SVM predictions, its cross-validated skill (balanced accuracy, AUC,
// Wilson interval), ROC AUC and Student-t quantiles are compared with values computed once with scipy and
// scikit-learn (tools/fixtures/make_metrics_fixture.py -> tests/fixtures/metrics_fixture.json).
// The model-level metrics run on a small synthetic STS-B-shaped task (stsb-lstm on random word vectors)
// so each case takes a second or two.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <set>

#include <fmt/format.h>
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
  return copy_model(task, *m, 0);  // a model with its own storage, out of the arena
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

TEST_CASE("relative_difference: divides by max(|y|, floor) and keeps every sample") {
  // Targets 4, 0, 2, -2 with floor 2.5: denominators 4, 2.5, 2.5, 2.5.
  std::vector<double> d =
      relative_difference({2.0, 5.0, 1.0, -3.0}, {1.0, 4.0, 9.0, -1.0}, {4.0, 0.0, 2.0, -2.0}, 2.5);
  REQUIRE(d.size() == 4);
  CHECK(d[0] == 0.25);
  CHECK(d[1] == 0.4);  // a target of 0 no longer drops the sample
  CHECK(d[2] == 3.2);
  CHECK(d[3] == 0.8);
  CHECK_THROWS_WITH_AS(relative_difference({1.0}, {1.0, 2.0}, {1.0}, 1.0), doctest::Contains("differ"), Error);
  CHECK_THROWS_WITH_AS(relative_difference({1.0}, {1.0}, {1.0}, 0.0), doctest::Contains("floor"), Error);
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
    if (member.size() != nonmember.size()) continue;  // the whole attack takes equal classes only
    MiaResult r = membership_attack_losses(member, nonmember, query);
    CHECK(r.forget == doctest::Approx(mean(c.at("pred_query").get<std::vector<int>>())).epsilon(1e-12));
    CHECK(r.train == doctest::Approx(mean(c.at("pred_member").get<std::vector<int>>())).epsilon(1e-12));
    CHECK(r.test == doctest::Approx(mean(c.at("pred_nonmember").get<std::vector<int>>())).epsilon(1e-12));
  }
  MESSAGE(points << " predictions compared with scikit-learn in " << seconds_since(t0) << " s");
  CHECK_THROWS_WITH_AS(membership_predictions({}, {1.0}, {1.0}), doctest::Contains("member"), Error);
  CHECK_THROWS_WITH_AS(membership_predictions({1.0}, {INFINITY}, {1.0}), doctest::Contains("loss"), Error);
  CHECK_THROWS_WITH_AS(membership_attack_losses({1.0, 2.0}, {INFINITY, 1.0}, {1.0}), doctest::Contains("loss"), Error);
}

TEST_CASE("membership attack: cross-validated skill equals scikit-learn's on two known distributions") {
  json fx = load_fixture();
  for (const json& c : fx.at("skill")) {
    INFO(c.at("name").get<std::string>());
    const auto member = c.at("member").get<std::vector<double>>();
    const auto nonmember = c.at("nonmember").get<std::vector<double>>();
    std::vector<double> scores;
    const AttackSkill s = attack_skill(member, nonmember, c.at("folds").get<int>(), &scores);
    // The held-out decisions are the same decisions, so the counts are equal exactly.
    CHECK(s.correct == c.at("correct").get<int64_t>());
    CHECK(s.n == int64_t(member.size() + nonmember.size()));
    CHECK(s.balanced_accuracy == doctest::Approx(c.at("balanced_accuracy").get<double>()).epsilon(1e-12));
    // Decision values: libsvm's and scikit-learn's copy solve the same problem; their last digits may differ.
    std::vector<double> want = c.at("score_member").get<std::vector<double>>();
    const auto wn = c.at("score_nonmember").get<std::vector<double>>();
    want.insert(want.end(), wn.begin(), wn.end());
    REQUIRE(scores.size() == want.size());
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double e = std::fabs(scores[i] - want[i]);
      REQUIRE(std::isfinite(e));
      worst = std::max(worst, e);
    }
    MESSAGE(c.at("name").get<std::string>() << ": balanced accuracy " << s.balanced_accuracy << ", AUC " << s.auc
                                            << "; largest decision-value difference " << worst << " (tolerance 1e-6)");
    CHECK(worst <= 1e-6);
    CHECK(s.auc == doctest::Approx(c.at("auc").get<double>()).epsilon(1e-9));
    CHECK(s.ci.lo == doctest::Approx(c.at("wilson").at(0).get<double>()).epsilon(1e-12));
    CHECK(s.ci.hi == doctest::Approx(c.at("wilson").at(1).get<double>()).epsilon(1e-12));
  }
  // The shifted distributions are told apart; the shared one is not.
  const json& sep = fx.at("skill").at(0);
  const json& same = fx.at("skill").at(1);
  CHECK(attack_skill(sep.at("member").get<std::vector<double>>(), sep.at("nonmember").get<std::vector<double>>(), 5)
            .informative());
  CHECK_FALSE(attack_skill(same.at("member").get<std::vector<double>>(),
                           same.at("nonmember").get<std::vector<double>>(), 5)
                  .informative());
}

TEST_CASE("membership attack: the classes must be equal") {
  CHECK_THROWS_WITH_AS(attack_skill({1.0, 2.0, 3.0}, {1.0, 2.0}, 5), doctest::Contains("equal classes"), Error);
  CHECK_THROWS_WITH_AS(membership_attack_losses({1.0, 2.0}, {1.0, 2.0, 3.0}, {1.0}), doctest::Contains("equal classes"),
                       Error);
  CHECK_THROWS_WITH_AS(attack_skill({1.0}, {2.0}, 5), doctest::Contains("at least 2"), Error);
}

TEST_CASE("stats: ROC AUC and Student-t quantiles against scikit-learn and scipy") {
  json fx = load_fixture();
  for (const json& c : fx.at("auc")) {
    INFO(c.at("name").get<std::string>());
    CHECK(roc_auc(c.at("positive").get<std::vector<double>>(), c.at("negative").get<std::vector<double>>()) ==
          doctest::Approx(c.at("auc").get<double>()).epsilon(1e-12));
  }
  double worst_table = 0, worst_tail = 0;
  for (const json& row : fx.at("t975")) {
    const int64_t df = row.at(0).get<int64_t>();
    const double e = std::fabs(t975(df) - row.at(1).get<double>());
    REQUIRE(std::isfinite(e));
    (df <= 30 ? worst_table : worst_tail) = std::max(df <= 30 ? worst_table : worst_tail, e);
  }
  MESSAGE("t975: largest error " << worst_table << " for df <= 30 (tolerance 5e-5, the table's rounding), "
                                 << worst_tail << " beyond (tolerance 1e-3)");
  CHECK(worst_table <= 5e-5);
  CHECK(worst_tail <= 1e-3);
  // The interval of a mean: 1, 2, 3 -> 2 ± t(2) * 1 / sqrt(3).
  const Interval ci = t_interval({1, 2, 3});
  CHECK(ci.lo == doctest::Approx(2 - 4.302652729911275 / std::sqrt(3.0)).epsilon(1e-4));
  CHECK(ci.hi == doctest::Approx(2 + 4.302652729911275 / std::sqrt(3.0)).epsilon(1e-4));
  CHECK(wilson_interval(0, 10).lo == 0.0);
  CHECK(wilson_interval(10, 10).hi == doctest::Approx(1.0));
}

TEST_CASE("membership attack: equal classes drawn from the right pools, deterministic for a seed") {
  auto t0 = std::chrono::steady_clock::now();
  Task task = small_task();
  std::unique_ptr<Model> model = trained_model(task, task.data.train, 20);
  std::unique_ptr<Model> before = copy_model(task, *model, 0);
  MiaSettings s50{50, MiaMembers::train, 5}, all{2000, MiaMembers::train, 5};
  MiaResult a = membership_attack(*model, task, s50, 3);
  MiaResult b = membership_attack(*model, task, s50, 3);
  MiaResult c = membership_attack(*model, task, s50, 4);
  MiaResult e = membership_attack(*model, task, all, 3);
  MESSAGE("forget fractions: " << a.forget << " (seed 3), " << c.forget << " (seed 4), " << e.forget
                               << " (every sample); attack accuracy " << e.skill.balanced_accuracy << " in "
                               << seconds_since(t0) << " s");
  CHECK(a.per_class == 50);
  // 2000 asked: both classes shrink to the smaller pool, the 64 test pairs.
  CHECK(e.per_class == task.data.test.size());
  CHECK(e.skill.n == 2 * task.data.test.size());
  CHECK(e.query == task.train.forget.size());
  CHECK(a.forget == b.forget);
  CHECK(a.skill.correct == b.skill.correct);
  CHECK(a.skill.auc == b.skill.auc);
  CHECK((a.skill.auc != c.skill.auc || a.forget != c.forget));  // another seed draws other samples
  CHECK(std::fabs(a.forget * double(a.query) - std::round(a.forget * double(a.query))) < 1e-9);
  CHECK(same_weights(*model, *before));
  CHECK_THROWS_WITH_AS(membership_attack(*model, task, MiaSettings{1, MiaMembers::train, 5}, 3),
                       doctest::Contains("sample size"), Error);
}

TEST_CASE("membership attack: members come from the training set, non-members from the test split") {
  // Test targets 10 above anything the model predicts: every non-member has a huge loss, every training
  // sample a small one. An attack that draws its classes from the right pools calls the training forget
  // samples members; one with the pools swapped, or the labels, calls them non-members.
  Task task = small_task();
  std::unique_ptr<Model> model = trained_model(task, task.data.train, 20);
  std::vector<double> y = task.data.test.y.to_vector();
  for (double& v : y) v += 10;
  task.data.test.y = Tensor::from(y, task.data.test.y.shape());
  const MiaResult r = membership_attack(*model, task, MiaSettings{2000, MiaMembers::train, 5}, 1);
  MESSAGE("forget fraction " << r.forget << ", attack accuracy " << r.skill.balanced_accuracy << ", AUC " << r.skill.auc);
  CHECK(r.forget >= 0.95);
  CHECK(r.skill.balanced_accuracy >= 0.95);
  CHECK(r.skill.auc >= 0.95);
  CHECK(r.skill.informative());

  // Members from the retain set only: training forget targets 10 higher make the forget samples look
  // like the non-members, unless the members were (wrongly) drawn from the whole training set.
  Task t2 = small_task();
  std::vector<double> yt = t2.data.test.y.to_vector();
  for (double& v : yt) v += 10;
  t2.data.test.y = Tensor::from(yt, t2.data.test.y.shape());
  std::vector<double> yf = t2.train.forget.y.to_vector();
  for (double& v : yf) v += 10;
  t2.train.forget.y = Tensor::from(yf, t2.train.forget.y.shape());
  const MiaResult retain = membership_attack(*model, t2, MiaSettings{2000, MiaMembers::retain, 5}, 1);
  MESSAGE("retain members: forget fraction " << retain.forget);
  CHECK(retain.forget <= 0.05);
  CHECK(parse_mia_members("retain") == MiaMembers::retain);
  CHECK_THROWS_WITH_AS(parse_mia_members("everyone"), doctest::Contains("train"), Error);
}

namespace {

// The validation forget loss after each of `steps` relearning steps, computed here the way the paper's
// relearn_time does (a fresh Adam, shuffled batches of the training set), independently of relearn_steps.
std::vector<double> relearn_curve(const Task& task, const Model& model, double lr, int steps) {
  std::unique_ptr<Model> m = copy_model(task, model, task.seed);
  ParamArena arena;
  arena.finalize(m->parameters());
  Adam adam(arena, AdamConfig{.lr = lr});
  BatchOrder order(task.data.train.size(), task.batch, true, stream_seed(task.seed, "ain-order"));
  std::vector<double> out{evaluate(*m, task, task.val.forget)};
  int64_t step = 0;
  for (int epoch = 1; int64_t(out.size()) <= steps; ++epoch) {
    order.begin_epoch(epoch);
    for (int64_t b = 0; b < order.batches() && int64_t(out.size()) <= steps; ++b) {
      Batch batch = gather_batch(task.data.train, order.indices(b));
      adam.zero_grad();
      task_loss(task, m->forward(to_input(task, batch, true, uint64_t(step++)), Mode::train).pred, batch.y).backward();
      adam.step();
      out.push_back(evaluate(*m, task, task.val.forget));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("anamnesis index: exact counts, the rate ladder, and floor and cap flags") {
  auto t0 = std::chrono::steady_clock::now();
  Task task = small_task();
  REQUIRE(task.data.train.size() == 192);
  REQUIRE(task.val.forget.size() > 0);
  // The original learns every score; "far" (a stand-in for the gold model) never saw a score below 2.
  std::unique_ptr<Model> original = trained_model(task, task.data.train, 20);
  std::unique_ptr<Model> far = trained_model(task, task.train.retain, 20);
  std::unique_ptr<Model> original_before = copy_model(task, *original, 0), far_before = copy_model(task, *far, 0);
  const double l_orig = evaluate(*original, task, task.val.forget);
  const double l_far = evaluate(*far, task, task.val.forget);
  MESSAGE("validation forget MSE: original " << l_orig << ", retain-only " << l_far);
  REQUIRE(l_far > 1.05 * l_orig);
  CHECK(default_ain_cap(task) == 10 * 6);

  SUBCASE("the count is the first step at which the loss reaches the target") {
    const std::vector<double> curve = relearn_curve(task, *far, 0.003, 30);
    // A target the curve first reaches at a known step k >= 5: the first new minimum from step 5 on.
    int k = -1;
    for (int i = 5; i < int(curve.size()) && k < 0; ++i)
      if (curve[size_t(i)] < *std::min_element(curve.begin(), curve.begin() + i)) k = i;
    REQUIRE(k > 0);
    MESSAGE("the loss first falls to " << curve[size_t(k)] << " at step " << k);
    CHECK(relearn_steps(task, *far, curve[size_t(k)], 0.003, 100) == k);
    CHECK(relearn_steps(task, *far, curve[size_t(k)], 0.003, k - 1) == k - 1);  // capped before it
    CHECK(relearn_steps(task, *far, 1e30, 0.003, 100) == 0);  // already there: no step
    CHECK(relearn_steps(task, *far, 0.5 * l_far, 0.0, 12) == 12);  // lr 0 never moves: the cap
  }
  SUBCASE("the ladder takes the largest rate at which the gold model needs the minimum") {
    AinSettings s;
    s.min_gold_steps = 8;
    s.cap = 60;
    const AinPlan plan = plan_ain(task, *original, *far, s);
    std::string tried;
    for (auto& [lr, n] : plan.tried) tried += fmt::format(" {}:{}", lr, n);
    MESSAGE("ladder:" << tried << "; chosen lr " << plan.lr << " with " << plan.gold_steps << " steps");
    REQUIRE(!plan.tried.empty());
    CHECK(plan.from_ladder);
    CHECK(plan.resolved());
    // The ladder's rungs in order while the count stays below the minimum ...
    size_t i = 0;
    while (i < plan.tried.size() && plan.tried[i].second < 8) {
      CHECK(plan.tried[i].first == ain_ladder()[i]);
      ++i;
    }
    REQUIRE(i < plan.tried.size());
    CHECK(plan.tried[i].first == ain_ladder()[i]);
    // ... then either that rung resolves, or the rate is bisected between it and the rung before.
    for (size_t j = i + 1; j < plan.tried.size(); ++j) {
      CHECK(plan.tried[j].first < ain_ladder()[i - 1]);
      CHECK(plan.tried[j].first > ain_ladder()[i]);
    }
    CHECK(plan.lr == plan.tried.back().first);
    CHECK(plan.gold_steps == plan.tried.back().second);
    CHECK(plan.target == doctest::Approx(1.05 * l_orig).epsilon(1e-12));
    CHECK(plan.gold_steps == relearn_steps(task, *far, plan.target, plan.lr, 60));
    const AinResult r = anamnesis_index(task, *far, plan);
    CHECK(r.steps == plan.gold_steps);
    CHECK(r.ain == 1.0);
    // A count that jumps from below the minimum straight to the cap is bisected: with a cap of 9 and a
    // minimum of 8, only a count of exactly 8 resolves.
    AinSettings narrow;
    narrow.min_gold_steps = 8;
    narrow.cap = 9;
    const AinPlan bisected = plan_ain(task, *original, *far, narrow);
    tried.clear();
    for (auto& [lr, n] : bisected.tried) tried += fmt::format(" {}:{}", lr, n);
    MESSAGE("cap 9, minimum 8:" << tried);
    size_t k = 0;
    while (k < bisected.tried.size() && bisected.tried[k].first == ain_ladder()[k]) ++k;
    for (size_t j = k; j < bisected.tried.size(); ++j) {  // bisected rates lie between the last two rungs
      REQUIRE(k >= 2);
      CHECK(bisected.tried[j].first < ain_ladder()[k - 2]);
      CHECK(bisected.tried[j].first > ain_ladder()[k - 1]);
    }
    CHECK(bisected.tried.size() <= ain_ladder().size() + 6);
    CHECK((bisected.resolved() ? bisected.gold_steps == 8 : true));
    // A fixed rate is used as given.
    s.lr = 0.01;
    const AinPlan fixed = plan_ain(task, *original, *far, s);
    CHECK_FALSE(fixed.from_ladder);
    CHECK(fixed.tried.size() == 1);
    CHECK(fixed.lr == 0.01);
  }
  SUBCASE("counts at the floor and at the cap are flagged") {
    AinSettings s;
    s.lr = 0.01;
    s.cap = 12;
    // The original itself is already at the target: 0 steps, the floor.
    const AinPlan plan = plan_ain(task, *original, *far, s);
    const AinResult at_target = anamnesis_index(task, *original, plan);
    CHECK(at_target.steps == 0);
    CHECK(at_target.floor);
    CHECK(at_target.ain == 0.0);
    // A model that cannot move (lr 0) runs to the cap, and so does the gold model's count.
    s.lr = 0;
    AinPlan frozen = plan;
    frozen.lr = 0;
    frozen.gold_steps = relearn_steps(task, *far, frozen.target, 0.0, 12);
    CHECK(frozen.gold_steps == 12);
    CHECK_FALSE(frozen.resolved());
    const AinResult capped = anamnesis_index(task, *far, frozen);
    CHECK(capped.steps == 12);
    CHECK(capped.at_cap);
    CHECK_FALSE(capped.floor);
    // The gold model already at the target stops the ladder at its first rung (no rate changes a 0).
    AinSettings ladder;
    const AinPlan none = plan_ain(task, *original, *original, ladder);
    CHECK(none.tried.size() == 1);
    CHECK(none.gold_steps == 0);
    CHECK_FALSE(none.resolved());
  }
  CHECK(same_weights(*original, *original_before));
  CHECK(same_weights(*far, *far_before));
  CHECK_THROWS_WITH_AS(relearn_steps(task, *far, 1.0, 0.01, 0), doctest::Contains("cap"), Error);
  MESSAGE("in " << seconds_since(t0) << " s");
}

TEST_CASE("planted audit: the task, its shift and the kept fraction") {
  Task task = small_task();
  const PlantedTask pt = make_planted_task(task, 0.1, 2.0, 5);
  const int64_t n = task.data.train.size();
  CHECK(pt.task.train.forget.size() == std::llround(0.1 * double(n)));
  CHECK(pt.task.train.forget.size() + pt.task.train.retain.size() == n);
  CHECK(pt.task.val.forget.size() == 0);
  CHECK(pt.task.val.retain.size() == task.data.val.size());
  CHECK(pt.task.test.retain.size() == task.data.test.size());
  // The shift is 2 sample sd of the training targets, added to the planted samples only.
  const std::vector<double> y = task.data.train.y.to_vector(), py = pt.task.data.train.y.to_vector();
  const MeanSd m = mean_sd(y);
  CHECK(pt.shift == doctest::Approx(2 * m.sd).epsilon(1e-9));
  int64_t moved = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double d = py[i] - y[i];
    CHECK((d == doctest::Approx(0.0) || d == doctest::Approx(pt.shift).epsilon(1e-5)));
    moved += d > pt.shift / 2;
  }
  CHECK(moved == pt.task.train.forget.size());
  // Another seed plants another tenth; the same seed the same.
  CHECK(make_planted_task(task, 0.1, 2.0, 5).task.train.forget.key == pt.task.train.forget.key);
  CHECK(make_planted_task(task, 0.1, 2.0, 6).task.train.forget.key != pt.task.train.forget.key);
  CHECK(planted_shift_kept({3.0, 5.0}, {1.0, 1.0}, 4.0) == 0.75);
  CHECK(planted_shift_kept({1.0, 1.0}, {1.0, 1.0}, 4.0) == 0.0);
  CHECK_THROWS_WITH_AS(planted_shift_kept({1.0}, {1.0}, 0.0), doctest::Contains("shift"), Error);
}

TEST_CASE("stream_seed: every stream of every seed is its own") {
  std::set<uint64_t> seen;
  for (uint64_t seed : {0, 1, 2, 1000})
    for (const char* name : {"original", "retrain", "finetune", "attack", "ain-order", "planted"})
      seen.insert(stream_seed(seed, name));
  CHECK(seen.size() == 4 * 6);
  CHECK(stream_seed(7, "finetune") == stream_seed(7, "finetune"));
}
