// demo.h — the small end-to-end demo: an MLP regressor on the diabetes table (442 patients, 10
// baseline variables, disease progression after one year), trained with the generic fit loop on
// L1 loss with Adam and ReduceLROnPlateau. It exercises the whole CPU engine in about a second.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/fit.h"

namespace dru {

struct DemoConfig {
  std::string data_path;  // the diabetes table; empty = the copy shipped in data/diabetes/
  int epochs = 60;
  int batch = 32;
  int hidden = 16;
  double lr = 0.001;  // the table is small and nearly linear: a gentle rate overfits less
  double val_fraction = 0.2;
  uint64_t seed = 0;
  std::string checkpoint_dir;  // empty: nothing written
  bool resume = false;
  bool quiet = false;          // no per-epoch lines
};

struct DemoResult {
  FitResult fit;
  double val_l1 = 0;          // best validation mean absolute error, in the target's units
  double baseline_val_l1 = 0;  // the same error of predicting the training median for everyone
  int64_t n_train = 0, n_val = 0;
  int64_t n_params = 0;
};

// A file or folder shipped in the repository, given relative to its root ("data/stsb"): found above
// the executable (a build folder inside the checkout), else under DRU_SOURCE_DIR.
std::string shipped_path(const std::string& relative);
// The diabetes table the demo trains on.
std::string default_demo_data();
DemoResult run_demo(const DemoConfig& cfg);

}  // namespace dru
