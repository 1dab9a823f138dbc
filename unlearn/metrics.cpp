// metrics.cpp — see metrics.h.
//
// wasserstein1 is written by hand (a sort and a merge, as scipy's): W1 = ∫ |F_a(t) − F_b(t)| dt over the
// merged support, the CDFs being step functions. The attack uses libsvm, the SVM engine scikit-learn wraps,
// with scikit-learn's SVC settings, so its predictions equal sklearn's (tests/test_unlearn_metrics.cpp).
#include "unlearn/metrics.h"

#include <libsvm/svm.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "engine/comm.h"
#include "engine/fit.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/rng.h"

namespace dru {

double wasserstein1(std::vector<double> a, std::vector<double> b) {
  DRU_CHECK(!a.empty() && !b.empty(), "wasserstein1: empty sample ({} and {} values)", a.size(), b.size());
  auto finite = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
  };
  DRU_CHECK(finite(a) && finite(b), "wasserstein1: the values must be finite");
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  const double na = double(a.size()), nb = double(b.size());
  // Walk the merged sorted values; between consecutive points t0 < t1 both CDFs are constant, equal to
  // the fraction of each sample <= t0 (scipy's searchsorted(..., 'right')).
  size_t i = 0, j = 0;
  double prev = std::min(a[0], b[0]), total = 0;
  while (i < a.size() || j < b.size()) {
    const double t = (j == b.size() || (i < a.size() && a[i] <= b[j])) ? a[i] : b[j];
    total += std::fabs(double(i) / na - double(j) / nb) * (t - prev);
    while (i < a.size() && a[i] == t) ++i;
    while (j < b.size() && b[j] == t) ++j;
    prev = t;
  }
  return total;
}

std::vector<double> relative_difference(const std::vector<double>& pred, const std::vector<double>& gold,
                                        const std::vector<double>& y, double floor) {
  DRU_CHECK(pred.size() == gold.size() && pred.size() == y.size(),
            "relative_difference: {} predictions, {} gold predictions and {} targets differ in number", pred.size(),
            gold.size(), y.size());
  DRU_CHECK(floor > 0 && std::isfinite(floor), "relative_difference: the denominator's floor {} must be positive",
            floor);
  std::vector<double> out(y.size());
  for (size_t i = 0; i < y.size(); ++i) out[i] = std::fabs(pred[i] - gold[i]) / std::max(std::fabs(y[i]), floor);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The membership-inference attack

namespace {

void svm_quiet(const char*) {}

// One libsvm node pair per value: feature 1 = the loss, then the terminator (index -1).
std::vector<svm_node> svm_nodes(const std::vector<double>& v) {
  std::vector<svm_node> nodes(2 * v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    nodes[2 * i] = svm_node{1, v[i]};
    nodes[2 * i + 1] = svm_node{-1, 0.0};
  }
  return nodes;
}

struct ModelDeleter {
  void operator()(svm_model* m) const { svm_free_and_destroy_model(&m); }
};

// An RBF SVM fitted on the losses: non-members (label 0) first, then members (label 1), each in the order
// given. libsvm orders classes by first appearance and scikit-learn's copy by label value; putting label 0
// first makes the two solve the same problem in the same order, so their predictions agree exactly (the
// paper shuffles unseeded; any fixed order is as good, and this one is reproducible).
class LossSvm {
 public:
  LossSvm(const std::vector<double>& member, const std::vector<double>& nonmember) {
    DRU_CHECK(!member.empty() && !nonmember.empty(),
              "membership attack: needs member and non-member losses ({} and {} given)", member.size(),
              nonmember.size());
    std::vector<double> losses(nonmember);
    losses.insert(losses.end(), member.begin(), member.end());
    for (double v : losses) DRU_CHECK(std::isfinite(v), "membership attack: a training loss is {}", v);
    labels_.assign(nonmember.size(), 0.0);
    labels_.resize(losses.size(), 1.0);
    nodes_ = svm_nodes(losses);  // libsvm's model points into these: they live as long as it
    rows_.resize(losses.size());
    for (size_t i = 0; i < rows_.size(); ++i) rows_[i] = &nodes_[2 * i];
    prob_.l = int(losses.size());
    prob_.y = labels_.data();
    prob_.x = rows_.data();

    // scikit-learn's SVC(C=3, gamma='auto', kernel='rbf') defaults: gamma = 1 / features (one feature),
    // tol 1e-3, shrinking, 200 MB kernel cache, no probability estimates, no class weights.
    svm_parameter param{};
    param.svm_type = C_SVC;
    param.kernel_type = RBF;
    param.gamma = 1.0;
    param.C = 3;
    param.eps = 1e-3;
    param.cache_size = 200;
    param.shrinking = 1;
    param.probability = 0;
    param.nr_weight = 0;
    if (const char* err = svm_check_parameter(&prob_, &param)) DRU_FAIL("membership attack: libsvm: {}", err);
    svm_set_print_string_function(svm_quiet);
    model_.reset(svm_train(&prob_, &param));
    DRU_CHECK(model_ != nullptr, "membership attack: libsvm returned no model");
    // libsvm's decision value is positive for its first class; make "member-ward" positive.
    int labels[2] = {0, 0};
    svm_get_labels(model_.get(), labels);
    member_sign_ = svm_get_nr_class(model_.get()) == 2 && labels[0] == 1 ? 1.0 : -1.0;
  }

  // The decision value of each loss, signed so that larger means "more like a member".
  std::vector<double> scores(const std::vector<double>& v) const {
    std::vector<svm_node> q = svm_nodes(v);
    std::vector<double> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      DRU_CHECK(std::isfinite(v[i]), "membership attack: a loss to classify is {}", v[i]);
      double dec = 0;
      svm_predict_values(model_.get(), &q[2 * i], &dec);
      out[i] = member_sign_ * dec;
    }
    return out;
  }

  std::vector<int> predict(const std::vector<double>& v) const {
    std::vector<svm_node> q = svm_nodes(v);
    std::vector<int> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      DRU_CHECK(std::isfinite(v[i]), "membership attack: a loss to classify is {}", v[i]);
      out[i] = svm_predict(model_.get(), &q[2 * i]) == 1.0 ? 1 : 0;
    }
    return out;
  }

  double member_fraction(const std::vector<double>& v) const {
    DRU_CHECK(!v.empty(), "membership attack: no losses to classify");
    std::vector<int> p = predict(v);
    return double(std::count(p.begin(), p.end(), 1)) / double(p.size());
  }

 private:
  std::vector<double> labels_;
  std::vector<svm_node> nodes_;
  std::vector<svm_node*> rows_;
  svm_problem prob_{};
  std::unique_ptr<svm_model, ModelDeleter> model_;
  double member_sign_ = 1;
};

