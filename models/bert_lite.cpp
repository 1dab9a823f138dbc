// bert_lite.cpp — the BERT-style encoder regressor; layout, names and sizes are in bert_lite.h.
#include "models/bert_lite.h"

namespace dru {

namespace {

constexpr double kInitStd = 0.02;     // BERT's initializer_range
constexpr double kLayerNormEps = 1e-12;

void init_linear(Linear& l, Generator& gen) {
  gen.fill_normal(l.weight, 0.0, kInitStd);
  l.bias.fill_(0.0);
}

std::shared_ptr<Linear> bert_linear(int64_t in, int64_t out, Generator& gen, DType dt) {
  auto l = std::make_shared<Linear>(in, out, true, gen, dt);
  init_linear(*l, gen);
  return l;
}

std::shared_ptr<Embedding> bert_embedding(int64_t rows, int64_t dim, Generator& gen, DType dt) {
  auto e = std::make_shared<Embedding>(rows, dim, gen, dt);
  gen.fill_normal(e->weight, 0.0, kInitStd);
  return e;
}

// A well-mixed dropout seed per dropout module (splitmix64), so the streams do not overlap.
uint64_t mix_seed(uint64_t seed, uint64_t k) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (k + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

// ---- parts -------------------------------------------------------------------------------------

BertEmbeddings::BertEmbeddings(const ModelConfig& cfg, Generator& gen, uint64_t dropout_seed) {
  word = register_module("word", bert_embedding(cfg.vocab, cfg.hidden, gen, cfg.dtype));
  position = register_module("position", bert_embedding(cfg.max_positions, cfg.hidden, gen, cfg.dtype));
  segment = register_module("segment", bert_embedding(2, cfg.hidden, gen, cfg.dtype));
  norm = register_module("norm", std::make_shared<LayerNorm>(cfg.hidden, kLayerNormEps, cfg.dtype));
  dropout = register_module("dropout", std::make_shared<Dropout>(cfg.dropout, dropout_seed));
}

Tensor BertEmbeddings::forward(const Tensor& ids, const Tensor& segments) {
  const int64_t t = ids.size(1);
  const Tensor& positions = positions_.get({t}, ids.device(), [&] { return Tensor::arange(t, DType::i64); });
  // (N, T, D) + (T, D) broadcast over the batch + (N, T, D)
  Tensor h = word->forward(ids) + position->forward(positions) + segment->forward(segments);
  return dropout->forward(norm->forward(h));
}

BertSelfAttention::BertSelfAttention(int64_t hidden, int64_t heads_, Generator& gen, DType dt) : heads(heads_) {
  q = register_module("q", bert_linear(hidden, hidden, gen, dt));
  k = register_module("k", bert_linear(hidden, hidden, gen, dt));
  v = register_module("v", bert_linear(hidden, hidden, gen, dt));
  out = register_module("out", bert_linear(hidden, hidden, gen, dt));
}

Tensor BertSelfAttention::forward(const Tensor& x, const Tensor& mask) {
  const int64_t n = x.size(0), t = x.size(1), d = x.size(2), dh = d / heads;
  // (N, T, D) -> (N, T, H, Dh) -> (N, H, T, Dh): head h reads columns h*Dh .. (h+1)*Dh, as PyTorch's view.
  auto split = [&](const Tensor& y) { return permute(y.reshape(Shape{n, t, heads, dh}), {0, 2, 1, 3}); };
  Tensor o = scaled_dot_product_attention(split(q->forward(x)), split(k->forward(x)), split(v->forward(x)), mask);
  return out->forward(permute(o, {0, 2, 1, 3}).reshape(Shape{n, t, d}));
}

BertFeedForward::BertFeedForward(int64_t hidden, int64_t ffn, Generator& gen, DType dt) {
  fc1 = register_module("fc1", bert_linear(hidden, ffn, gen, dt));
  fc2 = register_module("fc2", bert_linear(ffn, hidden, gen, dt));
}

Tensor BertFeedForward::forward(const Tensor& x) { return fc2->forward(gelu(fc1->forward(x))); }

BertEncoderLayer::BertEncoderLayer(const ModelConfig& cfg, Generator& gen, uint64_t dropout_seed) {
  attn = register_module("attn", std::make_shared<BertSelfAttention>(cfg.hidden, cfg.heads, gen, cfg.dtype));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(cfg.dropout, mix_seed(dropout_seed, 0)));
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(cfg.hidden, kLayerNormEps, cfg.dtype));
  ffn = register_module("ffn", std::make_shared<BertFeedForward>(cfg.hidden, cfg.ffn, gen, cfg.dtype));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(cfg.dropout, mix_seed(dropout_seed, 1)));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(cfg.hidden, kLayerNormEps, cfg.dtype));
}

