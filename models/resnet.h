// resnet.h — ResNet-18 with one regression output (docs/paper.md §2.1, "ResNet18": torchvision's resnet18 with
// its 1000-way fc replaced by Linear(512 -> 1)).
//
//   stem    conv1 7x7 stride 2 pad 3 (3 -> 64, no bias) -> bn1 -> ReLU             act "stem"
//           maxpool 3x3 stride 2 pad 1
//   layer1  BasicBlock(64 -> 64),   BasicBlock(64 -> 64)                          acts "layer1.0", "layer1.1"
//   layer2  BasicBlock(64 -> 128, stride 2, downsample), BasicBlock(128 -> 128)   acts "layer2.0", "layer2.1"
//   layer3  BasicBlock(128 -> 256, stride 2, downsample), BasicBlock(256 -> 256)  acts "layer3.0", "layer3.1"
//   layer4  BasicBlock(256 -> 512, stride 2, downsample), BasicBlock(512 -> 512)  acts "layer4.0", "layer4.1"
//   adaptive average pool to 1x1 -> flatten (N, 512) -> fc Linear(512 -> 1) -> pred (N, 1)
//
// BasicBlock: out = ReLU(bn2(conv2(ReLU(bn1(conv1(x))))) + shortcut(x)); conv1 3x3 with the block's
// stride, conv2 3x3 stride 1, both without bias; the shortcut is x, or downsample = 1x1 conv with the
// stride (no bias) -> BN where the shape changes.
//
// Shapes for x (N, 3, 32, 32): stem (N, 64, 16, 16), layer1 (N, 64, 8, 8), layer2 (N, 128, 4, 4),
// layer3 (N, 256, 2, 2), layer4 (N, 512, 1, 1). Any H, W >= 1 runs; in training every batch-norm
// needs more than one value per channel, so at 32x32 the batch must be at least 2.
//
// small_stem (ModelConfig::small_stem, not in the paper): conv1 becomes 3x3 stride 1 padding 1 and
// the max-pool is skipped, the usual CIFAR adaptation, so 32x32 images keep 32x32 maps in layer1
// (layer4 then works at 4x4). The stem's activation is still named "stem".
//
// Activations, in forward order: "stem" and the eight blocks "layer1.0" ... "layer4.1" (the paper's
// actvn1..actvn9).
//
// Names are torchvision's (conv1.weight, bn1.running_mean, layer2.0.downsample.0.weight,
// layer2.0.downsample.1.weight, ..., fc.weight, fc.bias), equal to the twin in
// tools/reference/vision_models.py. The authors' wrapper module renamed the same tensors (layer1.0 =
// conv1, layer1.1 = bn1, basic_block1..8 = layer1.0 ... layer4.1, final = fc); the twin documents the
// mapping.
//
// Initialisation is torchvision's: every conv weight ~ N(0, 2 / (out_channels * kh * kw)) (kaiming
// normal, fan_out, ReLU gain), BN weight 1 bias 0, fc nn.Linear's default (kaiming-uniform a = sqrt 5).
// Parameters: 11,177,025 (small_stem: 11,169,345).
#pragma once

#include "models/model.h"

namespace dru {

class BasicBlock : public Module {
 public:
  BasicBlock(int64_t in, int64_t out, int stride, Generator& gen, DType dt);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm> bn1, bn2;
  std::shared_ptr<Sequential> downsample;  // 0: Conv2d 1x1, 1: BatchNorm; null when the shape is kept
};

class ResNet18 : public Model {
 public:
  explicit ResNet18(const ModelConfig& cfg);
  ModelOutput forward(const ModelInput& in, Mode mode) override;
  std::string name() const override { return "resnet18"; }
  ModelInput example_input(int64_t n, Generator& gen) const override;
  // Rows: stem (conv1 + bn1), each of the eight blocks, fc, output.
  std::vector<LayerRow> summary() override;

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm> bn1;
  std::shared_ptr<Sequential> layers[4];  // layer1 ... layer4, children "0" and "1"
  std::shared_ptr<Linear> fc;

 private:
  ModelConfig cfg_;
};

}  // namespace dru
