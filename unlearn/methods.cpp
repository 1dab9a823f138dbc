// methods.cpp — see methods.h. Every method is one or two calls of the fit loop (engine/fit.h) with a
// train_loss hook; what differs is the data the batches come from and the loss:
//   original / retrain / finetune   task_loss(M(x), y)                on all / retain / retain samples
//   gradient ascent                 -task_loss(M(x), y)               on forget samples
//   Gaussian amnesiac               task_loss(M(x), y~)               on all samples, forget y ~ N(mu, sd)
//   Blindspot                       c * L_f + (1 - c) * L_r           on all samples (docs/paper.md §3.5)
#include "unlearn/methods.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/ops.h"
#include "engine/comm.h"
#include "engine/ops_fused.h"
#include "engine/rng.h"

namespace dru {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The loss of one training batch (of this rank's shard of it, in a data-parallel run) from its rows
// and their model input.
struct BatchLoss {
  std::function<Tensor(Model& model, const Batch& batch, const ModelInput& in)> compute;
  // Reads nothing but the input and batch.y, on the device, and takes no host decisions on their
  // values: fit may replay it from a CUDA graph (FitHooks::stage).
  bool device_only = false;
};

// The plain supervised loss; sign -1 ascends it (gradient ascent).
BatchLoss supervised(const Task& task, double sign = 1) {
  auto compute = [&task, sign](Model& model, const Batch& batch, const ModelInput& in) {
    Tensor loss = task_loss(task, model.forward(in, Mode::train).pred, batch.y);
    return sign < 0 ? neg(loss) : loss;
  };
  return {compute, true};
}

struct FitJob {
  std::string label;           // log prefix: the method's name
  const Samples* train = nullptr;
  const Samples* val = nullptr;
  uint64_t order_seed = 0;     // the shuffled batch order's seed
  int64_t batch = 0;           // 0: the task's
  int epochs = 1;
  double lr = 0.001;
  bool restore_best = false;
  std::string checkpoint_dir;
  BatchLoss loss;
};

// Trains model in place on job.train (shuffled batches of task.batch), validating on job.val.
FitResult run_fit(Model& model, const Task& task, const MethodSettings& s, const FitJob& job) {
  DRU_CHECK(job.train->size() > 0, "{}: the training set is empty", job.label);
  ParamArena arena;
  arena.finalize(model.parameters());
  BatchOrder order(job.train->size(), job.batch > 0 ? job.batch : task.batch, true, job.order_seed);
  int current_epoch = 1;
  FitHooks hooks;
  hooks.batches_per_epoch = order.batches();
  hooks.begin_epoch = [&](int epoch) {
    current_epoch = epoch;
    order.begin_epoch(epoch);
  };
  auto step_of = [&](int64_t b) { return uint64_t(current_epoch - 1) * uint64_t(order.batches()) + uint64_t(b); };
  if (job.loss.device_only && world().size() == 1) {
    // The batch's host work (gather, upload, augment) apart from its device work, which fit may then
    // replay from a CUDA graph (task.graphs). Data parallel runs take the train_loss path below.
    hooks.stage = [&](int64_t b) {
      Batch batch = gather_batch(*job.train, order.indices(b));
      ModelInput in = to_input(task, batch, true, step_of(b));
      return std::vector<Tensor>{in.x, in.x2, in.mask, batch.y.to(task.device)};
    };
    hooks.staged_loss = [&](const std::vector<Tensor>& v) {
      Batch batch;
      batch.y = v[3];
      return job.loss.compute(model, batch, ModelInput{v[0], v[1], v[2]});
    };
  } else {
    hooks.train_loss = [&](int64_t b) {
      TrainShard sh = shard_batch(task, *job.train, order.indices(b), step_of(b));
      if (sh.rows == 0) return Tensor();  // data parallel: none of this batch's rows are this rank's
      ShardScope scope(sh.scope());
      return sh.share(job.loss.compute(model, sh.batch, sh.in));
    };
  }
  hooks.validate = [&]() { return evaluate(model, task, *job.val); };
  // On the GPU the validation loss stays there and the scheduler runs on it (fit.h); one process only.
  if (task.device == Device::cuda && world().size() == 1)
    hooks.validate_device = [&]() { return evaluate_on_device(model, task, *job.val); };
  hooks.log = [&](const EpochLog& e) {
    if (s.quiet) return;
    std::printf("%s  %s\n", job.label.c_str(), format_epoch(e, job.epochs).c_str());
    std::fflush(stdout);
  };
  FitConfig cfg;
  cfg.epochs = job.epochs;
  cfg.adam.lr = job.lr;
  cfg.plateau = s.plateau;
  cfg.checkpoint_dir = job.checkpoint_dir;
  cfg.resume = s.resume;
  cfg.restore_best = job.restore_best;
  cfg.graphs = task.graphs && job.loss.device_only;  // Blindspot's loop stays eager (--help says so)
  return fit(model, arena, hooks, cfg);
}

FitJob job_from(const std::string& label, const MethodSettings& s, const Samples& train, const Samples& val,
                uint64_t order_seed, BatchLoss loss) {
  FitJob j;
  j.label = label;
  j.train = &train;
  j.val = &val;
  j.order_seed = order_seed;
  j.epochs = s.epochs;
  j.batch = s.batch;
  j.lr = s.lr;
  j.restore_best = s.restore_best;
  j.checkpoint_dir = s.checkpoint_dir;
  j.loss = std::move(loss);
  return j;
}

Tensor cat_rows(const Tensor& a, const Tensor& b) {
  DRU_CHECK(a.defined() == b.defined(), "combining samples: a field is present in one set and not the other");
  if (!a.defined()) return Tensor();
  if (a.size(0) == 0) return b;
  if (b.size(0) == 0) return a;
  return concat({a, b}, 0);
}

// a's samples then b's, every field.
Samples concat_samples(const Samples& a, const Samples& b) {
  NoGradGuard ng;
  Samples s;
  s.x = cat_rows(a.x, b.x);
  s.x2 = cat_rows(a.x2, b.x2);
  s.mask = cat_rows(a.mask, b.mask);
  s.y = cat_rows(a.y, b.y);
  auto join = [](auto u, const auto& v) {
    u.insert(u.end(), v.begin(), v.end());
    return u;
  };
  s.label = join(a.label, b.label);
  s.group = join(a.group, b.group);
  s.key = join(a.key, b.key);
  return s;
}

// The whole training set as retain then forget samples, and the number of retain samples (samples at
// or after it are forget samples).
struct Combined {
  Samples all;
  int64_t retain = 0;
};
Combined combined_training_set(const Task& task) {
  return {concat_samples(task.train.retain, task.train.forget), task.train.retain.size()};
}

// ---- Gaussian amnesiac (Algorithm 2) --------------------------------------------------------------

// ---- Blindspot (Algorithm 1) ----------------------------------------------------------------------

Tensor rows_of(const Tensor& t, const Tensor& idx) { return t.defined() ? index_select(t, idx) : Tensor(); }

// The output term of L_f: the task's loss against the blindspot model's prediction. The quantile loss
// takes point targets, so for quantile forecasts the distance is L1 over every quantile output.
Tensor output_distance(const Task& task, const Tensor& pred, const Tensor& target) {
  if (task.loss == LossKind::quantile) return l1_loss(pred, target);
  return task_loss(task, pred, target);
}

// Not device_only: which rows are forget rows is read on the host, per batch.
BatchLoss blindspot_loss(const Task& task, const MethodSettings& s, Model& blindspot, int64_t retain_count) {
  auto compute = [&task, &s, &blindspot, retain_count](Model& model, const Batch& batch, const ModelInput& in) {
    return blindspot_batch_loss(task, s.beta, model, blindspot, batch, in, retain_count);
  };
  return {compute, false};
}

std::string sub_dir(const std::string& dir, const std::string& name) { return dir.empty() ? dir : dir + "/" + name; }

MethodResult blindspot(const Task& task, const Model& original, const MethodSettings& s) {
  MethodResult res;
  // B: a fresh model partially trained on the retain set, then frozen.
  const uint64_t bseed = stream_seed(task.seed, "blindspot-model");
  std::unique_ptr<Model> b = fresh_model(task, bseed);
  FitJob bj = job_from("blindspot-model", s, task.train.retain, task.val.retain, bseed, supervised(task));
  bj.epochs = s.blindspot_epochs;
  bj.lr = s.blindspot_lr;
  bj.restore_best = s.blindspot_restore_best;
  bj.checkpoint_dir = sub_dir(s.checkpoint_dir, "blindspot-model");
  run_fit(*b, task, s, bj);
  b->train(false);

  Combined c = combined_training_set(task);
  const uint64_t seed = stream_seed(task.seed, "blindspot");
  res.model = copy_model(task, original, seed);
  // Validation on the whole validation set, for the log only (the paper's choice, docs/paper.md §3.5); the
  // last epoch's weights are the result, as in the paper's code.
  FitJob j = job_from("blindspot", s, c.all, task.data.val, seed, blindspot_loss(task, s, *b, c.retain));
  j.restore_best = false;
  j.checkpoint_dir = sub_dir(s.checkpoint_dir, "unlearn");
  res.fit = run_fit(*res.model, task, s, j);
  return res;
}

MethodResult finetune(const Task& task, const Model& original, const MethodSettings& s) {
  MethodResult res;
  const uint64_t seed = stream_seed(task.seed, "finetune");
  res.model = copy_model(task, original, seed);
  res.fit = run_fit(*res.model, task, s,
                    job_from("finetune", s, task.train.retain, task.val.retain, seed, supervised(task)));
  return res;
}

// Ascends the forget loss; the logged train loss is therefore negative. The last weights are the result:
// validation on the retain set only logs (a best-validation checkpoint would undo the ascent).
MethodResult gradient_ascent(const Task& task, const Model& original, const MethodSettings& s) {
  MethodResult res;
  const uint64_t seed = stream_seed(task.seed, "gradient-ascent");
  res.model = copy_model(task, original, seed);
  FitJob j = job_from("gradient-ascent", s, task.train.forget, task.val.retain, seed, supervised(task, -1));
  j.restore_best = false;
  res.fit = run_fit(*res.model, task, s, j);
  return res;
}

MethodResult gaussian_amnesiac(const Task& task, const Model& original, const MethodSettings& s) {
  MethodResult res;
  const uint64_t seed = stream_seed(task.seed, "gaussian-amnesiac");
  Samples train = amnesiac_training_set(task, stream_seed(task.seed, "gaussian-amnesiac-targets"));
  res.model = copy_model(task, original, seed);
  res.fit = run_fit(*res.model, task, s, job_from("gaussian-amnesiac", s, train, task.val.retain, seed, supervised(task)));
  return res;
}

MethodSettings with_epochs(int epochs) {
  MethodSettings s;
  s.epochs = epochs;
  return s;
}

}  // namespace

// The paper's AgeDB schedule (docs/paper.md §2.2, §3): finetune 5 epochs, the others 1, all at lr 0.001,
// the last epoch's weights kept; Blindspot's blindspot model 2 epochs at lr 0.01.
const std::vector<MethodInfo>& method_table() {
  static const std::vector<MethodInfo> table{
      {"finetune", "Finetune", with_epochs(5), finetune},
      {"gradient-ascent", "Gradient ascent", with_epochs(1), gradient_ascent},
      {"gaussian-amnesiac", "Gaussian amnesiac", with_epochs(1), gaussian_amnesiac},
      {"blindspot", "Blindspot", with_epochs(1), blindspot},
  };
  return table;
}

std::vector<std::string> method_names() {
  std::vector<std::string> names;
  for (const auto& m : method_table()) names.push_back(m.name);
  return names;
}

const MethodInfo& method_info(const std::string& method) {
  for (const auto& m : method_table())
    if (m.name == method) return m;
  DRU_FAIL("unknown unlearning method '{}' ({})", method, fmt::join(method_names(), ", "));
}

MethodSettings default_settings(const std::string& method) {
  if (method == "original" || method == "retrain") {
    MethodSettings s;
    s.epochs = 100;
    s.lr = 0.01;
    s.restore_best = true;
    return s;
  }
  return method_info(method).defaults;
}

MethodResult train_original(const Task& task, const MethodSettings& s) {
  auto t0 = Clock::now();
  MethodResult res;
  const uint64_t seed = stream_seed(task.seed, "original");
  res.model = fresh_model(task, seed);
  res.fit = run_fit(*res.model, task, s, job_from("original", s, task.data.train, task.data.val, seed, supervised(task)));
  res.seconds = seconds_since(t0);
  return res;
}

MethodResult retrain(const Task& task, const MethodSettings& s) {
  auto t0 = Clock::now();
  MethodResult res;
  const uint64_t seed = stream_seed(task.seed, "retrain");
  res.model = fresh_model(task, seed);
  res.fit = run_fit(*res.model, task, s,
                    job_from("retrain", s, task.train.retain, task.val.retain, seed, supervised(task)));
  res.seconds = seconds_since(t0);
  return res;
}

MethodResult unlearn(const std::string& method, const Task& task, const Model& original, const MethodSettings& s) {
  const MethodInfo& info = method_info(method);
  auto t0 = Clock::now();
  MethodResult res = info.run(task, original, s);
  res.seconds = seconds_since(t0);
  return res;
}

Samples amnesiac_training_set(const Task& task, uint64_t seed) {
  std::vector<double> f = task.train.forget.y.to_vector(), r = task.train.retain.y.to_vector();
  const double n = double(f.size() + r.size());
  DRU_CHECK(n >= 2, "gaussian-amnesiac: at least two training targets are needed for a standard deviation");
  double mean = 0;
  for (double v : f) mean += v / n;
  for (double v : r) mean += v / n;
  double ss = 0;
  for (double v : f) ss += (v - mean) * (v - mean);
  for (double v : r) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / (n - 1));
  Generator gen(seed);
  for (double& v : f) v = gen.normal(mean, sd);
  Samples forget = task.train.forget;
  const Tensor& y = task.train.forget.y;
  forget.y = Tensor::from(f, y.shape(), y.dtype()).to(y.device());
  return concat_samples(task.train.retain, forget);
}

