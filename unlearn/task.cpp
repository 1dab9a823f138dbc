// task.cpp — see task.h.
#include "unlearn/task.h"

#include <algorithm>
#include <cmath>

#include "data/augment.h"
#include "engine/comm.h"
#include "engine/ops.h"
#include "engine/rng.h"

#include <fmt/format.h>

namespace dru {

Task make_task(DataSet data, const std::string& rule, ModelConfig model, LossKind loss, int64_t batch,
               uint64_t seed) {
  DRU_CHECK(batch > 0, "batch size {} must be positive", batch);
  Task t;
  t.rule = parse_forget_rule(rule, data.label_name);
  ForgetSplits parts = split_forget(data, t.rule);  // throws on an empty forget or retain set
  t.train = std::move(parts.train);
  t.val = std::move(parts.val);
  t.test = std::move(parts.test);
  t.data = std::move(data);
  t.model = std::move(model);
  t.loss = loss;
  t.batch = batch;
  t.seed = seed;
  return t;
}

PlantedTask make_planted_task(const Task& task, double fraction, double shift_sd, uint64_t seed) {
  DRU_CHECK(fraction > 0 && fraction < 1, "planted audit: the fraction {} must be between 0 and 1", fraction);
  const Samples& train = task.data.train;
  const int64_t n = train.size();
  const int64_t m = std::max<int64_t>(1, std::llround(fraction * double(n)));
  DRU_CHECK(m < n, "planted audit: {} training samples are too few to plant a shift in {} of them", n, m);
  std::vector<double> y = train.y.to_vector();
  // The standard deviation of the point targets (the mean over the horizon for forecasts).
  const int64_t per = train.y.numel() / std::max<int64_t>(n, 1);
  double mean = 0, ss = 0;
  std::vector<double> point(size_t(n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < per; ++k) point[size_t(i)] += y[size_t(i * per + k)] / double(per);
    mean += point[size_t(i)] / double(n);
  }
  for (double v : point) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / double(std::max<int64_t>(n - 1, 1)));
  DRU_CHECK(sd > 0, "planted audit: the training targets do not vary, so there is no scale to shift them by");
  PlantedTask out;
  out.shift = shift_sd * sd;
  std::vector<int64_t> perm = Generator(seed).permutation(n);
  std::vector<bool> planted(size_t(n), false);
  for (int64_t i = 0; i < m; ++i) planted[size_t(perm[size_t(i)])] = true;
  for (int64_t i = 0; i < n; ++i)
    if (planted[size_t(i)])
      for (int64_t k = 0; k < per; ++k) y[size_t(i * per + k)] += out.shift;
  Task& t = out.task;
  t = task;
  t.data.train.y = Tensor::from(y, train.y.shape(), train.y.dtype()).to(train.y.device());
  t.rule = ForgetRule{};
  t.rule.kind = ForgetRule::Kind::ids;
  t.rule.text = fmt::format("planted: {:g} of the training targets shifted by {:g} sd", fraction, shift_sd);
  std::vector<int64_t> f, r;
  for (int64_t i = 0; i < n; ++i) (planted[size_t(i)] ? f : r).push_back(i);
  t.train = ForgetSplit{t.data.train.select(f), t.data.train.select(r)};
  t.val = ForgetSplit{t.data.val.select({}), t.data.val};
  t.test = ForgetSplit{t.data.test.select({}), t.data.test};
  return out;
}

ModelInput to_input(const Task& task, const Batch& b, bool train, uint64_t step) {
  ModelInput in;
  // Images travel as u8 (a quarter of the f32 bytes) and are augmented where the model runs; the CUDA
  // kernel draws the same crops and flips as the CPU (kernels/augment), so the result is the same.
  in.x = b.x.dtype() == DType::u8 ? augment_images(b.x.to(task.device), train, task.seed, step) : b.x;
  in.x2 = b.x2;
  in.mask = b.mask;
  if (task.device != Device::cpu)
    for (Tensor* t : {&in.x, &in.x2, &in.mask})
      if (t->defined()) *t = t->to(task.device);
  return in;
}

