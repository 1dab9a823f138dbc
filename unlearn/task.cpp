// task.cpp — see task.h.
#include "unlearn/task.h"

#include <algorithm>
#include <cmath>

#include "data/augment.h"
#include "engine/ops.h"

namespace dru {

Task make_task(DataSet data, const std::string& rule, ModelConfig model, LossKind loss, int64_t batch,
               uint64_t seed) {
  DRU_CHECK(batch > 0, "batch size {} must be positive", batch);
  Task t;
  t.rule = parse_forget_rule(rule, data.label_name);
  count_forget(data, t.rule);  // throws on an empty forget or retain set
  t.train = split_forget(data.train, t.rule, split_salt("train"));
  t.val = split_forget(data.val, t.rule, split_salt("val"));
  t.test = split_forget(data.test, t.rule, split_salt("test"));
  t.data = std::move(data);
  t.model = std::move(model);
  t.loss = loss;
  t.batch = batch;
  t.seed = seed;
  return t;
}

ModelInput to_input(const Task& task, const Batch& b, bool train, uint64_t step) {
  ModelInput in;
  in.x = b.x.dtype() == DType::u8 ? augment_images(b.x, train, task.seed, step) : b.x;
  in.x2 = b.x2;
  in.mask = b.mask;
  if (task.device != Device::cpu)
    for (Tensor* t : {&in.x, &in.x2, &in.mask})
      if (t->defined()) *t = t->to(task.device);
  return in;
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

// Runs model over s in batch order (eval mode, no gradient) and calls f(batch, prediction).
template <class F> void for_each_eval_batch(Model& model, const Task& task, const Samples& s, F&& f) {
  DRU_CHECK(s.size() > 0, "evaluation on an empty set");
  NoGradGuard ng;
  BatchOrder order(s.size(), task.batch, false, 0);
  for (int64_t b = 0; b < order.batches(); ++b) {
    Batch batch = gather_batch(s, order.indices(b));
    Tensor pred = model.forward(to_input(task, batch, task.augment_eval, uint64_t(b)), Mode::eval).pred;
    f(batch, pred);
  }
}

}  // namespace

double evaluate(Model& model, const Task& task, const Samples& s) {
  // Batch losses are summed where the model runs and read once.
  Tensor total;
  int64_t batches = 0;
  for_each_eval_batch(model, task, s, [&](const Batch& b, const Tensor& pred) {
    Tensor l = task_loss(task, pred, b.y).reshape(Shape{});
    if (total.defined())
      add_(total, l);
    else
      total = l.clone();
    ++batches;
  });
  return total.item() / double(batches);
}

std::vector<double> predict(Model& model, const Task& task, const Samples& s) {
  std::vector<double> out;
  for_each_eval_batch(model, task, s, [&](const Batch&, const Tensor& pred) {
    std::vector<double> p = point_predictions(task, pred);
    out.insert(out.end(), p.begin(), p.end());
  });
  return out;
}

std::vector<double> sample_losses(Model& model, const Task& task, const Samples& s) {
  std::vector<double> out;
  for_each_eval_batch(model, task, s, [&](const Batch& b, const Tensor& pred) {
    // One loss per sample: the task's loss over that sample's row (batch size 1 in the paper's code),
    // computed on the host from one copy of the batch's predictions.
    const Tensor p = pred.to(Device::cpu);
    const int64_t n = p.size(0);
    for (int64_t i = 0; i < n; ++i) out.push_back(task_loss(task, p.slice(0, i, i + 1), b.y.slice(0, i, i + 1)).item());
  });
  return out;
}

std::unique_ptr<Model> fresh_model(const Task& task, uint64_t seed) {
  ModelConfig c = task.model;
  c.seed = seed;
  std::unique_ptr<Model> m = make_model(c);
  m->to(task.device);
  return m;
}

std::unique_ptr<Model> copy_model(const Task& task, const Model& src) {
  std::unique_ptr<Model> m = fresh_model(task, 0);
  m->load_state_dict(src.state_dict());
  return m;
}

}  // namespace dru