Tensor BertEncoderLayer::forward(const Tensor& x, const Tensor& mask) {
  Tensor h = norm1->forward(x + dropout1->forward(attn->forward(x, mask)));
  return norm2->forward(h + dropout2->forward(ffn->forward(h)));
}

void BertLayerList::add(std::shared_ptr<BertEncoderLayer> layer) {
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

// ---- the model ---------------------------------------------------------------------------------

BertLite::BertLite(const ModelConfig& cfg) : cfg_(cfg) {
  DRU_CHECK(cfg.vocab > 0 && cfg.layers > 0 && cfg.hidden > 0 && cfg.heads > 0 && cfg.ffn > 0 &&
                cfg.max_positions > 0,
            "bert-lite: vocab ({}), layers ({}), hidden ({}), heads ({}), ffn ({}) and max_positions ({}) must be "
            "positive",
            cfg.vocab, cfg.layers, cfg.hidden, cfg.heads, cfg.ffn, cfg.max_positions);
  DRU_CHECK(cfg.hidden % cfg.heads == 0, "bert-lite: hidden {} is not divisible by heads {}; pick heads dividing it",
            cfg.hidden, cfg.heads);
  DRU_CHECK(cfg.dropout >= 0.0 && cfg.dropout < 1.0, "bert-lite: dropout {} must be in [0, 1)", cfg.dropout);
  DRU_CHECK(is_float(cfg.dtype), "bert-lite: dtype {} is not supported (use f32 or f64)", dtype_name(cfg.dtype));
  Generator gen(cfg.seed);
  embeddings = register_module("embeddings", std::make_shared<BertEmbeddings>(cfg, gen, mix_seed(cfg.seed, 0)));
  layers = register_module("layers", std::make_shared<BertLayerList>());
  for (int64_t i = 0; i < cfg.layers; ++i)
    layers->add(std::make_shared<BertEncoderLayer>(cfg, gen, mix_seed(cfg.seed, uint64_t(i) + 1)));
  pooler = register_module("pooler", bert_linear(cfg.hidden, cfg.hidden, gen, cfg.dtype));
  head = register_module("head", bert_linear(cfg.hidden, 1, gen, cfg.dtype));
}

void BertLite::check_input(const ModelInput& in) const {
  DRU_CHECK(in.x.defined(), "bert-lite: ModelInput x must hold token ids (N, T) i64");
  DRU_CHECK(in.x.dtype() == DType::i64 && in.x.ndim() == 2 && in.x.size(0) > 0 && in.x.size(1) > 0,
            "bert-lite: token ids (x) have shape {} and dtype {}; expected (N, T) i64 with N, T positive",
            in.x.shape().str(), dtype_name(in.x.dtype()));
  const int64_t n = in.x.size(0), t = in.x.size(1);
  DRU_CHECK(t <= cfg_.max_positions, "bert-lite: sequence length {} exceeds max_positions {}; truncate the input "
            "or build the model with a larger max_positions", t, cfg_.max_positions);
  const Device dev = in.x.device();
  for (const Tensor* other : {&in.x2, &in.mask})
    DRU_CHECK(!other->defined() || other->device() == dev, "bert-lite: token ids are on {} but segment ids or the "
              "mask are on {}; move them together", device_name(dev), device_name(other->device()));
  // The id, segment and mask checks read values on the host: on the GPU they would stop the stream on
  // every batch, so there the data pipeline (which builds these on the CPU) is trusted.
  const bool host = dev == Device::cpu;
  const int64_t* ids = host ? in.x.data<int64_t>() : nullptr;
  for (int64_t i = 0; host && i < n * t; ++i)
    DRU_CHECK(ids[i] >= 0 && ids[i] < cfg_.vocab, "bert-lite: token id {} at (row {}, position {}) is outside the "
              "vocabulary [0, {})", ids[i], i / t, i % t, cfg_.vocab);
  if (in.x2.defined()) {
    DRU_CHECK(in.x2.dtype() == DType::i64 && in.x2.shape() == in.x.shape(),
              "bert-lite: segment ids (x2) have shape {} and dtype {}; expected {} i64 like the token ids",
              in.x2.shape().str(), dtype_name(in.x2.dtype()), in.x.shape().str());
    const int64_t* seg = host ? in.x2.data<int64_t>() : nullptr;
    for (int64_t i = 0; host && i < n * t; ++i)
      DRU_CHECK(seg[i] == 0 || seg[i] == 1, "bert-lite: segment id {} at (row {}, position {}) is not 0 or 1",
                seg[i], i / t, i % t);
  }
  if (in.mask.defined()) {
    DRU_CHECK((in.mask.dtype() == DType::u8 || in.mask.dtype() == DType::i64) && in.mask.shape() == in.x.shape(),
              "bert-lite: mask has shape {} and dtype {}; expected {} u8 like the token ids (non-zero = token)",
              in.mask.shape().str(), dtype_name(in.mask.dtype()), in.x.shape().str());
    std::vector<double> m = host ? in.mask.to_vector() : std::vector<double>();
    for (int64_t r = 0; host && r < n; ++r)
      DRU_CHECK(m[size_t(r * t)] != 0.0, "bert-lite: mask row {} marks position 0 as padding; position 0 is [CLS] "
                "and must be a token", r);
  }
}

ModelOutput BertLite::forward(const ModelInput& in, Mode mode) {
  check_input(in);
  train(mode == Mode::train);
  const int64_t n = in.x.size(0);
  Tensor segments = in.x2.defined() ? in.x2 : Tensor::zeros(in.x.shape(), DType::i64, in.x.device());
  ModelOutput out;
  Tensor h = embeddings->forward(in.x, segments);
  for (size_t i = 0; i < layers->size(); ++i) {
    h = (*layers)[i].forward(h, in.mask);
    out.activations.emplace_back("layers." + std::to_string(i), h);
  }
  Tensor cls = h.slice(1, 0, 1).reshape(Shape{n, cfg_.hidden});  // h[:, 0]
  out.pred = head->forward(tanh(pooler->forward(cls)));
  return out;
}

ModelInput BertLite::example_input(int64_t n, Generator& gen) const {
  const int64_t t = cfg_.seq_len;  // forward rejects t > max_positions with a clear message
  std::vector<int64_t> ids(size_t(n * t)), seg(size_t(n * t));
  std::vector<double> mask(size_t(n * t));
  for (int64_t r = 0; r < n; ++r) {
    int64_t len = t - (t / 2 > 0 ? r % (t / 2) : 0);
    for (int64_t j = 0; j < t; ++j) {
      size_t i = size_t(r * t + j);
      bool token = j < len;
      ids[i] = token ? int64_t(gen.below(uint64_t(cfg_.vocab))) : 0;
      seg[i] = token && j >= len / 2 ? 1 : 0;
      mask[i] = token ? 1 : 0;
    }
  }
  ModelInput in;
  in.x = Tensor::from(ids, Shape{n, t});
  in.x2 = Tensor::from(seg, Shape{n, t});
  in.mask = Tensor::from(mask, Shape{n, t}, DType::u8);
  return in;
}

std::vector<LayerRow> BertLite::summary() {
  ModelOutput out = probe();
  std::vector<LayerRow> rows;
  rows.push_back({"embeddings", "-", embeddings->num_parameters()});
  for (size_t i = 0; i < layers->size(); ++i)
    rows.push_back({out.activations[i].first, out.activations[i].second.shape().str(),
                    (*layers)[i].num_parameters()});
  rows.push_back({"pooler", "-", pooler->num_parameters()});
  rows.push_back({"head", "-", head->num_parameters()});
  rows.push_back({"output", out.pred.shape().str(), 0});
  return rows;
}

std::unique_ptr<Model> make_bert_lite(const ModelConfig& cfg) { return std::make_unique<BertLite>(cfg); }

}  // namespace dru
