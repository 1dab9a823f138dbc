// resnet.cpp — ResNet-18 with a regression head; the layout and names are in resnet.h.
#include "models/resnet.h"

#include <cmath>

namespace dru {

namespace {

std::shared_ptr<BatchNorm> make_bn(int64_t c, DType dt) { return std::make_shared<BatchNorm>(c, 0.1, 1e-5, dt); }

}  // namespace

BasicBlock::BasicBlock(int64_t in, int64_t out, int stride, Generator& gen, DType dt) {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, stride, 1, false, gen, dt));
  bn1 = register_module("bn1", make_bn(out, dt));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1, false, gen, dt));
  bn2 = register_module("bn2", make_bn(out, dt));
  if (stride != 1 || in != out) {
    downsample = std::make_shared<Sequential>();
    downsample->add(std::make_shared<Conv2d>(in, out, 1, stride, 0, false, gen, dt)).add(make_bn(out, dt));
    register_module("downsample", downsample);
  }
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor h = relu(bn1->forward(conv1->forward(x)));
  h = bn2->forward(conv2->forward(h));
  return relu(h + (downsample ? downsample->forward(x) : x));
}

ResNet18::ResNet18(const ModelConfig& cfg) : cfg_(cfg) {
  DRU_CHECK(cfg.image_size >= 1, "resnet18: image_size must be positive, got {}", cfg.image_size);
  DRU_CHECK(is_float(cfg.dtype), "resnet18: dtype {} is not supported (use f32 or f64)", dtype_name(cfg.dtype));
  Generator gen(cfg.seed);
  conv1 = cfg.small_stem ? std::make_shared<Conv2d>(3, 64, 3, 1, 1, false, gen, cfg.dtype)
                         : std::make_shared<Conv2d>(3, 64, 7, 2, 3, false, gen, cfg.dtype);
  register_module("conv1", conv1);
  bn1 = register_module("bn1", make_bn(64, cfg.dtype));
  const int64_t widths[4] = {64, 128, 256, 512};
  int64_t in = 64;
  for (int l = 0; l < 4; ++l) {
    const int stride = l == 0 ? 1 : 2;
    layers[l] = std::make_shared<Sequential>();
    layers[l]->add(std::make_shared<BasicBlock>(in, widths[l], stride, gen, cfg.dtype));
    layers[l]->add(std::make_shared<BasicBlock>(widths[l], widths[l], 1, gen, cfg.dtype));
    register_module("layer" + std::to_string(l + 1), layers[l]);
    in = widths[l];
  }
  fc = register_module("fc", std::make_shared<Linear>(512, 1, true, gen, cfg.dtype));
  // torchvision re-initialises every conv after construction, kaiming_normal_(mode='fan_out',
  // nonlinearity='relu'): N(0, 2 / (O * kh * kw)); fc keeps nn.Linear's default. The 4-D parameters
  // are exactly the conv weights (O, C, kh, kw).
  for (auto& [n, w] : parameters())
    if (w.ndim() == 4) gen.fill_normal(w, 0.0, std::sqrt(2.0 / double(w.size(0) * w.size(2) * w.size(3))));
}

ModelOutput ResNet18::forward(const ModelInput& in, Mode mode) {
  DRU_CHECK(in.x.defined(), "resnet18: ModelInput x is undefined; pass images (N, 3, H, W)");
  const Tensor& x = in.x;
  DRU_CHECK(x.ndim() == 4 && x.size(0) > 0 && x.size(1) == 3 && x.size(2) > 0 && x.size(3) > 0,
            "resnet18: input has shape {}; expected RGB images (N, 3, H, W)", x.shape().str());
  DRU_CHECK(x.dtype() == cfg_.dtype, "resnet18: input has dtype {}; the model is {}", dtype_name(x.dtype()),
            dtype_name(cfg_.dtype));
  if (mode == Mode::train) {
    // Every stride-2 stage maps h to (h - 1) / 2 + 1 (3x3 or 7x7 with "same" padding, the max-pool too).
    auto half = [](int64_t h) { return (h - 1) / 2 + 1; };
    int64_t h = x.size(2), w = x.size(3);
    for (int i = 0; i < (cfg_.small_stem ? 3 : 5); ++i) {
      h = half(h);
      w = half(w);
    }
    DRU_CHECK(x.size(0) * h * w > 1,
              "resnet18: training normalises with batch statistics, but a batch of {} image(s) of {}x{} leaves "
              "layer4 a {}x{} map, one value per channel; train with a batch of at least 2",
              x.size(0), x.size(2), x.size(3), h, w);
  }
  train(mode == Mode::train);

  ModelOutput out;
  Tensor h = relu(bn1->forward(conv1->forward(x)));
  out.activations.emplace_back("stem", h);
  if (!cfg_.small_stem) h = max_pool2d(h, 3, 2, 1);
  for (int l = 0; l < 4; ++l)
    for (size_t b = 0; b < layers[l]->size(); ++b) {
      h = (*layers[l])[b].forward(h);
      out.activations.emplace_back("layer" + std::to_string(l + 1) + "." + std::to_string(b), h);
    }
  out.pred = fc->forward(adaptive_avg_pool2d(h, 1, 1).flatten(1));
  return out;
}

ModelInput ResNet18::example_input(int64_t n, Generator& gen) const {
  ModelInput in;
  in.x = Tensor::empty(Shape{n, 3, cfg_.image_size, cfg_.image_size}, cfg_.dtype);
  gen.fill_uniform(in.x, -1.0, 1.0);  // images are normalised to [-1, 1]
  return in;
}

std::vector<LayerRow> ResNet18::summary() {
  ModelOutput out = probe();
  std::vector<LayerRow> rows;
  for (auto& [n, act] : out.activations) {
    int64_t params = conv1->num_parameters() + bn1->num_parameters();
    if (n != "stem") {
      const int l = n[5] - '1', b = n[7] - '0';  // "layerL.B"
      params = (*layers[l])[b].num_parameters();
    }
    rows.push_back({n, act.shape().str(), params});
  }
  rows.push_back({"fc", "-", fc->num_parameters()});
  rows.push_back({"output", out.pred.shape().str(), 0});
  return rows;
}

std::unique_ptr<Model> make_resnet18(const ModelConfig& cfg) { return std::make_unique<ResNet18>(cfg); }

}  // namespace dru
