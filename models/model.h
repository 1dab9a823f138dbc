// model.h — the interface every regression model implements, and the factory that builds them by name.
//
// A model is a Module (so its parameter and buffer names follow PyTorch's state_dict and a safetensors
// checkpoint moves between this engine and the model's PyTorch twin in tools/reference/) whose forward
// takes a ModelInput and a Mode and returns the prediction together with the named intermediate
// activations, in forward order: Blindspot's attention-transfer loss and several metrics read them
// (DESIGN decision 7). Models know no dataset and no unlearning method.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"

namespace dru {

enum class Mode { train, eval };

// What a model reads. Each model's header says which fields it uses and their layouts.
struct ModelInput {
  Tensor x;     // allcnn, resnet18: images (N, 3, H, W); stsb-lstm: sentence 1 (N, T, D);
                // bert-lite: token ids (N, T) i64; electricity-lstm: past features (N, T, F)
  Tensor x2;    // stsb-lstm: sentence 2 (N, T, D); bert-lite: segment ids (N, T) i64;
                // electricity-lstm: customer ids (N) i64
  Tensor mask;  // bert-lite: (N, T) u8, non-zero = token, zero = padding
};

using NamedActivations = std::vector<std::pair<std::string, Tensor>>;

// Index tensors a forward builds from its sizes alone (bert-lite's positions, the forecaster's row
// repeats), kept for every size and device seen: building one anew would copy it from the host on
// every call, and a CUDA graph that captured a forward keeps reading the tensor of its size, so no
// entry may be freed or replaced while the model lives (a smaller last batch adds its own entry).
class IndexCache {
 public:
  // The tensor for key on dev; make() builds it on the host the first time.
  template <class Make> const Tensor& get(const std::vector<int64_t>& key, Device dev, Make&& make) {
    Tensor& t = entries_[{key, int(dev)}];
    if (!t.defined()) t = make().to(dev);
    return t;
  }

 private:
  std::map<std::pair<std::vector<int64_t>, int>, Tensor> entries_;
};

struct ModelOutput {
  Tensor pred;                   // (N, 1) for the regressors; the forecaster documents its own
  NamedActivations activations;  // forward order; names are the producing child modules' names
};

// One row of `dru info --model`: a top-level part of the model, its output shape, its parameters.
struct LayerRow {
  std::string layer;
  std::string output;  // shape as text, "-" where the part has no activation of its own
  int64_t params = 0;
};

struct ModelConfig {
  std::string name;            // one of model_names()
  uint64_t seed = 0;           // initialisation
  DType dtype = DType::f32;
  bool small_stem = false;     // resnet18: 3x3 stride-1 stem without max-pool, for 32x32 inputs
  int64_t image_size = 32;     // allcnn (must be 32), resnet18: example inputs and summaries
  int64_t embed_dim = 300;     // stsb-lstm: word-vector dimension D
  int64_t seq_len = 10;        // stsb-lstm: tokens per sentence; bert-lite: example-input length
  double lstm_dropout = 0.3;   // stsb-lstm, electricity-lstm: dropout on the LSTM output sequence (paper: 0.3)
  // bert-lite; max_positions is the position table's size, the longest sequence it accepts
  int64_t vocab = 8192, layers = 4, hidden = 256, heads = 4, ffn = 1024, max_positions = 128;
  double dropout = 0.1;
  // electricity-lstm
  int64_t customers = 10, history = 168, horizon = 24;
};

class Model : public Module {
 public:
  // Sets train or eval mode on the whole tree, then runs the model.
  virtual ModelOutput forward(const ModelInput& in, Mode mode) = 0;
  virtual std::string name() const = 0;
  // A random input of batch n with the configured sizes (for summaries, tests and benchmarks).
  virtual ModelInput example_input(int64_t n, Generator& gen) const = 0;
  // Rows for `dru info --model`: one per direct child with the shape of the activation of the same
  // name (from one eval forward of example_input(1)), then the prediction.
  virtual std::vector<LayerRow> summary();
  using Module::forward;

 protected:
  // One eval-mode forward of example_input(1) without gradients: what summaries read shapes from.
  ModelOutput probe();
};

std::vector<std::string> model_names();
// Throws naming the known models when cfg.name is not one of them.
std::unique_ptr<Model> make_model(const ModelConfig& cfg);

// Each model's constructor, defined in its own file.
std::unique_ptr<Model> make_allcnn(const ModelConfig& cfg);
std::unique_ptr<Model> make_resnet18(const ModelConfig& cfg);
std::unique_ptr<Model> make_stsb_lstm(const ModelConfig& cfg);
std::unique_ptr<Model> make_bert_lite(const ModelConfig& cfg);
std::unique_ptr<Model> make_electricity_lstm(const ModelConfig& cfg);

}  // namespace dru