// The values of v whose index i has i % folds == fold (in) or not (out).
std::vector<double> fold_part(const std::vector<double>& v, int folds, int fold, bool in) {
  std::vector<double> out;
  for (size_t i = 0; i < v.size(); ++i)
    if ((int(i % size_t(folds)) == fold) == in) out.push_back(v[i]);
  return out;
}

}  // namespace

const char* mia_members_name(MiaMembers m) { return m == MiaMembers::train ? "train" : "retain"; }

MiaMembers parse_mia_members(const std::string& s) {
  if (s == "train") return MiaMembers::train;
  if (s == "retain") return MiaMembers::retain;
  DRU_FAIL("attack members '{}': choose train (the paper's: the whole training set) or retain", s);
}

std::vector<int> membership_predictions(const std::vector<double>& member, const std::vector<double>& nonmember,
                                        const std::vector<double>& query) {
  return LossSvm(member, nonmember).predict(query);
}

AttackSkill attack_skill(const std::vector<double>& member, const std::vector<double>& nonmember, int folds,
                         std::vector<double>* held_out_scores) {
  DRU_CHECK(member.size() == nonmember.size(),
            "membership attack: {} members and {} non-members; the attack is fitted on equal classes", member.size(),
            nonmember.size());
  DRU_CHECK(member.size() >= 2, "membership attack: {} samples per class; at least 2 are needed", member.size());
  DRU_CHECK(folds >= 2, "membership attack: {} cross-validation folds; at least 2 are needed", folds);
  const int k = int(std::min<size_t>(size_t(folds), member.size()));
  std::vector<double> ms(member.size()), ns(nonmember.size());  // held-out member-ward scores
  int64_t correct = 0;
  for (int f = 0; f < k; ++f) {
    LossSvm svm(fold_part(member, k, f, false), fold_part(nonmember, k, f, false));
    const std::vector<double> mq = fold_part(member, k, f, true), nq = fold_part(nonmember, k, f, true);
    const std::vector<int> mp = svm.predict(mq), np = svm.predict(nq);
    correct += std::count(mp.begin(), mp.end(), 1) + std::count(np.begin(), np.end(), 0);
    const std::vector<double> msc = svm.scores(mq), nsc = svm.scores(nq);
    for (size_t j = 0; j < msc.size(); ++j) ms[size_t(f) + j * size_t(k)] = msc[j];
    for (size_t j = 0; j < nsc.size(); ++j) ns[size_t(f) + j * size_t(k)] = nsc[j];
  }
  AttackSkill s;
  s.n = int64_t(member.size() + nonmember.size());
  s.correct = correct;
  s.balanced_accuracy = double(correct) / double(s.n);  // equal classes: the mean of the two recalls
  s.ci = wilson_interval(correct, s.n);
  s.auc = roc_auc(ms, ns);
  if (held_out_scores) {
    *held_out_scores = ms;
    held_out_scores->insert(held_out_scores->end(), ns.begin(), ns.end());
  }
  return s;
}

