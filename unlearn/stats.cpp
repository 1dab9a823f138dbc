// stats.cpp — see stats.h.
#include "unlearn/stats.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"

namespace dru {

MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd m;
  m.n = int64_t(v.size());
  if (v.empty()) return m;
  for (double x : v) m.mean += x;
  m.mean /= double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - m.mean) * (x - m.mean);
    m.sd = std::sqrt(ss / double(v.size() - 1));
  }
  return m;
}

namespace {
constexpr double kZ975 = 1.959963984540054;  // the normal distribution's 97.5 % quantile
}

double t975(int64_t df) {
  DRU_CHECK(df >= 1, "t975: {} degrees of freedom (need at least 1)", df);
  // scipy.stats.t.ppf(0.975, df) for df = 1 .. 30, rounded to 4 decimals.
  static const double table[30] = {12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
                                   2.2010,  2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                                   2.0796,  2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
  if (df <= 30) return table[df - 1];
  // Cornish-Fisher expansion of t's quantile in powers of 1/df around the normal quantile z.
  const double z = kZ975, n = double(df);
  const double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
  return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n) +
         (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n);
}

Interval t_interval(const std::vector<double>& v) {
  DRU_CHECK(!v.empty(), "t_interval: no values");
  const MeanSd m = mean_sd(v);
  if (m.n == 1) return {m.mean, m.mean};
  const double h = t975(m.n - 1) * m.sd / std::sqrt(double(m.n));
  return {m.mean - h, m.mean + h};
}

Interval wilson_interval(int64_t successes, int64_t n) {
  DRU_CHECK(n >= 1 && successes >= 0 && successes <= n, "wilson_interval: {} successes of {} trials", successes, n);
  const double z = kZ975, p = double(successes) / double(n), nn = double(n);
  const double centre = (p + z * z / (2 * nn)) / (1 + z * z / nn);
  const double half = z / (1 + z * z / nn) * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double roc_auc(const std::vector<double>& positive, const std::vector<double>& negative) {
  DRU_CHECK(!positive.empty() && !negative.empty(), "roc_auc: needs positive and negative scores ({} and {} given)",
            positive.size(), negative.size());
  // Mann-Whitney U from the ranks of the pooled scores (ties share their mean rank).
  struct Item {
    double score;
    bool pos;
  };
  std::vector<Item> all;
  all.reserve(positive.size() + negative.size());
  for (double s : positive) all.push_back({s, true});
  for (double s : negative) all.push_back({s, false});
  for (const Item& it : all) DRU_CHECK(std::isfinite(it.score), "roc_auc: a score is {}", it.score);
  std::sort(all.begin(), all.end(), [](const Item& a, const Item& b) { return a.score < b.score; });
  double rank_sum = 0;  // of the positives, ranks from 1
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].score == all[i].score) ++j;
    const double mean_rank = 0.5 * double(i + 1 + j);  // ranks i+1 .. j
    for (size_t k = i; k < j; ++k)
      if (all[k].pos) rank_sum += mean_rank;
    i = j;
  }
  const double np = double(positive.size()), nn = double(negative.size());
  return (rank_sum - np * (np + 1) / 2) / (np * nn);
}

}  // namespace dru