Tensor blindspot_batch_loss(const Task& task, double beta, Model& model, Model& blindspot, const Batch& batch,
                            const ModelInput& in, int64_t retain_count) {
  std::vector<double> index = batch.index.to_vector();
  DRU_CHECK(!index.empty(), "blindspot: an empty batch");
  std::vector<int64_t> fr, rr;  // batch rows of forget and retain samples
  for (size_t i = 0; i < index.size(); ++i) (int64_t(index[i]) >= retain_count ? fr : rr).push_back(int64_t(i));
  const double c = double(fr.size()) / double(index.size());
  ModelOutput out = model.forward(in, Mode::train);  // once on the whole batch; rows selected below
  Tensor loss;
  if (!rr.empty()) {
    Tensor ri = Tensor::from(rr, Shape{int64_t(rr.size())}).to(out.pred.device());
    Tensor lr = task_loss(task, index_select(out.pred, ri), index_select(batch.y.to(out.pred.device()), ri));
    loss = mul(lr, 1 - c);
  }
  if (!fr.empty()) {
    Tensor fi = Tensor::from(fr, Shape{int64_t(fr.size())}).to(out.pred.device());
    ModelOutput frozen;
    {
      NoGradGuard ng;
      ModelInput fin{rows_of(in.x, fi), rows_of(in.x2, fi), rows_of(in.mask, fi)};
      frozen = blindspot.forward(fin, Mode::eval);
    }
    DRU_CHECK(frozen.activations.size() == out.activations.size(),
              "blindspot: the models return {} and {} activations", out.activations.size(),
              frozen.activations.size());
    Tensor lf = output_distance(task, index_select(out.pred, fi), frozen.pred.detach());
    if (!out.activations.empty()) {
      Tensor at;
      for (size_t j = 0; j < out.activations.size(); ++j) {
        Tensor d = attention_transfer(index_select(out.activations[j].second, fi), frozen.activations[j].second);
        at = at.defined() ? add(at, d) : d;
      }
      lf = add(lf, mul(at, beta));
    }
    loss = loss.defined() ? add(loss, mul(lf, c)) : mul(lf, c);
  }
  return loss;
}

Tensor attention_transfer(const Tensor& a, const Tensor& b) {
  DRU_CHECK(a.defined() && b.defined() && a.shape() == b.shape() && a.ndim() >= 2,
            "attention_transfer: activations {} and {} must have the same shape (m, C, ...)",
            a.defined() ? a.shape().str() : "undefined", b.defined() ? b.shape().str() : "undefined");
  // One fused node (engine/ops_fused.h): q(x) = l2_normalize(mean_c x^2) per sample, mean (q(a) - q(b))^2,
  // with b a constant (the frozen model's activation).
  return attention_transfer_loss(a, b);
}

}  // namespace dru