MiaResult membership_attack_losses(const std::vector<double>& member, const std::vector<double>& nonmember,
                                   const std::vector<double>& query, int folds) {
  MiaResult r;
  r.skill = attack_skill(member, nonmember, folds);  // checks equal classes first
  LossSvm svm(member, nonmember);
  r.forget = svm.member_fraction(query);
  r.train = svm.member_fraction(member);
  r.test = svm.member_fraction(nonmember);
  r.per_class = int64_t(member.size());
  r.query = int64_t(query.size());
  return r;
}

MiaResult membership_attack(Model& model, const Task& task, const MiaSettings& settings, uint64_t seed) {
  DRU_CHECK(settings.samples >= 2, "membership attack: sample size {} must be at least 2", settings.samples);
  const Samples& pool = settings.members == MiaMembers::train ? task.data.train : task.train.retain;
  const Samples& outside = task.data.test;
  // Equal classes: as many members as non-members, the larger pool down-sampled (seeded). The paper
  // draws 2,000 of each unseeded; where a pool is smaller both classes shrink to it.
  const int64_t per_class = std::min({settings.samples, pool.size(), outside.size()});
  Generator gen(seed);
  auto sample = [&](const Samples& s, int64_t n) {
    std::vector<int64_t> idx = gen.permutation(s.size());
    idx.resize(size_t(n));
    return s.select(idx);
  };
  const Samples members = sample(pool, per_class);
  const Samples nonmembers = sample(outside, per_class);
  const Samples query = sample(task.train.forget, std::min(settings.samples, task.train.forget.size()));
  return membership_attack_losses(sample_losses(model, task, members), sample_losses(model, task, nonmembers),
                                  sample_losses(model, task, query), settings.folds);
}

// ---------------------------------------------------------------------------------------------
// Anamnesis index

int64_t relearn_steps(const Task& task, const Model& model, double target, double lr, int64_t cap) {
  DRU_CHECK(cap > 0, "relearn: the cap of {} steps must be positive", cap);
  DRU_CHECK(lr >= 0 && std::isfinite(lr), "relearn: learning rate {} must be finite and not negative", lr);
  std::unique_ptr<Model> m = copy_model(task, model, task.seed);  // the model passed in never changes
  if (evaluate(*m, task, task.val.forget) <= target) return 0;
  ParamArena arena;
  arena.finalize(m->parameters());
  Adam adam(arena, AdamConfig{.lr = lr});
  // The paper's relearn_time: a fresh Adam, the whole training set shuffled (with the training
  // augmentation), one step, then the validation forget loss; stop as soon as it reaches the target.
  BatchOrder order(task.data.train.size(), task.batch, true, stream_seed(task.seed, "ain-order"));
  int64_t steps = 0;
  for (int epoch = 1;; ++epoch) {
    order.begin_epoch(epoch);
    for (int64_t b = 0; b < order.batches(); ++b) {
      // Data parallel as in fit (engine/fit.h): this rank's shard, its share of the loss, summed gradients.
      TrainShard sh = shard_batch(task, task.data.train, order.indices(b), uint64_t(steps));
      adam.zero_grad();
      if (sh.rows > 0) {
        ShardScope scope(sh.scope());
        Tensor loss = task_loss(task, m->forward(sh.in, Mode::train).pred, sh.batch.y);
        sh.share(loss).backward();
      }
      if (world().size() > 1) world().all_reduce(arena.grads);
      adam.step();
      ++steps;
      broadcast_buffers(*m);  // every rank evaluates rank 0's running statistics
      if (evaluate(*m, task, task.val.forget) <= target || steps >= cap) return steps;
    }
  }
}

