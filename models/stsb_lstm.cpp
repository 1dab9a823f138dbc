// stsb_lstm.cpp — the siamese LSTM regressor for STS-B; the layout and names are in stsb_lstm.h.
#include "models/stsb_lstm.h"

namespace dru {

namespace {

constexpr int64_t kHidden = 64;

// The last time step of a (N, T, D) sequence as (N, D): PyTorch's out[:, -1, :].
Tensor last_step(const Tensor& seq) {
  return seq.slice(1, seq.size(1) - 1, seq.size(1)).reshape(Shape{seq.size(0), seq.size(2)});
}

}  // namespace

StsbLstm::StsbLstm(const ModelConfig& cfg) : cfg_(cfg) {
  DRU_CHECK(cfg.embed_dim > 0 && cfg.seq_len > 0, "stsb-lstm: embed_dim ({}) and seq_len ({}) must be positive",
            cfg.embed_dim, cfg.seq_len);
  DRU_CHECK(is_float(cfg.dtype), "stsb-lstm: dtype {} is not supported (use f32 or f64)", dtype_name(cfg.dtype));
  Generator gen(cfg.seed);
  lstm = register_module("lstm", std::make_shared<LSTM>(cfg.embed_dim, kHidden, 1, gen, cfg.dtype));
  // Each dropout draws its masks from its own stream, seeded from the model's seed.
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(cfg.lstm_dropout, gen.next_u32()));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(cfg.lstm_dropout, gen.next_u32()));
  fc1 = register_module("fc1", std::make_shared<Linear>(2 * kHidden, 64, true, gen, cfg.dtype));
  fc2 = register_module("fc2", std::make_shared<Linear>(64, 32, true, gen, cfg.dtype));
  fc3 = register_module("fc3", std::make_shared<Linear>(32, 16, true, gen, cfg.dtype));
  fc4 = register_module("fc4", std::make_shared<Linear>(16, 1, true, gen, cfg.dtype));
}

ModelOutput StsbLstm::forward(const ModelInput& in, Mode mode) {
  DRU_CHECK(in.x.defined() && in.x2.defined(),
            "stsb-lstm: needs both sentences, ModelInput x and x2, each (N, T, {})", cfg_.embed_dim);
  for (const Tensor* t : {&in.x, &in.x2}) {
    const char* which = t == &in.x ? "sentence 1 (x)" : "sentence 2 (x2)";
    DRU_CHECK(t->ndim() == 3 && t->size(0) > 0 && t->size(1) > 0 && t->size(2) == cfg_.embed_dim,
              "stsb-lstm: {} has shape {}; expected (N, T, {}) word vectors with N, T positive", which,
              t->shape().str(), cfg_.embed_dim);
    DRU_CHECK(t->dtype() == cfg_.dtype, "stsb-lstm: {} has dtype {}; the model is {}", which, dtype_name(t->dtype()),
              dtype_name(cfg_.dtype));
  }
  DRU_CHECK(in.x.shape() == in.x2.shape(), "stsb-lstm: sentence shapes {} and {} differ; pad both to the same T",
            in.x.shape().str(), in.x2.shape().str());
  train(mode == Mode::train);

  ModelOutput out;
  Tensor s1 = dropout1->forward(lstm->forward(in.x));
  Tensor s2 = dropout2->forward(lstm->forward(in.x2));
  Tensor a3 = fc1->forward(concat({last_step(s1), last_step(s2)}, 1));
  Tensor a4 = fc2->forward(relu(a3));
  out.pred = fc4->forward(relu(fc3->forward(relu(a4))));
  out.activations = {{"dropout1", s1}, {"dropout2", s2}, {"fc1", a3}, {"fc2", a4}};
  return out;
}

ModelInput StsbLstm::example_input(int64_t n, Generator& gen) const {
  ModelInput in;
  in.x = Tensor::empty(Shape{n, cfg_.seq_len, cfg_.embed_dim}, cfg_.dtype);
  in.x2 = Tensor::empty(Shape{n, cfg_.seq_len, cfg_.embed_dim}, cfg_.dtype);
  gen.fill_normal(in.x, 0.0, 0.4);  // about the spread of GloVe components
  gen.fill_normal(in.x2, 0.0, 0.4);
  return in;
}

std::unique_ptr<Model> make_stsb_lstm(const ModelConfig& cfg) { return std::make_unique<StsbLstm>(cfg); }

}  // namespace dru
