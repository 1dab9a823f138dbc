// forecaster.cpp — the quantile LSTM forecaster "electricity-lstm"; the layout and names are in forecaster.h.
#include "models/forecaster.h"

namespace dru {

namespace {

constexpr int64_t kHidden = 64;

}  // namespace

ElectricityLstm::ElectricityLstm(const ModelConfig& cfg) : cfg_(cfg) {
  DRU_CHECK(cfg.customers > 0 && cfg.history > 0 && cfg.horizon > 0,
            "electricity-lstm: customers ({}), history ({}) and horizon ({}) must be positive", cfg.customers,
            cfg.history, cfg.horizon);
  DRU_CHECK(is_float(cfg.dtype), "electricity-lstm: dtype {} is not supported (use f32 or f64)",
            dtype_name(cfg.dtype));
  Generator gen(cfg.seed);
  const int64_t q = int64_t(kElectricityQuantiles.size());
  customer_embedding =
      register_module("customer_embedding", std::make_shared<Embedding>(cfg.customers, kCustomerEmbedding, gen, cfg.dtype));
  lstm = register_module("lstm", std::make_shared<LSTM>(kElectricityFeatures + kCustomerEmbedding, kHidden, 1, gen,
                                                        cfg.dtype));
  dropout = register_module("dropout", std::make_shared<Dropout>(cfg.lstm_dropout, gen.next_u32()));
  fc1 = register_module("fc1", std::make_shared<Linear>(kHidden, 64, true, gen, cfg.dtype));
  fc2 = register_module("fc2", std::make_shared<Linear>(64, cfg.horizon * q, true, gen, cfg.dtype));
}

ModelOutput ElectricityLstm::forward(const ModelInput& in, Mode mode) {
  DRU_CHECK(in.x.defined() && in.x2.defined(),
            "electricity-lstm: needs past features ModelInput x (N, T, {}) and customer ids x2 (N) i64",
            kElectricityFeatures);
  const Tensor& x = in.x;
  DRU_CHECK(x.ndim() == 3 && x.size(0) > 0 && x.size(1) > 0 && x.size(2) == kElectricityFeatures,
            "electricity-lstm: features have shape {}; expected (N, T, {}) (load, hour / 23, weekday / 6)",
            x.shape().str(), kElectricityFeatures);
  DRU_CHECK(x.dtype() == cfg_.dtype, "electricity-lstm: features have dtype {}; the model is {}",
            dtype_name(x.dtype()), dtype_name(cfg_.dtype));
  const int64_t n = x.size(0), steps = x.size(1);
  DRU_CHECK(in.x2.dtype() == DType::i64 && in.x2.ndim() == 1 && in.x2.size(0) == n,
            "electricity-lstm: customer ids have shape {} and dtype {}; expected ({},) i64", in.x2.shape().str(),
            dtype_name(in.x2.dtype()), n);
  train(mode == Mode::train);

  // The customer's vector joins every step's features: embed each id once, then repeat its row T
  // times with a gather whose index (row i*T + t reads row i) depends only on the sizes, so the ids
  // themselves never travel to the host (on the GPU that would stop the stream every step).
  const Tensor& repeat = repeat_.get({n, steps}, x.device(), [&] {
    std::vector<int64_t> rows(size_t(n * steps));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < steps; ++t) rows[size_t(i * steps + t)] = i;
    return Tensor::from(rows, Shape{n * steps});
  });
  Tensor per_id = customer_embedding->forward(in.x2);  // (N, E)
  Tensor emb = index_select(per_id, repeat).reshape(Shape{n, steps, per_id.size(1)});

  ModelOutput out;
  Tensor seq = dropout->forward(lstm->forward(concat({x, emb}, 2)));
  Tensor last = seq.slice(1, steps - 1, steps).reshape(Shape{n, kHidden});
  Tensor hidden = fc1->forward(last);
  out.pred = fc2->forward(relu(hidden)).reshape(Shape{n, cfg_.horizon, int64_t(kElectricityQuantiles.size())});
  out.activations = {{"dropout", seq}, {"fc1", hidden}};
  return out;
}

ModelInput ElectricityLstm::example_input(int64_t n, Generator& gen) const {
  ModelInput in;
  in.x = Tensor::empty(Shape{n, cfg_.history, kElectricityFeatures}, cfg_.dtype);
  gen.fill_uniform(in.x, 0.0, 1.0);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = int64_t(gen.below(uint64_t(cfg_.customers)));
  in.x2 = Tensor::from(ids, Shape{n});
  return in;
}

std::unique_ptr<Model> make_electricity_lstm(const ModelConfig& cfg) { return std::make_unique<ElectricityLstm>(cfg); }

}  // namespace dru
