// tiny_experiment.h — the shipped STS-B experiment shrunk to a few hundred pairs and an epoch or two per
// stage: what the experiment tests (tests/test_unlearn_experiment.cpp) and the data-parallel check
// (tests/mpi/mpi_check.cpp) run. Needs DRU_SOURCE_DIR (the repository, for data/).
#pragma once

#include <string>

#include "unlearn/experiment.h"

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
    p.mia_samples = 100;
    p.ain_max_epochs = 1;
  };
  return o;
}

}  // namespace dru::test
