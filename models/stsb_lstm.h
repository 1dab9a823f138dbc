// stsb_lstm.h — the paper's siamese LSTM regressor for STS-B sentence-pair similarity (docs/paper.md §2.1,
// "LSTMnetwork (STS-B)").
//
// One LSTM is shared by both sentences; each sentence is a sequence of word vectors.
//
//   x  (N, T, D) sentence 1 ─┐                         ┌─ dropout1 (N, T, 64)  act1 ─ last step (N, 64) ─┐
//                            ├─ lstm (D -> 64, 1 layer)┤                                                 ├ concat (N, 128)
//   x2 (N, T, D) sentence 2 ─┘                         └─ dropout2 (N, T, 64)  act2 ─ last step (N, 64) ─┘
//   -> fc1 (128 -> 64) act3 -> ReLU -> fc2 (64 -> 32) act4 -> ReLU -> fc3 (32 -> 16) -> ReLU -> fc4 (16 -> 1)
//   -> pred (N, 1)
//
// T = ModelConfig::seq_len (10) tokens, pre-padded with zero vectors; D = ModelConfig::embed_dim (300 for
// GloVe 840B, 100 for the shipped GloVe 6B subset). Any T >= 1 runs; D must equal embed_dim. Dropout
// p = ModelConfig::lstm_dropout (0.3), active in Mode::train only.
//
// Activations, in forward order: "dropout1", "dropout2" (the two LSTM output sequences after dropout, the
// paper's act1/act2), "fc1", "fc2" (pre-ReLU outputs, the paper's act3/act4).
//
// Names: the paper does not give its module names, so they are PyTorch-style and equal the twin's
// (tools/reference/sequence_models.py): lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
// lstm.bias_hh_l0, fc1.weight, fc1.bias, ..., fc4.bias. The paper applies one nn.Dropout to both
// sequences; here there are two parameter-free Dropout children so each activation has its producing
// child's name (same state_dict, same semantics; only the random masks' stream differs from PyTorch).
// The paper squeezes the output to (N,); here it stays (N, 1) like every regressor of this project.
//
// Parameters: 4*64*(D + 64) + 2*4*64 + 8256 + 2080 + 528 + 17 = 104,577 at D = 300, 53,377 at D = 100.
#pragma once

#include "models/model.h"

namespace dru {

class StsbLstm : public Model {
 public:
  explicit StsbLstm(const ModelConfig& cfg);
  ModelOutput forward(const ModelInput& in, Mode mode) override;
  std::string name() const override { return "stsb-lstm"; }
  ModelInput example_input(int64_t n, Generator& gen) const override;

  std::shared_ptr<LSTM> lstm;
  std::shared_ptr<Dropout> dropout1, dropout2;
  std::shared_ptr<Linear> fc1, fc2, fc3, fc4;

 private:
  ModelConfig cfg_;
};

}  // namespace dru
