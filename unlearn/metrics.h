// metrics.h — the regression-unlearning metrics of PAPER.md §4, as the paper's code computes them,
// with the decisions of §6 made explicit as options.
#pragma once

#include <cstdint>
#include <vector>

#include "unlearn/task.h"

namespace dru {

// 1-D earth mover's distance between the empirical distributions of a and b (unpaired, equal weights;
// scipy.stats.wasserstein_distance).
double wasserstein1(std::vector<double> a, std::vector<double> b);

// |pred - gold| / |y| per sample (PAPER.md §4.5); samples with y == 0 are skipped.
std::vector<double> relative_difference(const std::vector<double>& pred, const std::vector<double>& gold,
                                        const std::vector<double>& y);

// The loss-based membership-inference attack (PAPER.md §4.3): per-sample losses of `member` samples
// (label 1) and `nonmember` samples (label 0) train an RBF SVM (libsvm: C = 3, gamma = 1 / features,
// eps 1e-3, shrinking, as scikit-learn's SVC(C=3, gamma='auto')); the result is the fraction of the
// query losses it calls "member". Also returned: the same fraction on the attack's own train and test.
struct MiaResult {
  double forget = 0, train = 0, test = 0;
};
// Fits on the given losses and classifies the query losses; pure (for fixtures and tests).
// Training order: the non-members, then the members, each as given (the paper shuffles unseeded; libsvm's
// solution can depend on order, and this one is what tools/fixtures/make_metrics_fixture.py gives sklearn).
MiaResult membership_attack_losses(const std::vector<double>& member, const std::vector<double>& nonmember,
                                   const std::vector<double>& query);
// The same fit, returning the label (1 = member, 0 = non-member) of every query loss.
std::vector<int> membership_predictions(const std::vector<double>& member, const std::vector<double>& nonmember,
                                        const std::vector<double>& query);
// The whole attack on a model: up to sample_size samples of the training set (members), of the test set
// (non-members) and of the training forget set (query), drawn with seed.
MiaResult membership_attack(Model& model, const Task& task, int64_t sample_size = 2000, uint64_t seed = 0);

// Anamnesis index (PAPER.md §4.4): steps of Adam (lr) on the whole training set, evaluating the
// validation forget loss after each, until it is within (1 + alpha) of the original's; capped at
// max_epochs epochs. Runs on copies: neither model passed in changes.
struct AinResult {
  int64_t unlearned_steps = 0, gold_steps = 0;
  double ain = 0;         // unlearned_steps / gold_steps
  bool floor = false;     // both counts are 1: the ratio carries no information (PAPER.md §6.21)
  int64_t cap = 0;        // the maximum number of steps
};
AinResult anamnesis_index(const Task& task, const Model& original, const Model& unlearned, const Model& gold,
                          double lr = 0.01, double alpha = 0.05, int max_epochs = 10);
// Steps for one model to reach target forget loss (the building block of anamnesis_index).
int64_t relearn_steps(const Task& task, const Model& model, double target, double lr, int max_epochs);
// The most steps relearn_steps takes: max_epochs epochs of the whole training set's batches.
int64_t relearn_cap(const Task& task, int max_epochs);

}  // namespace dru