namespace {

Tensor rows(const Tensor& t, int64_t lo, int64_t hi) { return t.defined() ? t.slice(0, lo, hi) : t; }

}  // namespace

TrainShard shard_batch(const Task& task, const Samples& s, const Tensor& index, uint64_t step) {
  TrainShard sh;
  sh.batch = gather_batch(s, index);
  sh.in = to_input(task, sh.batch, true, step);
  sh.total = index.numel();
  const Communicator& comm = world();
  const auto [lo, hi] = shard_range(sh.total, comm.rank(), comm.size());
  sh.first = lo;
  sh.rows = hi - lo;
  if (sh.rows == sh.total) return sh;
  for (Tensor* t : {&sh.batch.x, &sh.batch.x2, &sh.batch.mask, &sh.batch.y, &sh.batch.index, &sh.in.x, &sh.in.x2,
                    &sh.in.mask})
    *t = rows(*t, lo, hi);
  return sh;
}

Tensor TrainShard::share(const Tensor& shard_mean) const {
  return rows == total ? shard_mean : mul(shard_mean, double(rows) / double(total));
}

Tensor task_loss(const Task& task, const Tensor& pred, const Tensor& y_in) {
  const Tensor y = y_in.device() == pred.device() ? y_in : y_in.to(pred.device());
  switch (task.loss) {
    case LossKind::l1: return l1_loss(pred, y);
    case LossKind::mse: return mse_loss(pred, y);
    case LossKind::quantile: {
      const int64_t q = int64_t(task.quantiles.size());
      DRU_CHECK(pred.ndim() == 3 && pred.size(2) == q && y.ndim() == 2 && y.size(0) == pred.size(0) &&
                    y.size(1) == pred.size(1),
                "quantile loss: prediction {} and target {} should be (N, H, {}) and (N, H)", pred.shape().str(),
                y.shape().str(), q);
      return quantile_loss(pred.reshape(Shape{pred.size(0) * pred.size(1), q}), y.reshape(Shape{y.numel()}),
                           task.quantiles);
    }
  }
  DRU_FAIL("task_loss: unknown loss");
}

