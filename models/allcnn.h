// allcnn.h — the paper's AllCNN regressor for 32x32 face images (docs/paper.md §2.1, "AllCNN"; models.py's
// AllCNN(num_classes=1) with batch norm on and dropout off).
//
// Eight blocks, each Conv2d (no bias) -> BatchNorm2d -> ReLU, padding (k - 1) / 2:
//
//   block  in -> out  kernel  stride   output for x (N, 3, 32, 32)
//   conv1    3 ->  96    3      1      (N,  96, 32, 32)
//   conv2   96 ->  96    3      1      (N,  96, 32, 32)
//   conv3   96 -> 192    3      2      (N, 192, 16, 16)
//   conv4  192 -> 192    3      1      (N, 192, 16, 16)
//   conv5  192 -> 192    3      1      (N, 192, 16, 16)
//   conv6  192 -> 192    3      2      (N, 192,  8,  8)
//   conv7  192 -> 192    3      1      (N, 192,  8,  8)
//   conv8  192 -> 192    1      1      (N, 192,  8,  8)
//   -> AvgPool2d(8) -> flatten (N, 192) -> classifier Linear(192 -> 1) -> pred (N, 1)
//
// The input must be (N, 3, 32, 32): AvgPool2d(8) assumes the 8x8 map of a 32x32 image, as in the paper.
// The paper's dropout1/dropout2 are Identity (dropout=False) and hold nothing, so they are left out.
//
// Activations, in forward order: "conv1" ... "conv8", the eight block outputs (the paper's actv1..actv8).
//
// Names equal the authors' state_dict, so their checkpoints load as they are: each block is an
// nn.Sequential (Conv2d, BatchNorm2d, ReLU), giving conv1.0.weight, conv1.1.weight, conv1.1.bias,
// conv1.1.running_mean, conv1.1.running_var, conv1.1.num_batches_tracked, ..., and the head is
// nn.Sequential(nn.Linear), giving classifier.0.weight and classifier.0.bias. The PyTorch twin is
// tools/reference/vision_models.py.
//
// Initialisation is PyTorch's default (Conv2d and Linear kaiming-uniform a = sqrt 5, BN weight 1 bias 0).
// Parameters: 1,618,273.
#pragma once

#include "models/model.h"

namespace dru {

class AllCnn : public Model {
 public:
  explicit AllCnn(const ModelConfig& cfg);
  ModelOutput forward(const ModelInput& in, Mode mode) override;
  std::string name() const override { return "allcnn"; }
  ModelInput example_input(int64_t n, Generator& gen) const override;

  std::vector<std::shared_ptr<Sequential>> blocks;  // conv1 ... conv8
  std::shared_ptr<Sequential> classifier;           // 0: Linear(192 -> 1)

 private:
  ModelConfig cfg_;
};

}  // namespace dru