int64_t default_ain_cap(const Task& task) {
  return 10 * ((task.data.train.size() + task.batch - 1) / task.batch);
}

std::vector<double> ain_ladder() { return {1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5}; }

AinPlan plan_ain(const Task& task, const Model& original, const Model& gold, const AinSettings& s) {
  DRU_CHECK(s.alpha >= 0 && std::isfinite(s.alpha), "anamnesis index: alpha {} must be finite and not negative",
            s.alpha);
  DRU_CHECK(s.lr >= 0 && std::isfinite(s.lr), "anamnesis index: learning rate {} must be finite", s.lr);
  AinPlan plan;
  plan.cap = s.cap > 0 ? s.cap : default_ain_cap(task);
  plan.min_gold_steps = s.min_gold_steps;
  std::unique_ptr<Model> orig = copy_model(task, original, task.seed);  // evaluate needs a non-const model
  plan.target = (1 + s.alpha) * evaluate(*orig, task, task.val.forget);
  plan.from_ladder = s.lr == 0;
  auto run = [&](double lr) {
    const int64_t steps = relearn_steps(task, gold, plan.target, lr, plan.cap);
    plan.tried.emplace_back(lr, steps);
    plan.lr = lr;
    plan.gold_steps = steps;
    return steps;
  };
  if (!plan.from_ladder) {
    run(s.lr);
    return plan;
  }
  double fast = 0;  // the smallest rate tried at which the gold model needed fewer than the minimum
  for (double lr : ain_ladder()) {
    const int64_t steps = run(lr);
    // Enough steps at this rate, or none needed at all (a lower rate cannot change a count of 0).
    if (steps == 0 || (steps >= s.min_gold_steps && steps < plan.cap)) return plan;
    if (steps >= plan.cap) break;
    fast = lr;
  }
  // The count jumped from below the minimum straight to the cap (the relearning stalls above the target at
  // the smaller rate): bisect the rate, geometrically, between the two.
  double slow = plan.lr;
  for (int i = 0; i < 6 && fast > 0 && plan.gold_steps >= plan.cap; ++i) {
    const double mid = std::sqrt(fast * slow);
    const int64_t steps = run(mid);
    if (steps >= s.min_gold_steps && steps < plan.cap) return plan;
    (steps < s.min_gold_steps ? fast : slow) = mid;
  }
  return plan;
}

AinResult anamnesis_index(const Task& task, const Model& unlearned, const AinPlan& plan) {
  AinResult r;
  r.lr = plan.lr;
  r.cap = plan.cap;
  r.gold_steps = plan.gold_steps;
  r.steps = relearn_steps(task, unlearned, plan.target, plan.lr, plan.cap);
  r.ain = plan.gold_steps > 0 ? double(r.steps) / double(plan.gold_steps) : 0;
  r.floor = r.steps <= 1 || r.gold_steps <= 1;
  r.at_cap = r.steps >= r.cap || r.gold_steps >= r.cap;
  return r;
}

// ---------------------------------------------------------------------------------------------
// Planted-shift audit

double planted_shift_kept(const std::vector<double>& pred, const std::vector<double>& gold, double shift) {
  DRU_CHECK(pred.size() == gold.size() && !pred.empty(),
            "planted shift: {} predictions and {} gold predictions (need as many, at least one)", pred.size(),
            gold.size());
  DRU_CHECK(shift != 0 && std::isfinite(shift), "planted shift: the shift {} must be finite and non-zero", shift);
  double s = 0;
  for (size_t i = 0; i < pred.size(); ++i) s += (pred[i] - gold[i]) / shift;
  return s / double(pred.size());
}

}  // namespace dru