std::vector<double> point_predictions(const Task& task, const Tensor& pred) {
  std::vector<double> v = pred.to_vector();
  if (pred.ndim() != 3) return v;
  // Median quantile (the point forecast), averaged over the horizon.
  const int64_t n = pred.size(0), h = pred.size(1), q = pred.size(2);
  int64_t mid = 0;
  for (int64_t k = 0; k < q; ++k)
    if (std::fabs(task.quantiles[size_t(k)] - 0.5) < std::fabs(task.quantiles[size_t(mid)] - 0.5)) mid = k;
  std::vector<double> out(size_t(n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < h; ++t) out[size_t(i)] += v[size_t((i * h + t) * q + mid)] / double(h);
  return out;
}

namespace {

// Runs model over s in batch order (eval mode, no gradient) and calls f(batch number, batch, prediction).
// Data parallel, each rank runs its contiguous range of the batches (shard_range over batches).
template <class F> void for_each_eval_batch(Model& model, const Task& task, const Samples& s, F&& f) {
  DRU_CHECK(s.size() > 0, "evaluation on an empty set");
  NoGradGuard ng;
  BatchOrder order(s.size(), task.batch, false, 0);
  const auto [first, last] = shard_range(order.batches(), world().rank(), world().size());
  for (int64_t b = first; b < last; ++b) {
    Batch batch = gather_batch(s, order.indices(b));
    Tensor pred = model.forward(to_input(task, batch, task.augment_eval, uint64_t(b)), Mode::eval).pred;
    f(b, batch, pred);
  }
}

// This rank's predictions of s and the targets of the same rows. The batches' predictions stay where
// the model runs until all are made, then one concatenation and one copy bring them to the host: on
// CUDA one wait for the GPU per evaluated set, not one per batch. (A prediction is one value per sample,
// or H x Q for electricity: a few hundred bytes at most.)
struct RankRows {
  Tensor pred, y;     // on the host; undefined when this rank has no batches (more ranks than batches)
  int64_t first = 0;  // the row of s they start at: a rank's batches are contiguous and in data order
};

RankRows rank_rows(Model& model, const Task& task, const Samples& s) {
  std::vector<Tensor> preds, ys;
  RankRows r;
  for_each_eval_batch(model, task, s, [&](int64_t b, const Batch& batch, const Tensor& pred) {
    if (preds.empty()) r.first = b * task.batch;
    preds.push_back(pred);
    ys.push_back(batch.y);  // where the data live: the host, or the GPU when the experiment moved them
  });
  if (preds.empty()) return r;
  r.pred = concat(preds, 0).to(Device::cpu);
  r.y = concat(ys, 0).to(Device::cpu);  // no copy when the data are on the host
  return r;
}

// The per-sample values of this rank's rows (mine, computed from r) in their places of the whole set,
// then every rank's: each rank fills its rows of a zero vector and the all-reduce sum copies them
// exactly (x + 0 is exact).
std::vector<double> gather_per_sample(const Samples& s, const RankRows& r, std::vector<double> mine) {
  if (world().size() == 1) return mine;
  std::vector<double> out(size_t(s.size()), 0.0);
  std::copy(mine.begin(), mine.end(), out.begin() + r.first);
  world().all_reduce(out);
  return out;
}

// This rank's batch losses summed where the model runs (undefined when the rank has no batches).
Tensor summed_batch_losses(Model& model, const Task& task, const Samples& s) {
  Tensor total;
  for_each_eval_batch(model, task, s, [&](int64_t, const Batch& b, const Tensor& pred) {
    Tensor l = task_loss(task, pred, b.y).reshape(Shape{});
    if (total.defined())
      add_(total, l);
    else
      total = l.clone();
  });
  return total;
}

int64_t batch_count(const Task& task, const Samples& s) { return (s.size() + task.batch - 1) / task.batch; }

}  // namespace

double evaluate(Model& model, const Task& task, const Samples& s) {
  Tensor total = summed_batch_losses(model, task, s);
  double sum = total.defined() ? total.item() : 0.0;  // read once; a rank may have no batches of a small set
  if (world().size() > 1) sum = world().broadcast(world().all_reduce(sum));
  return sum / double(batch_count(task, s));
}

Tensor evaluate_on_device(Model& model, const Task& task, const Samples& s) {
  DRU_CHECK(world().size() == 1, "evaluate_on_device: data-parallel runs evaluate with evaluate()");
  Tensor total = summed_batch_losses(model, task, s);
  return mul(total, 1.0 / double(batch_count(task, s))).reshape(Shape{1});
}

std::vector<double> predict(Model& model, const Task& task, const Samples& s) {
  const RankRows r = rank_rows(model, task, s);
  return gather_per_sample(s, r, r.pred.defined() ? point_predictions(task, r.pred) : std::vector<double>{});
}

std::vector<double> sample_losses(Model& model, const Task& task, const Samples& s) {
  const RankRows r = rank_rows(model, task, s);
  // One loss per sample: the task's loss over that sample's row (batch size 1 in the paper's code),
  // computed on the host from the one copy of the predictions.
  std::vector<double> mine;
  for (int64_t i = 0; r.pred.defined() && i < r.pred.size(0); ++i)
    mine.push_back(task_loss(task, r.pred.slice(0, i, i + 1), r.y.slice(0, i, i + 1)).item());
  return gather_per_sample(s, r, std::move(mine));
}

std::unique_ptr<Model> fresh_model(const Task& task, uint64_t seed) {
  ModelConfig c = task.model;
  c.seed = seed;
  std::unique_ptr<Model> m = make_model(c);
  m->to(task.device);
  return m;
}

std::unique_ptr<Model> copy_model(const Task& task, const Model& src, uint64_t seed) {
  std::unique_ptr<Model> m = fresh_model(task, seed);
  m->load_state_dict(src.state_dict());
  return m;
}

uint64_t stream_seed(uint64_t seed, const std::string& stream) {
  // FNV-1a of the name, then SplitMix64's finaliser over (seed, name): a full-avalanche mix, so nearby
  // seeds and similar names give unrelated streams.
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : stream) {
    h ^= c;
    h *= 1099511628211ull;
  }
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (h | 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace dru
