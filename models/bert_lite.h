// bert_lite.h — a small BERT-style transformer encoder regressor for sentence pairs (STS-B).
//
// The paper uses no transformer (docs/paper.md §3.6: "BERT: not in code"); this model is ours, built like
// BERT-base at a smaller size (Devlin et al. 2019):
//
//   x  token ids   (N, T) i64 ─ embeddings.word     ─┐
//      positions   0..T-1     ─ embeddings.position ─┼─ sum ─ embeddings.norm (LayerNorm) ─ dropout ─ h (N, T, D)
//   x2 segment ids (N, T) i64 ─ embeddings.segment  ─┘
//   for each of L layers (post-LayerNorm, as BERT):
//     h = norm1(h + dropout(attn(h, mask)))       attn: q, k, v, out projections, H heads of Dh = D / H,
//     h = norm2(h + dropout(ffn(h)))              softmax(q k^T / sqrt(Dh)) v with padded keys masked
//     -> activation "layers.i" (N, T, D)          ffn: fc1 (D -> F) -> GELU (exact) -> fc2 (F -> D)
//   h[:, 0] ([CLS]) -> pooler (D -> D) -> tanh -> head (D -> 1) -> pred (N, 1)     (BERT's pooler + a regressor)
//
// Inputs (ModelInput): x token ids (N, T) i64 in [0, vocab); x2 segment ids (N, T) i64 in {0, 1}, or
// undefined for all 0 (as PyTorch's token_type_ids default); mask (N, T) u8 (or i64), non-zero = token,
// zero = padding, or undefined for no padding. Position 0 must be a token in every row (it is [CLS]).
// 1 <= T <= max_positions. Padded positions still get outputs (their queries attend to the real
// tokens); nothing attends to them, so they never affect the real tokens or the prediction.
//
// Config (ModelConfig): vocab V (8192), layers L (4), hidden D (256), heads H (4), ffn F (1024),
// max_positions P (128, the position table; a field of its own because seq_len's default 10 is the
// STS-B LSTM's), dropout p (0.1: after the embedding LayerNorm and on both residual branches; BERT's
// dropout on the attention probabilities is left out). seq_len is only the length of example_input.
// LayerNorm eps is 1e-12 as in BERT.
//
// Initialisation as BERT, from dru::Generator(seed): Linear and Embedding weights ~ N(0, 0.02), biases 0,
// LayerNorm weight 1 and bias 0.
//
// Names (equal to tools/reference/bert_lite.py's state_dict): embeddings.word.weight,
// embeddings.position.weight, embeddings.segment.weight, embeddings.norm.{weight,bias},
// layers.{i}.attn.{q,k,v,out}.{weight,bias}, layers.{i}.norm1.{weight,bias},
// layers.{i}.ffn.{fc1,fc2}.{weight,bias}, layers.{i}.norm2.{weight,bias}, pooler.{weight,bias},
// head.{weight,bias}.
//
// Parameters: (V + P + 2) D + 2D  +  L (4 (D^2 + D) + 2 F D + F + D + 4D)  +  D^2 + D + D + 1
//           = 5,356,033 at the defaults.
#pragma once

#include "models/model.h"

namespace dru {

class BertEmbeddings : public Module {
 public:
  BertEmbeddings(const ModelConfig& cfg, Generator& gen, uint64_t dropout_seed);
  // ids, segments (N, T) i64 -> (N, T, D)
  Tensor forward(const Tensor& ids, const Tensor& segments);
  std::shared_ptr<Embedding> word, position, segment;
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<Dropout> dropout;

 private:
  // 0..T-1 on the ids' device, per T (IndexCache says why).
  IndexCache positions_;
};

class BertSelfAttention : public Module {
 public:
  BertSelfAttention(int64_t hidden, int64_t heads, Generator& gen, DType dt);
  // x (N, T, D), mask (N, T) or undefined -> (N, T, D)
  Tensor forward(const Tensor& x, const Tensor& mask);
  std::shared_ptr<Linear> q, k, v, out;
  int64_t heads;
};

class BertFeedForward : public Module {
 public:
  BertFeedForward(int64_t hidden, int64_t ffn, Generator& gen, DType dt);
  Tensor forward(const Tensor& x) override;  // fc2(gelu(fc1(x)))
  std::shared_ptr<Linear> fc1, fc2;
};

class BertEncoderLayer : public Module {
 public:
  BertEncoderLayer(const ModelConfig& cfg, Generator& gen, uint64_t dropout_seed);
  Tensor forward(const Tensor& x, const Tensor& mask);
  std::shared_ptr<BertSelfAttention> attn;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<BertFeedForward> ffn;
  std::shared_ptr<Dropout> dropout1, dropout2;
};

// The "layers" container: children "0", "1", ... as nn.ModuleList.
class BertLayerList : public Module {
 public:
  void add(std::shared_ptr<BertEncoderLayer> layer);
  size_t size() const { return layers_.size(); }
  BertEncoderLayer& operator[](size_t i) { return *layers_[i]; }

 private:
  std::vector<std::shared_ptr<BertEncoderLayer>> layers_;
};

class BertLite : public Model {
 public:
  explicit BertLite(const ModelConfig& cfg);
  ModelOutput forward(const ModelInput& in, Mode mode) override;
  std::string name() const override { return "bert-lite"; }
  // Random ids in [0, V), segment 0 for the first half and 1 for the rest; row i > 0 has its last
  // i mod (T/2) positions padded.
  ModelInput example_input(int64_t n, Generator& gen) const override;
  // One row per top-level part, with a row for each encoder layer ("layers.0", ...).
  std::vector<LayerRow> summary() override;

  std::shared_ptr<BertEmbeddings> embeddings;
  std::shared_ptr<BertLayerList> layers;
  std::shared_ptr<Linear> pooler, head;

 private:
  void check_input(const ModelInput& in) const;
  ModelConfig cfg_;
};

}  // namespace dru
