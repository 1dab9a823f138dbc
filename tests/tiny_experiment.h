// tiny_experiment.h — the shipped STS-B experiment shrunk to a few hundred pairs and an epoch or two per
// stage: what the experiment tests (tests/test_unlearn_experiment.cpp) and the data-parallel check
// (tests/mpi/mpi_check.cpp) run; and the shrunk STS-B task the method tests
// (tests/test_unlearn_methods.cpp) and the MPI check train on. Needs DRU_SOURCE_DIR (the repository, for data/).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "data/stsb.h"
#include "engine/rng.h"
#include "unlearn/experiment.h"
#include "unlearn/task.h"

namespace dru::test {

inline ExperimentOptions tiny_stsb(const std::string& out) {
  ExperimentOptions o;
  o.preset = "stsb-lstm";
  o.quick = true;
  o.out = out;
  o.data_root = std::string(DRU_SOURCE_DIR) + "/data";
  o.progress = false;
  o.adjust = [](Preset& p) {
    p.max_train = 300;
    p.max_val = 120;
    p.max_test = 120;
    p.batch = 64;
    p.original.epochs = 2;
    p.gold.epochs = 2;
    for (auto& [m, s] : p.methods) {
      s.epochs = 1;
      s.blindspot_epochs = 1;
    }
    p.mia.samples = 100;
    p.ain.cap = 5;  // 5 batches of 64 = one epoch of the 300 pairs
    p.ain.min_gold_steps = 2;
  };
  return o;
}

// A seeded subset of n samples of s (the STS-B splits are ordered by score, not shuffled).
inline Samples subset(const Samples& s, int64_t n, uint64_t seed) {
  std::vector<int64_t> perm = Generator(seed).permutation(s.size());
  perm.resize(size_t(std::min(n, s.size())));
  return s.select(perm);
}

// The shipped STS-B as 100-d GloVe vectors, n_train training pairs and n_held validation and test pairs
// drawn at random: stsb-lstm, forget rule score<2, MSE, batches of 64, seed 0.
inline Task tiny_stsb_task(int64_t n_train, int64_t n_held) {
  DataSet ds = load_stsb_vectors(StsbOptions::from_root(std::string(DRU_SOURCE_DIR) + "/data"));
  ds.train = subset(ds.train, n_train, 1);
  ds.val = subset(ds.val, n_held, 2);
  ds.test = subset(ds.test, n_held, 3);
  ModelConfig mc;
  mc.name = "stsb-lstm";
  mc.embed_dim = 100;
  return make_task(std::move(ds), "score<2", mc, LossKind::mse, 64, 0);
}

}  // namespace dru::test
