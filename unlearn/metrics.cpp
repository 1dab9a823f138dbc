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
                                        const std::vector<double>& y) {
  DRU_CHECK(pred.size() == gold.size() && pred.size() == y.size(),
            "relative_difference: {} predictions, {} gold predictions and {} targets differ in number", pred.size(),
            gold.size(), y.size());
  std::vector<double> out;
  out.reserve(y.size());
  for (size_t i = 0; i < y.size(); ++i)
    if (y[i] != 0) out.push_back(std::fabs(pred[i] - gold[i]) / std::fabs(y[i]));
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
};

}  // namespace

std::vector<int> membership_predictions(const std::vector<double>& member, const std::vector<double>& nonmember,
                                        const std::vector<double>& query) {
  return LossSvm(member, nonmember).predict(query);
}

MiaResult membership_attack_losses(const std::vector<double>& member, const std::vector<double>& nonmember,
                                   const std::vector<double>& query) {
  LossSvm svm(member, nonmember);
  return MiaResult{svm.member_fraction(query), svm.member_fraction(member), svm.member_fraction(nonmember)};
}

MiaResult membership_attack(Model& model, const Task& task, int64_t sample_size, uint64_t seed) {
  DRU_CHECK(sample_size > 0, "membership attack: sample size {} must be positive", sample_size);
  // The paper samples (DataFrame.sample, unseeded) without replacement; here one seeded stream draws the
  // three samples in turn.
  Generator gen(seed);
  auto sample = [&](const Samples& s) {
    std::vector<int64_t> idx = gen.permutation(s.size());
    idx.resize(size_t(std::min<int64_t>(sample_size, s.size())));
    return s.select(idx);
  };
  const Samples members = sample(task.data.train);  // the whole training set: forget samples included
  const Samples nonmembers = sample(task.data.test);
  const Samples query = sample(task.train.forget);
  return membership_attack_losses(sample_losses(model, task, members), sample_losses(model, task, nonmembers),
                                  sample_losses(model, task, query));
}

// ---------------------------------------------------------------------------------------------
// Anamnesis index

int64_t relearn_steps(const Task& task, const Model& model, double target, double lr, int max_epochs) {
  DRU_CHECK(max_epochs > 0, "relearn: max_epochs {} must be positive", max_epochs);
  DRU_CHECK(lr >= 0, "relearn: learning rate {} is negative", lr);
  std::unique_ptr<Model> m = copy_model(task, model);  // the model passed in never changes
  ParamArena arena;
  arena.finalize(m->parameters());
  Adam adam(arena, AdamConfig{.lr = lr});
  // The paper's relearn_time: a fresh Adam, the whole training set shuffled (with the training
  // augmentation), one step, then the validation forget loss; stop as soon as it reaches the target.
  BatchOrder order(task.data.train.size(), task.batch, true, task.seed);
  int64_t steps = 0;
  for (int epoch = 1; epoch <= max_epochs; ++epoch) {
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
      if (evaluate(*m, task, task.val.forget) <= target) return steps;
    }
  }
  return steps;  // the cap: max_epochs * batches
}

int64_t relearn_cap(const Task& task, int max_epochs) {
  return int64_t(max_epochs) * ((task.data.train.size() + task.batch - 1) / task.batch);
}

AinResult anamnesis_index(const Task& task, const Model& original, const Model& unlearned, const Model& gold,
                          double lr, double alpha, int max_epochs) {
  DRU_CHECK(alpha >= 0, "anamnesis index: alpha {} is negative", alpha);
  std::unique_ptr<Model> orig = copy_model(task, original);  // evaluate needs a non-const model
  const double target = (1 + alpha) * evaluate(*orig, task, task.val.forget);
  AinResult r;
  r.unlearned_steps = relearn_steps(task, unlearned, target, lr, max_epochs);
  r.gold_steps = relearn_steps(task, gold, target, lr, max_epochs);
  r.ain = double(r.unlearned_steps) / double(r.gold_steps);
  r.floor = r.unlearned_steps == 1 && r.gold_steps == 1;
  r.cap = relearn_cap(task, max_epochs);
  return r;
}

}  // namespace dru
