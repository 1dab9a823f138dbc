// forget.h — which samples must be forgotten: one rule, applied to every split of a data set.
//
// Rule syntax (the --forget flag), where LABEL is the data set's label word (age, score, load):
//   LABEL<=30  LABEL<2  LABEL>=70  LABEL>4      a threshold on the label
//   LABEL=30..70  or  30..70                    an inclusive label range
//   customer=MT_003,MT_007  (or group=...)      samples of these groups (electricity customers)
//   random=0.1  or  random=0.1:7                a seeded random fraction of every split (seed 0 default)
//   ids=FILE                                    the samples whose key is listed in FILE, one per line; a
//                                               line SPLIT:KEY (train:17) names the sample of one split
//                                               only. Keys must name one sample: a key repeated within a
//                                               split, or an unqualified key found in several splits
//                                               (STS-B's pair indices restart in every file), is refused.
// The paper's code forgets ages <= 30 (AgeDB) and scores < 2 (STS-B) in train, val and test alike; the
// val and test forget subsets are only evaluated on. Selection never reorders: forget and retain keep
// the original sample order.
#pragma once

#include <string>
#include <vector>

#include "data/dataset.h"

namespace dru {

struct ForgetRule {
  enum class Kind { threshold, range, group, random, ids };
  Kind kind = Kind::threshold;
  std::string text;            // as given, for reports
  std::string op;              // threshold: "<=", "<", ">=", ">"
  double a = 0, b = 0;         // threshold value; range [a, b]; random fraction a
  uint64_t seed = 0;           // random
  std::vector<std::string> names;  // group names, or the keys read from the ids file
};

// Parses text for a data set whose label word is label_name; throws one line naming the problem.
ForgetRule parse_forget_rule(const std::string& text, const std::string& label_name);

// The salt that separates the random draws of the splits: train 0, val 1, test 2.
uint64_t split_salt(const std::string& split);

// Per-sample forget flags of one split; pass split_salt(split name) as salt.
std::vector<bool> forget_mask(const ForgetRule& rule, const Samples& s, uint64_t salt = 0);

struct ForgetSplit {
  Samples forget, retain;
};
ForgetSplit split_forget(const Samples& s, const ForgetRule& rule, uint64_t salt = 0);

struct ForgetCounts {
  std::string split;
  int64_t total = 0, forget = 0, retain = 0;
};
// Counts for train, val and test. Throws when the training split's forget or retain set is empty
// (nothing to unlearn, or nothing left to learn from), naming the rule and the counts.
std::vector<ForgetCounts> count_forget(const DataSet& ds, const ForgetRule& rule);
// Throws, naming the split and the rule, when the validation or test split's forget or retain part is
// empty: the metrics evaluate both parts of both splits (an experiment calls this before any training).
void check_every_split(const std::vector<ForgetCounts>& counts, const ForgetRule& rule);

// Every split of ds cut by rule, after count_forget's and check_every_split's checks (the same errors);
// each split's mask is computed once for both.
struct ForgetSplits {
  ForgetSplit train, val, test;
};
ForgetSplits split_forget(const DataSet& ds, const ForgetRule& rule);

}  // namespace dru
