// demo.cpp — see demo.h. Features are standardised with the training split's mean and standard
// deviation and the target likewise (the network learns z-scores; errors are reported in the
// target's own units). The split is a seeded permutation; batches are reshuffled every epoch.
#include "tools/demo.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "data/table.h"

namespace dru {

namespace {

struct Split {
  Tensor x, y;  // (n, F), (n, 1) standardised
};

Split make_split(const Table& t, const std::vector<int64_t>& rows, const std::vector<double>& mu,
                 const std::vector<double>& sd, int target) {
  int64_t n = int64_t(rows.size()), f = int64_t(t.columns.size()) - 1;
  Split s{Tensor::empty(Shape{n, f}), Tensor::empty(Shape{n, 1})};
  float* px = s.x.data<float>();
  float* py = s.y.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& r = t.rows[size_t(rows[size_t(i)])];
    int64_t k = 0;
    for (int c = 0; c < int(r.size()); ++c) {
      if (c == target) continue;
      px[i * f + k] = float((r[size_t(c)] - mu[size_t(c)]) / sd[size_t(c)]);
      ++k;
    }
    py[i] = float((r[size_t(target)] - mu[size_t(target)]) / sd[size_t(target)]);
  }
  return s;
}

}  // namespace

std::string shipped_path(const std::string& relative) {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      auto p = dir / relative;
      if (std::filesystem::exists(p)) return p.string();
    }
  }
  return std::string(DRU_SOURCE_DIR) + "/" + relative;
}

std::string default_demo_data() { return shipped_path("data/diabetes/diabetes.txt"); }

DemoResult run_demo(const DemoConfig& cfg) {
  DRU_CHECK(cfg.epochs >= 1, "demo: --epochs must be at least 1 (got {})", cfg.epochs);
  DRU_CHECK(cfg.batch >= 1, "demo: --batch must be at least 1 (got {})", cfg.batch);
  DRU_CHECK(cfg.hidden >= 1, "demo: --hidden must be at least 1 (got {})", cfg.hidden);
  DRU_CHECK(cfg.lr > 0, "demo: --lr must be positive (got {})", cfg.lr);
  DRU_CHECK(cfg.val_fraction > 0 && cfg.val_fraction < 1, "demo: validation fraction {} must be in (0, 1)",
            cfg.val_fraction);
  Table t = read_table(cfg.data_path.empty() ? default_demo_data() : cfg.data_path);
  int target = t.column("target");
  DRU_CHECK(t.columns.size() >= 2, "demo: the table needs at least one feature column besides 'target'");

  Generator gen(cfg.seed);
  std::vector<int64_t> perm = gen.permutation(int64_t(t.rows.size()));
  int64_t n_val = std::max<int64_t>(1, int64_t(std::lround(cfg.val_fraction * double(perm.size()))));
  DRU_CHECK(n_val < int64_t(perm.size()), "demo: {} rows are too few to split", perm.size());
  std::vector<int64_t> val_rows(perm.begin(), perm.begin() + n_val), train_rows(perm.begin() + n_val, perm.end());

  // Standardisation statistics from the training rows only.
  size_t nc = t.columns.size();
  std::vector<double> mu(nc, 0.0), sd(nc, 0.0);
  for (int64_t r : train_rows)
    for (size_t c = 0; c < nc; ++c) mu[c] += t.rows[size_t(r)][c] / double(train_rows.size());
  for (int64_t r : train_rows)
    for (size_t c = 0; c < nc; ++c) sd[c] += std::pow(t.rows[size_t(r)][c] - mu[c], 2) / double(train_rows.size() - 1);
  for (auto& s : sd) s = s > 0 ? std::sqrt(s) : 1.0;
  Split train = make_split(t, train_rows, mu, sd, target), val = make_split(t, val_rows, mu, sd, target);

  int64_t features = int64_t(nc) - 1;
  Generator init(cfg.seed + 1);
  Sequential mlp;
  mlp.add(std::make_shared<Linear>(features, cfg.hidden, true, init))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<Linear>(cfg.hidden, cfg.hidden, true, init))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<Linear>(cfg.hidden, 1, true, init));
  ParamArena arena;
  arena.finalize(mlp.parameters());

  int64_t n_train = train.x.size(0);
  int64_t batches = (n_train + cfg.batch - 1) / cfg.batch;
  std::vector<int64_t> order;
  double y_scale = sd[size_t(target)];

  FitHooks hooks;
  hooks.batches_per_epoch = batches;
  // Each epoch's order depends only on (seed, epoch), so a resumed run shuffles as the original would.
  hooks.begin_epoch = [&](int epoch) { order = Generator(cfg.seed + 2, uint64_t(epoch) << 32).permutation(n_train); };
  hooks.train_loss = [&](int64_t b) {
    int64_t lo = b * cfg.batch, hi = std::min(n_train, lo + cfg.batch);
    Tensor idx = Tensor::from(std::vector<int64_t>(order.begin() + lo, order.begin() + hi), Shape{hi - lo});
    return l1_loss(mlp(index_select(train.x, idx)), index_select(train.y, idx));
  };
  hooks.validate = [&]() { return l1_loss(mlp(val.x), val.y).item() * y_scale; };
  // The network learns z-scores; the log reports both losses in the target's units.
  hooks.log = [&](const EpochLog& e) {
    if (cfg.quiet) return;
    EpochLog shown = e;
    shown.train_loss *= y_scale;
    std::printf("%s\n", format_epoch(shown, cfg.epochs).c_str());
    std::fflush(stdout);
  };

  FitConfig fc;
  fc.epochs = cfg.epochs;
  fc.adam.lr = cfg.lr;
  fc.checkpoint_dir = cfg.checkpoint_dir;
  fc.resume = cfg.resume;
  fc.restore_best = true;

  DemoResult res;
  res.fit = fit(mlp, arena, hooks, fc);
  res.val_l1 = res.fit.best_val;
  res.n_train = n_train;
  res.n_val = n_val;
  res.n_params = mlp.num_parameters();
  // Baseline: the training median of the target, for every validation row.
  std::vector<double> ys;
  for (int64_t r : train_rows) ys.push_back(t.rows[size_t(r)][size_t(target)]);
  std::nth_element(ys.begin(), ys.begin() + ys.size() / 2, ys.end());
  double median = ys[ys.size() / 2];
  for (int64_t r : val_rows) res.baseline_val_l1 += std::fabs(t.rows[size_t(r)][size_t(target)] - median) / double(n_val);
  return res;
}

}  // namespace dru
