// nn.cpp — see nn.h.
#include "engine/nn.h"

#include "engine/cuda_runtime.h"

#include <cctype>
#include <cmath>
#include <set>

namespace dru {

namespace {

Tensor uniform(const Shape& s, double bound, Generator& gen, DType dt) {
  Tensor t = Tensor::empty(s, dt);
  gen.fill_uniform(t, -bound, bound);
  return t;
}

}  // namespace

// ---- Module ------------------------------------------------------------------------------------

Tensor Module::forward(const Tensor&) {
  DRU_FAIL("this module has no single-input forward; call its own forward");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  DRU_CHECK(t.defined(), "register_parameter: '{}' is undefined", name);
  t.requires_grad_(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, t);
  return t;
}

void Module::collect(const std::string& prefix, NamedTensors& out, bool params) const {
  for (auto& [n, t] : params ? params_ : buffers_) out.emplace_back(prefix + n, t);
  for (auto& [n, c] : children_) c->collect(prefix + n + ".", out, params);
}

NamedTensors Module::parameters() const {
  NamedTensors out;
  collect("", out, true);
  return out;
}

NamedTensors Module::buffers() const {
  NamedTensors out;
  collect("", out, false);
  return out;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> m;
  for (auto& [n, t] : parameters()) m[n] = t.detach();
  for (auto& [n, t] : buffers()) m[n] = t.detach();
  return m;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::set<std::string> used;
  auto load = [&](const std::string& name, Tensor& dst) {
    auto it = state.find(name);
    if (it == state.end()) {
      DRU_CHECK(!strict, "load_state_dict: '{}' is missing from the checkpoint", name);
      return;
    }
    used.insert(name);
    const Tensor& src = it->second;
    DRU_CHECK(src.shape() == dst.shape(), "load_state_dict: '{}' has shape {} in the checkpoint, {} in the model", name,
              src.shape().str(), dst.shape().str());
    // F32 and F64 convert into each other freely (a double-precision test model, an f32 run); an integer
    // tensor where the model holds floats (or the reverse) is not a checkpoint of this model and would be
    // converted silently. Integer buffers (batch norm's num_batches_tracked, I64) load as integers.
    if (is_float(src.dtype()) != is_float(dst.dtype())) {
      std::string dtype = dtype_name(src.dtype());  // as safetensors writes it: F32, I64, ...
      for (char& c : dtype) c = char(std::toupper(static_cast<unsigned char>(c)));
      DRU_FAIL("load_state_dict: '{}' is {} in the checkpoint, but the model holds {} there; this is not a checkpoint "
               "of this model", name, dtype, is_float(dst.dtype()) ? "floating-point values (F32 or F64)"
                                                                     : "an integer counter (I64 or U8)");
    }
    Tensor converted = src.dtype() == dst.dtype() ? src : src.detach().to(dst.dtype());
    dst.copy_(converted.to(dst.device()));
  };
  for (auto& [n, t] : parameters()) load(n, t);
  for (auto& [n, t] : buffers()) load(n, t);
  if (strict)
    for (auto& [n, t] : state)
      DRU_CHECK(used.count(n), "load_state_dict: the checkpoint has '{}', which the model does not", n);
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : parameters()) n += t.numel();
  return n;
}

void Module::to(Device dev) {
  NoGradGuard ng;
  for (auto* list : {&params_, &buffers_})
    for (auto& [n, t] : *list) {
      if (t.device() == dev) continue;
      Tensor moved = t.detach().to(dev);
      t.impl->storage = moved.impl->storage;
      t.impl->offset = moved.impl->offset;
      t.impl->grad = Tensor();
    }
  for (auto& [n, c] : children_) c->to(dev);
}

