// stats.h — the small statistics the metrics and the report need: mean and sample standard deviation,
// Student-t intervals over seeds, the Wilson interval of a proportion, and the ROC AUC of two score samples.
//
// Written by hand (a few lines each) rather than pulling in a statistics library: each is checked
// against scipy / scikit-learn values in tests/test_unlearn_metrics.cpp.
#pragma once

#include <cstdint>
#include <vector>

namespace dru {

// Mean and sample standard deviation (ddof 1; 0 for a single value).
struct MeanSd {
  double mean = 0, sd = 0;
  int64_t n = 0;
};
MeanSd mean_sd(const std::vector<double>& v);

// The two-sided 97.5 % quantile of Student's t with df degrees of freedom (df >= 1): the multiplier
// of a 95 % confidence interval. Exact to 4 digits for df <= 30 (table), and within 1e-3 beyond
// (a Cornish-Fisher expansion around the normal quantile).
double t975(int64_t df);

// A 95 % interval [lo, hi] around a value.
struct Interval {
  double lo = 0, hi = 0;
  bool contains(double x) const { return lo <= x && x <= hi; }
};

// The Student-t 95 % interval of the mean of v (n >= 2; a single value gives [v, v]).
Interval t_interval(const std::vector<double>& v);

// The Wilson score 95 % interval of a proportion: successes out of n trials (n >= 1).
Interval wilson_interval(int64_t successes, int64_t n);

// ROC AUC of scores where higher means "positive": the probability that a random positive scores
// above a random negative, ties counting one half (Mann-Whitney U / (n_pos * n_neg), as
// sklearn.metrics.roc_auc_score). Both samples must be non-empty.
double roc_auc(const std::vector<double>& positive, const std::vector<double>& negative);

}  // namespace dru
