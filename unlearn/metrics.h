// metrics.h — the regression-unlearning metrics of docs/paper.md §4, each with the check that says
// whether it can tell methods apart (docs/metrics.md explains every choice):
//
//   wasserstein1          unpaired 1-D earth mover's distance between two prediction samples (scipy's)
//   relative_difference   |pred − gold| / max(|y|, floor): the paper divides by |y|, which is meaningless
//                         for targets near 0 (standardised load) and undefined at 0 (STS-B scores of 0)
//   membership attack     the paper's loss-based RBF SVM on EQUAL numbers of members and non-members, with
//                         its own cross-validated balanced accuracy (Wilson 95 % interval) and ROC AUC
//   anamnesis index       relearning steps of a model over the gold model's, at a learning rate chosen so
//                         that the gold model needs at least 20 steps, counts at the floor or cap flagged
//   planted shift kept    the known-answer audit: the share of a planted target shift a model still carries
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "unlearn/stats.h"
#include "unlearn/task.h"

namespace dru {

// 1-D earth mover's distance between the empirical distributions of a and b (unpaired, equal weights;
// scipy.stats.wasserstein_distance).
double wasserstein1(std::vector<double> a, std::vector<double> b);

// |pred - gold| / max(|y|, floor) per sample, every sample kept (floor > 0: the experiment passes the
// standard deviation of the training targets, so a target near 0 cannot blow a ratio up).
std::vector<double> relative_difference(const std::vector<double>& pred, const std::vector<double>& gold,
                                        const std::vector<double>& y, double floor);

// ---- the membership-inference attack (docs/paper.md §4.3) --------------------------------------------

// Which training samples are the attack's members: the paper's whole training set (its forget samples
// included), or the retain set only.
enum class MiaMembers { train, retain };
const char* mia_members_name(MiaMembers m);
MiaMembers parse_mia_members(const std::string& s);  // "train" or "retain"; throws naming both

struct MiaSettings {
  int64_t samples = 2000;               // per class and for the query, at most (the paper's 2,000)
  MiaMembers members = MiaMembers::train;
  int folds = 5;                        // cross-validation folds for the attack's own accuracy
};

// How well the attack separates its own members from its non-members, measured on held-out folds.
struct AttackSkill {
  int64_t correct = 0, n = 0;           // held-out decisions that were right, of all held-out decisions
  double balanced_accuracy = 0.5;       // equal classes: correct / n
  Interval ci;                          // Wilson 95 % interval of balanced_accuracy
  double auc = 0.5;                     // ROC AUC of the held-out decision values
  bool informative() const { return n > 0 && !ci.contains(0.5); }
};

struct MiaResult {
  double forget = 0;                    // fraction of the query (training forget) losses called "member"
  double train = 0, test = 0;           // the same fraction on the attack's own members and non-members
  int64_t per_class = 0, query = 0;     // members = non-members = per_class
  AttackSkill skill;
};

// An RBF SVM (libsvm: C = 3, gamma = 1 / features, eps 1e-3, shrinking — scikit-learn's
// SVC(C=3, gamma='auto')) fitted on member (label 1) and non-member (label 0) losses, non-members first.
// Returns the label (1 = member) of every query loss. Pure, for fixtures.
std::vector<int> membership_predictions(const std::vector<double>& member, const std::vector<double>& nonmember,
                                        const std::vector<double>& query);
// k-fold cross-validated skill on equal classes: sample i of either class is in fold i % folds; each fold
// is predicted by an SVM fitted on the other folds (non-members then members, order kept).
// held_out_scores, when given, receives the member-ward decision value of every member then every
// non-member (for fixtures).
AttackSkill attack_skill(const std::vector<double>& member, const std::vector<double>& nonmember, int folds,
                         std::vector<double>* held_out_scores = nullptr);
// The whole attack on losses: member and nonmember must be equally many (at least 2 each); the
// fractions come from one SVM fitted on all of them (the paper's number), the skill from attack_skill.
MiaResult membership_attack_losses(const std::vector<double>& member, const std::vector<double>& nonmember,
                                   const std::vector<double>& query, int folds = 5);
// The attack on a model: members from the training set (or its retain part), non-members from the test
// split, as many of each as the smaller pool and settings.samples allow (seeded down-sampling of the
// larger), and up to settings.samples training forget samples as the query.
MiaResult membership_attack(Model& model, const Task& task, const MiaSettings& settings, uint64_t seed);

// ---- the anamnesis index (docs/paper.md §4.4) -------------------------------------------------------

// Relearning (the paper's relearn_time): a fresh Adam at lr on the whole training set, shuffled batches
// with the training augmentation, the validation forget loss checked before the first step and after
// every step, until it is at most target. Returns the number of steps taken: 0 when the model is already
// there, cap when it never got there. Runs on a copy: model does not change.
int64_t relearn_steps(const Task& task, const Model& model, double target, double lr, int64_t cap);
// 10 epochs of the training set's batches: the paper's cap.
int64_t default_ain_cap(const Task& task);

struct AinSettings {
  // 0: the largest rate of ain_ladder() at which the gold model needs at least min_gold_steps and fewer
  // than cap steps; when the count jumps from below the minimum at one rung straight to the cap at the
  // next, the rate between them is bisected (geometrically, at most 6 times).
  double lr = 0;
  double alpha = 0.05;           // target = (1 + alpha) x the original's validation forget loss
  int64_t cap = 0;               // steps; 0: default_ain_cap
  int64_t min_gold_steps = 20;
};
// 1e-2, 3e-3, 1e-3, ... 1e-5: the rates tried, largest first (the notebook's 0.01 first).
std::vector<double> ain_ladder();

// The relearning set-up every model of one seed shares: the target, the rate and the gold model's count.
struct AinPlan {
  double target = 0, lr = 0;
  int64_t cap = 0, gold_steps = 0;
  bool from_ladder = false;
  std::vector<std::pair<double, int64_t>> tried;  // (lr, gold steps), in the order tried
  int64_t min_gold_steps = 20;
  // The gold count is at least min_gold_steps and below the cap: ratios can resolve.
  bool resolved() const { return gold_steps >= min_gold_steps && gold_steps < cap; }
};
AinPlan plan_ain(const Task& task, const Model& original, const Model& gold, const AinSettings& s);

struct AinResult {
  int64_t steps = 0, gold_steps = 0, cap = 0;
  double ain = 0, lr = 0;        // steps / gold_steps
  bool floor = false;            // a count is 0 or 1: the ratio cannot resolve anything faster
  bool at_cap = false;           // a count reached the cap: the ratio is a bound, not a value
};
AinResult anamnesis_index(const Task& task, const Model& unlearned, const AinPlan& plan);

// ---- the planted-shift audit ----------------------------------------------------------------------

// Mean over the planted samples of (pred - gold) / shift: 1 = the model still carries the whole planted
// shift, 0 = it predicts as the model that never saw the shifted targets.
double planted_shift_kept(const std::vector<double>& pred, const std::vector<double>& gold, double shift);

}  // namespace dru