std::vector<std::pair<std::string, Generator*>> Module::generators() {
  std::vector<std::pair<std::string, Generator*>> out, mine;
  own_generators(mine);
  out.insert(out.end(), mine.begin(), mine.end());
  for (auto& [n, c] : children_)
    for (auto& [name, g] : c->generators()) out.emplace_back(n + "." + name, g);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

// ---- layers --------------------------------------------------------------------------------------

Linear::Linear(int64_t in, int64_t out, bool has_bias, Generator& gen, DType dt) {
  double bound = in > 0 ? 1.0 / std::sqrt(double(in)) : 0.0;
  weight = register_parameter("weight", uniform(Shape{out, in}, bound, gen, dt));
  if (has_bias) bias = register_parameter("bias", uniform(Shape{out}, bound, gen, dt));
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Conv2d::Conv2d(int64_t in, int64_t out, int kernel, int stride_, int padding_, bool has_bias, Generator& gen, DType dt)
    : stride(stride_), padding(padding_) {
  double fan_in = double(in * kernel * kernel);
  double bound = fan_in > 0 ? 1.0 / std::sqrt(fan_in) : 0.0;
  weight = register_parameter("weight", uniform(Shape{out, in, kernel, kernel}, bound, gen, dt));
  if (has_bias) bias = register_parameter("bias", uniform(Shape{out}, bound, gen, dt));
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, stride, padding); }

BatchNorm::BatchNorm(int64_t c, double momentum_, double eps_, DType dt) : momentum(momentum_), eps(eps_) {
  weight = register_parameter("weight", Tensor::ones(Shape{c}, dt));
  bias = register_parameter("bias", Tensor::zeros(Shape{c}, dt));
  running_mean = register_buffer("running_mean", Tensor::zeros(Shape{c}, dt));
  running_var = register_buffer("running_var", Tensor::ones(Shape{c}, dt));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros(Shape{}, DType::i64));
}

Tensor BatchNorm::forward(const Tensor& x) {
  if (training()) {
    if (on_cuda(num_batches_tracked))
      cuda::increment_i64(num_batches_tracked.data<int64_t>());
    else
      num_batches_tracked.data<int64_t>()[0] += 1;
  }
  return batch_norm(x, weight, bias, running_mean, running_var, training(), momentum, eps);
}

LayerNorm::LayerNorm(int64_t dim, double eps_, DType dt) : eps(eps_) {
  weight = register_parameter("weight", Tensor::ones(Shape{dim}, dt));
  bias = register_parameter("bias", Tensor::zeros(Shape{dim}, dt));
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, weight, bias, eps); }

Embedding::Embedding(int64_t vocab, int64_t dim, Generator& gen, DType dt) {
  Tensor w = Tensor::empty(Shape{vocab, dim}, dt);
  gen.fill_normal(w, 0.0, 1.0);
  weight = register_parameter("weight", w);
}

Tensor Embedding::forward(const Tensor& ids) { return embedding(ids, weight); }

LSTM::LSTM(int64_t input, int64_t hidden, int num_layers, Generator& gen, DType dt) {
  DRU_CHECK(num_layers >= 1, "LSTM: needs at least one layer, got {}", num_layers);
  double bound = 1.0 / std::sqrt(double(hidden));
  for (int l = 0; l < num_layers; ++l) {
    int64_t in = l == 0 ? input : hidden;
    std::string k = std::to_string(l);
    LstmLayerWeights w;
    w.w_ih = register_parameter("weight_ih_l" + k, uniform(Shape{4 * hidden, in}, bound, gen, dt));
    w.w_hh = register_parameter("weight_hh_l" + k, uniform(Shape{4 * hidden, hidden}, bound, gen, dt));
    w.b_ih = register_parameter("bias_ih_l" + k, uniform(Shape{4 * hidden}, bound, gen, dt));
    w.b_hh = register_parameter("bias_hh_l" + k, uniform(Shape{4 * hidden}, bound, gen, dt));
    layers.push_back(w);
  }
}

Tensor LSTM::forward(const Tensor& x) { return lstm(x, layers); }

Sequential& Sequential::add(std::shared_ptr<Module> m) {
  register_module(std::to_string(layers_.size()), m);
  layers_.push_back(std::move(m));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& m : layers_) h = m->forward(h);
  return h;
}

}  // namespace dru
