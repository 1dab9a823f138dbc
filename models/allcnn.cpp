// allcnn.cpp — the AllCNN regressor; the layout and names are in allcnn.h.
#include "models/allcnn.h"

namespace dru {

namespace {

constexpr int64_t kImage = 32;  // AvgPool2d(8) after two stride-2 blocks: only 32x32 fits

struct BlockSpec {
  int64_t in, out;
  int kernel, stride;
};

// The paper's eight Conv blocks (n_filter1 = 96, n_filter2 = 192).
constexpr BlockSpec kBlocks[8] = {{3, 96, 3, 1},    {96, 96, 3, 1},   {96, 192, 3, 2},  {192, 192, 3, 1},
                                  {192, 192, 3, 1}, {192, 192, 3, 2}, {192, 192, 3, 1}, {192, 192, 1, 1}};

}  // namespace

AllCnn::AllCnn(const ModelConfig& cfg) : cfg_(cfg) {
  DRU_CHECK(cfg.image_size == kImage,
            "allcnn: image_size is {}, but AllCNN takes 32x32 images only (its AvgPool2d(8) needs the 8x8 map "
            "of a 32x32 input); resize the images to 32x32 or use resnet18",
            cfg.image_size);
  DRU_CHECK(is_float(cfg.dtype), "allcnn: dtype {} is not supported (use f32 or f64)", dtype_name(cfg.dtype));
  Generator gen(cfg.seed);
  for (int i = 0; i < 8; ++i) {
    const BlockSpec& s = kBlocks[i];
    auto block = std::make_shared<Sequential>();
    block->add(std::make_shared<Conv2d>(s.in, s.out, s.kernel, s.stride, (s.kernel - 1) / 2, false, gen, cfg.dtype))
        .add(std::make_shared<BatchNorm>(s.out, 0.1, 1e-5, cfg.dtype))
        .add(std::make_shared<ReLU>());
    blocks.push_back(register_module("conv" + std::to_string(i + 1), block));
  }
  classifier = std::make_shared<Sequential>();
  classifier->add(std::make_shared<Linear>(kBlocks[7].out, 1, true, gen, cfg.dtype));
  register_module("classifier", classifier);
}

ModelOutput AllCnn::forward(const ModelInput& in, Mode mode) {
  DRU_CHECK(in.x.defined(), "allcnn: ModelInput x is undefined; pass images (N, 3, 32, 32)");
  const Tensor& x = in.x;
  DRU_CHECK(x.ndim() == 4 && x.size(0) > 0 && x.size(1) == 3 && x.size(2) == kImage && x.size(3) == kImage,
            "allcnn: input has shape {}; expected images (N, 3, 32, 32) (AvgPool2d(8) needs 32x32; resize first)",
            x.shape().str());
  DRU_CHECK(x.dtype() == cfg_.dtype, "allcnn: input has dtype {}; the model is {}", dtype_name(x.dtype()),
            dtype_name(cfg_.dtype));
  train(mode == Mode::train);

  ModelOutput out;
  Tensor h = x;
  for (size_t i = 0; i < blocks.size(); ++i) {
    h = blocks[i]->forward(h);
    out.activations.emplace_back("conv" + std::to_string(i + 1), h);
  }
  out.pred = classifier->forward(avg_pool2d(h, 8, 8).flatten(1));
  return out;
}

ModelInput AllCnn::example_input(int64_t n, Generator& gen) const {
  ModelInput in;
  in.x = Tensor::empty(Shape{n, 3, kImage, kImage}, cfg_.dtype);
  gen.fill_uniform(in.x, -1.0, 1.0);  // images are normalised to [-1, 1]
  return in;
}

std::unique_ptr<Model> make_allcnn(const ModelConfig& cfg) { return std::make_unique<AllCnn>(cfg); }

}  // namespace dru
