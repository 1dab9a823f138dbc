// optim.cpp — Adam, ReduceLROnPlateau and the training-state file (see optim.h).
#include "engine/optim.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "kernels/adam/adam.h"
#ifdef DRU_HAVE_CUDA
#include "engine/cuda/common.cuh"
#include "kernels/adam/adam_cuda.h"
#include "kernels/plateau/plateau_cuda.h"
#else
#include "engine/cuda/api.h"  // cuda::not_built for the CUDA branches of a CPU-only build
#endif

namespace dru {

namespace {

// Metadata values are strings. fmt's "{}" prints the shortest text that reads back to the same
// double (and "inf" for plateau's initial best), so a resumed run continues bit for bit.
std::string num(double x) { return fmt::format("{}", x); }

const std::string& get_key(const std::map<std::string, std::string>& meta, const std::string& key, const char* who) {
  auto it = meta.find(key);
  DRU_CHECK(it != meta.end(), "{}: the state has no '{}' entry (is this a training-state file?)", who, key);
  return it->second;
}

double get_double(const std::map<std::string, std::string>& meta, const std::string& key, const char* who) {
  const std::string& s = get_key(meta, key, who);
  char* end = nullptr;
  double x = std::strtod(s.c_str(), &end);
  DRU_CHECK(!s.empty() && end == s.c_str() + s.size(), "{}: state entry '{}' = '{}' is not a number", who, key, s);
  return x;
}

int64_t get_int(const std::map<std::string, std::string>& meta, const std::string& key, const char* who) {
  const std::string& s = get_key(meta, key, who);
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(s.c_str(), &end, 10);
  DRU_CHECK(!s.empty() && end == s.c_str() + s.size() && errno == 0, "{}: state entry '{}' = '{}' is not an integer",
            who, key, s);
  return x;
}

// The arena's name and shape table as JSON: [["conv1.w", [8, 3, 3, 3]], ...].
std::string layout_of(const ParamArena& arena) {
  nlohmann::json j = nlohmann::json::array();
  for (auto& e : arena.entries()) j.push_back({e.name, e.shape.vec()});
  return j.dump();
}

void check_adam_config(const AdamConfig& c) {
  DRU_CHECK(c.lr >= 0, "Adam: learning rate {} is negative", c.lr);
  DRU_CHECK(c.eps >= 0, "Adam: eps {} is negative", c.eps);
  DRU_CHECK(c.beta1 >= 0 && c.beta1 < 1, "Adam: beta1 {} is outside [0, 1)", c.beta1);
  DRU_CHECK(c.beta2 >= 0 && c.beta2 < 1, "Adam: beta2 {} is outside [0, 1)", c.beta2);
  DRU_CHECK(c.weight_decay >= 0, "Adam: weight_decay {} is negative", c.weight_decay);
}

void check_plateau_config(const PlateauConfig& c) {
  DRU_CHECK(c.factor < 1.0, "ReduceLROnPlateau: factor {} must be < 1", c.factor);
  DRU_CHECK(c.patience >= 0 && c.cooldown >= 0, "ReduceLROnPlateau: patience {} and cooldown {} must be >= 0",
            c.patience, c.cooldown);
  DRU_CHECK(c.min_lr >= 0 && c.eps >= 0, "ReduceLROnPlateau: min_lr {} and eps {} must be >= 0", c.min_lr, c.eps);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Adam

Adam::Adam(ParamArena& arena, AdamConfig cfg) : arena_(arena), cfg_(cfg) {
  DRU_CHECK(arena.finalized(), "Adam: the parameter arena is empty; call ParamArena::finalize first");
  check_adam_config(cfg);
  m_ = Tensor::zeros(arena.values.shape(), arena.values.dtype(), arena.values.device());
  v_ = Tensor::zeros(arena.values.shape(), arena.values.dtype(), arena.values.device());
  if (on_cuda(arena.values)) {
    check_cuda_f32("Adam", arena.values);
    lr_dev_ = Tensor::full(Shape{1}, cfg_.lr, DType::f32, Device::cuda);
#ifdef DRU_HAVE_CUDA
    // Allocated now: a graph capture may not allocate memory that outlives it.
    scalars_dev_ = Tensor::empty(Shape{int64_t(sizeof(AdamScalars<float>))}, DType::u8, Device::cuda);
#endif
  }
}

void Adam::set_lr(double lr) {
  DRU_CHECK(lr >= 0, "Adam::set_lr: learning rate {} is negative", lr);
  cfg_.lr = lr;
  if (lr_dev_.defined()) lr_dev_.fill_(lr);
}

void Adam::zero_grad() { arena_.zero_grad(); }

void Adam::step() {
  const Tensor& p = arena_.values;
  const Tensor& g = arena_.grads;
  DRU_CHECK(p.numel() == m_.numel(), "Adam::step: the arena holds {} values but the optimiser was built for {}",
            p.numel(), m_.numel());
  const int64_t t = int64_t(step_) + 1;
  if (on_cuda(p)) {
#ifdef DRU_HAVE_CUDA
    // Inside a CUDA graph's capture the step count comes from a replay counter, and the replays count.
    const uint64_t* steps_before = cuda::replay_counter(&step_, 1);
    auto* scalars = static_cast<AdamScalars<float>*>(scalars_dev_.raw());
    adam_prepare_cuda(scalars, steps_before, step_, lr_device(), cfg_.beta1, cfg_.beta2, cfg_.eps, cfg_.weight_decay);
    adam_apply_cuda(p.data<float>(), g.data<float>(), m_.data<float>(), v_.data<float>(), p.numel(), scalars);
    if (!steps_before) step_ = uint64_t(t);
    return;
#else
    cuda::not_built();
#endif
  }
  dispatch_float(p.dtype(), "Adam::step", [&](auto tag) {
    using T = decltype(tag);
    adam_step_cpu<T>(p.data<T>(), g.data<T>(), m_.data<T>(), v_.data<T>(), p.numel(), cfg_.lr, cfg_.beta1, cfg_.beta2,
                     cfg_.eps, cfg_.weight_decay, t);
  });
  step_ = uint64_t(t);
}

TensorFile Adam::state() const {
  TensorFile f;
  for (auto [name, src] : {std::pair{"adam.m", &m_}, std::pair{"adam.v", &v_}}) {
    Tensor h = Tensor::empty(src->shape(), src->dtype(), Device::cpu);
    h.copy_(*src);  // a snapshot: later steps must not change a state already taken
    f.tensors[name] = h;
  }
  f.metadata = {{"adam.step", std::to_string(step_)}, {"adam.lr", num(cfg_.lr)},
                {"adam.beta1", num(cfg_.beta1)},      {"adam.beta2", num(cfg_.beta2)},
                {"adam.eps", num(cfg_.eps)},          {"adam.weight_decay", num(cfg_.weight_decay)},
                {"adam.params", layout_of(arena_)}};
  return f;
}

void Adam::load_state(const TensorFile& file) {
  const char* who = "Adam::load_state";
  const Tensor* moments[2] = {nullptr, nullptr};
  const char* names[2] = {"adam.m", "adam.v"};
  for (int i = 0; i < 2; ++i) {
    auto it = file.tensors.find(names[i]);
    DRU_CHECK(it != file.tensors.end(), "{}: the state has no tensor '{}' (is this a training-state file?)", who,
              names[i]);
    const Tensor& t = it->second;
    DRU_CHECK(t.numel() == m_.numel() && t.ndim() == 1,
              "{}: '{}' has shape {} but the arena has {} parameters (was the state saved for another model?)", who,
              names[i], t.shape().str(), m_.numel());
    DRU_CHECK(t.dtype() == m_.dtype(), "{}: '{}' is {} but the arena is {}", who, names[i], dtype_name(t.dtype()),
              dtype_name(m_.dtype()));
    moments[i] = &t;
  }
  std::string layout = layout_of(arena_);
  const std::string& saved = get_key(file.metadata, "adam.params", who);
  DRU_CHECK(saved == layout, "{}: the state was saved for parameters {} but the arena holds {}", who, saved, layout);
  AdamConfig cfg{get_double(file.metadata, "adam.lr", who), get_double(file.metadata, "adam.beta1", who),
                 get_double(file.metadata, "adam.beta2", who), get_double(file.metadata, "adam.eps", who),
                 get_double(file.metadata, "adam.weight_decay", who)};
  check_adam_config(cfg);
  int64_t step = get_int(file.metadata, "adam.step", who);
  DRU_CHECK(step >= 0, "{}: adam.step {} is negative", who, step);

  m_.copy_(*moments[0]);
  v_.copy_(*moments[1]);
  cfg_ = cfg;
  step_ = uint64_t(step);
  if (lr_dev_.defined()) lr_dev_.fill_(cfg_.lr);
}

// ---------------------------------------------------------------------------------------------
// ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(const PlateauConfig& cfg, double lr) : cfg_(cfg) {
  check_plateau_config(cfg);
  DRU_CHECK(lr >= 0, "ReduceLROnPlateau: learning rate {} is negative", lr);
  s_ = plateau_init(cfg, lr);
}

bool ReduceLROnPlateau::step(double metric) {
  dev_current_ = false;
  return plateau_step(s_, cfg_, metric);
}

void ReduceLROnPlateau::step_device(const Tensor& metric, float* lr_out) {
  DRU_CHECK(metric.defined() && on_cuda(metric) && metric.numel() == 1 && metric.dtype() == DType::f32,
            "ReduceLROnPlateau::step_device: the metric must be one f32 value on cuda");
  DRU_CHECK(lr_out != nullptr, "ReduceLROnPlateau::step_device: no device learning rate to write (is Adam's arena on cuda?)");
#ifdef DRU_HAVE_CUDA
  if (!dev_state_.defined()) dev_state_ = Tensor::empty(Shape{int64_t(sizeof(PlateauState))}, DType::u8, Device::cuda);
  if (!dev_current_) {
    cuda::copy(dev_state_.raw(), Device::cuda, &s_, Device::cpu, sizeof(PlateauState));
    dev_current_ = true;
  }
  plateau_step_cuda(static_cast<PlateauState*>(dev_state_.raw()), cfg_, metric.data<float>(), lr_out, nullptr,
                    cuda::stream());
#else
  cuda::not_built();
#endif
}

cuda::HostRead ReduceLROnPlateau::device_state_read() {
  DRU_CHECK(dev_state_.defined(), "ReduceLROnPlateau::device_state_read: step_device was never called");
  return cuda::HostRead{&s_, dev_state_.raw(), sizeof(PlateauState)};
}

std::map<std::string, std::string> ReduceLROnPlateau::state_metadata() const {
  return {{"plateau.lr", num(s_.lr)},
          {"plateau.best", num(s_.best)},
          {"plateau.num_bad_epochs", std::to_string(s_.num_bad_epochs)},
          {"plateau.cooldown_counter", std::to_string(s_.cooldown_counter)},
          {"plateau.last_epoch", std::to_string(s_.last_epoch)},
          {"plateau.mode", cfg_.mode == PlateauMode::min ? "min" : "max"},
          {"plateau.factor", num(cfg_.factor)},
          {"plateau.patience", std::to_string(cfg_.patience)},
          {"plateau.threshold", num(cfg_.threshold)},
          {"plateau.threshold_mode", cfg_.threshold_mode == ThresholdMode::rel ? "rel" : "abs"},
          {"plateau.cooldown", std::to_string(cfg_.cooldown)},
          {"plateau.min_lr", num(cfg_.min_lr)},
          {"plateau.eps", num(cfg_.eps)}};
}

void ReduceLROnPlateau::load_state_metadata(const std::map<std::string, std::string>& meta) {
  const char* who = "ReduceLROnPlateau::load_state";
  auto choice = [&](const char* key, const char* a, const char* b) {
    const std::string& v = get_key(meta, key, who);
    DRU_CHECK(v == a || v == b, "{}: state entry '{}' = '{}' is neither '{}' nor '{}'", who, key, v, a, b);
    return v == b;
  };
  auto small_int = [&](const char* key) {
    int64_t x = get_int(meta, key, who);
    DRU_CHECK(x >= 0 && x <= INT32_MAX, "{}: state entry '{}' = {} is out of range", who, key, x);
    return int(x);
  };
  PlateauConfig c;
  c.mode = choice("plateau.mode", "min", "max") ? PlateauMode::max : PlateauMode::min;
  c.factor = get_double(meta, "plateau.factor", who);
  c.patience = small_int("plateau.patience");
  c.threshold = get_double(meta, "plateau.threshold", who);
  c.threshold_mode = choice("plateau.threshold_mode", "rel", "abs") ? ThresholdMode::abs : ThresholdMode::rel;
  c.cooldown = small_int("plateau.cooldown");
  c.min_lr = get_double(meta, "plateau.min_lr", who);
  c.eps = get_double(meta, "plateau.eps", who);
  check_plateau_config(c);
  PlateauState s;
  s.lr = get_double(meta, "plateau.lr", who);
  s.best = get_double(meta, "plateau.best", who);
  s.num_bad_epochs = small_int("plateau.num_bad_epochs");
  s.cooldown_counter = small_int("plateau.cooldown_counter");
  s.last_epoch = small_int("plateau.last_epoch");
  cfg_ = c;
  s_ = s;
  dev_current_ = false;
}

// ---------------------------------------------------------------------------------------------
// The training-state file

void save_train_state(const std::string& path, const Adam& adam, const ReduceLROnPlateau& plateau) {
  TensorFile f = adam.state();
  for (auto& [k, v] : plateau.state_metadata()) f.metadata[k] = v;
  save_safetensors(path, f);
}

void load_train_state(const std::string& path, Adam& adam, ReduceLROnPlateau& plateau) {
  load_train_state(load_safetensors(path), adam, plateau, path);
}

void load_train_state(const TensorFile& f, Adam& adam, ReduceLROnPlateau& plateau, const std::string& path) {
  try {
    // Plateau into a copy first: Adam's load checks everything before it changes anything, so after
    // it succeeds nothing below can fail and both objects move together.
    ReduceLROnPlateau p = plateau;
    p.load_state_metadata(f.metadata);
    adam.load_state(f);
    plateau = p;
  } catch (const Error& e) {
    throw Error(fmt::format("load_train_state: '{}': {}", path, e.what()));
  }
}

}  // namespace dru
