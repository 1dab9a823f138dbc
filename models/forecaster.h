// forecaster.h — "electricity-lstm": a quantile LSTM forecaster for hourly electricity load.
//
// The paper's electricity LSTM (docs/paper.md §2.1, commit eff3353) predicts 3 quantiles of one step from
// LSTM(5 -> 64) over a window; its data pipeline targets 24 steps, and the customer id went in as a raw
// number. This is the same idea made direct: it predicts the next `horizon` hours at once, and the
// customer enters through a learned embedding.
//
//   x  (N, T, 3) past features  ─┐
//   x2 (N) i64 customer ids ─ customer_embedding (customers x 8), repeated at every step (N, T, 8)
//                                └─ concat (N, T, 11) -> lstm (11 -> 64, 1 layer) -> dropout (N, T, 64)
//   -> last step (N, 64) -> fc1 (64 -> 64) -> ReLU -> fc2 (64 -> horizon * 3) -> pred (N, horizon, 3)
//
// The 3 features of each past hour, in this order: the load standardised per customer (over that
// customer's training series), hour of day / 23, day of week / 6 (Monday = 0). T = ModelConfig::history
// (168 hours, one week; any T >= 1 runs), horizon = ModelConfig::horizon (24), customer ids in
// [0, ModelConfig::customers). pred[n, h, q] is quantile kElectricityQuantiles[q] (0.1, 0.5, 0.9) of the
// standardised load h + 1 hours after the window. Train with
//   quantile_loss(pred.reshape({N * horizon, 3}), target.reshape({N * horizon}), kElectricityQuantiles).
// Dropout p = ModelConfig::lstm_dropout (0.3, as the paper's LSTMs), active in Mode::train only.
//
// Activations, in forward order: "dropout" (the encoder sequence after dropout, (N, T, 64)) and "fc1"
// (the head's hidden layer before its ReLU, (N, 64)).
//
// Names (equal to the twin's in tools/reference/sequence_models.py): customer_embedding.weight,
// lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0, fc1.weight, fc1.bias, fc2.weight,
// fc2.bias. Parameters at the defaults: 80 + 19,712 + 4,160 + 4,680 = 28,632.
#pragma once

#include <vector>

#include "models/model.h"

namespace dru {

inline constexpr int64_t kElectricityFeatures = 3;
inline constexpr int64_t kCustomerEmbedding = 8;
inline const std::vector<double> kElectricityQuantiles{0.1, 0.5, 0.9};

class ElectricityLstm : public Model {
 public:
  explicit ElectricityLstm(const ModelConfig& cfg);
  ModelOutput forward(const ModelInput& in, Mode mode) override;
  std::string name() const override { return "electricity-lstm"; }
  ModelInput example_input(int64_t n, Generator& gen) const override;

  std::shared_ptr<Embedding> customer_embedding;
  std::shared_ptr<LSTM> lstm;
  std::shared_ptr<Dropout> dropout;
  std::shared_ptr<Linear> fc1, fc2;

 private:
  ModelConfig cfg_;
  // The gather index that repeats each customer's row T times, on the features' device, per (N, T)
  // (IndexCache says why).
  IndexCache repeat_;
};

}  // namespace dru
