// nn.h — modules: parameters and buffers with PyTorch's state_dict names, and a way to compose them.
//
// A Module owns named parameters (trained), named buffers (running statistics) and named children;
// parameters() and state_dict() walk the tree with dotted names ("layer1.0.bn1.running_mean"), so a
// safetensors file moves between this engine and a PyTorch twin of the model. Parameter tensors are
// handles: after ParamArena::finalize() rebinds them into the arena, modules see the move.
//
// Initialisation follows PyTorch's defaults, drawn from our own Philox generator:
//   Linear, Conv2d   weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))  (kaiming_uniform with a = sqrt 5)
//                    bias   ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
//   LSTM             every weight and bias ~ U(-1/sqrt(D), 1/sqrt(D))
//   Embedding        weight ~ N(0, 1)
//   BatchNorm        weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked 0
//   LayerNorm        weight 1, bias 0
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace dru {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  // Single-input forward; modules with other signatures define their own and leave this throwing.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  NamedTensors parameters() const;  // recursive, dotted names, registration order
  NamedTensors buffers() const;
  std::map<std::string, Tensor> state_dict() const;  // parameters and buffers
  // Copies values by name; with strict, missing or unexpected names and shape mismatches throw.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);
  int64_t num_parameters() const;

  // Moves every parameter and buffer to dev in place (the handles the layers hold see the move).
  // Call before ParamArena::finalize; parameters must not be in an arena yet.
  void to(Device dev);

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }
  // Every random generator in the tree (dropout's), with dotted names ("dropout1.generator"): the state a
  // resumed training run restores so that it draws what an uninterrupted run would.
  std::vector<std::pair<std::string, Generator*>> generators();

  // Direct children in registration order (for summaries).
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  // A module that owns a generator lists it here (generators() walks the tree).
  virtual void own_generators(std::vector<std::pair<std::string, Generator*>>& out) { (void)out; }
  template <class M> std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, NamedTensors& out, bool params) const;
  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, Generator& gen, DType dt = DType::f32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int kernel, int stride, int padding, bool bias, Generator& gen,
         DType dt = DType::f32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  int stride, padding;
};

// BatchNorm1d and BatchNorm2d in one: it normalises over every dimension but 1.
class BatchNorm : public Module {
 public:
  explicit BatchNorm(int64_t channels, double momentum = 0.1, double eps = 1e-5, DType dt = DType::f32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double momentum, eps;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, DType dt = DType::f32);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  double eps;
};

class Embedding : public Module {
 public:
  Embedding(int64_t vocab, int64_t dim, Generator& gen, DType dt = DType::f32);
  Tensor forward(const Tensor& ids) override;  // ids i64
  Tensor weight;
};

// Multi-layer unidirectional LSTM, batch_first; names weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
// bias_hh_l{k} as nn.LSTM. forward returns the last layer's hidden sequence (N, T, D).
class LSTM : public Module {
 public:
  LSTM(int64_t input, int64_t hidden, int layers, Generator& gen, DType dt = DType::f32);
  Tensor forward(const Tensor& x) override;
  std::vector<LstmLayerWeights> layers;
};

// Dropout with its own generator stream (seeded at construction), active only in training.
class Dropout : public Module {
 public:
  explicit Dropout(double p, uint64_t seed = 0) : p(p), gen(seed) {}
  Tensor forward(const Tensor& x) override { return dropout(x, p, training(), gen); }
  double p;
  Generator gen;

 protected:
  void own_generators(std::vector<std::pair<std::string, Generator*>>& out) override { out.emplace_back("generator", &gen); }
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x.flatten(1); }
};

// Children named "0", "1", ... applied in order, as nn.Sequential.
class Sequential : public Module {
 public:
  Sequential& add(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  Module& operator[](size_t i) { return *layers_[i]; }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace dru
