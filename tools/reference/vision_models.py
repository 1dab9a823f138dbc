#!/usr/bin/python3
"""vision_models.py — PyTorch twins of dru's image regressors: "allcnn" (models/allcnn.h) and "resnet18"
(models/resnet.h).

The state_dict names and the computation equal dru's, so a dru checkpoint (safetensors) loads here with
strict=True and gives the same predictions and activations. Each forward returns (pred, activations),
activations an ordered list of (name, tensor) as dru's ModelOutput.

AllCNN is the paper's models.AllCNN(num_classes=1) (batch norm on, dropout off): its Conv blocks are
nn.Sequential(Conv2d, BatchNorm2d, ReLU) and its head nn.Sequential(Linear), so the authors' own
checkpoints load too. ResNet18 is torchvision's resnet18 written out by hand (torchvision is not needed)
with fc = Linear(512, 1) and torchvision's names; the authors' wrapper (models.ResNet18) stored the same
tensors under other names, which paper_resnet18_names() maps. Usage, to check a checkpoint:

    /usr/bin/python3 tools/reference/vision_models.py allcnn best.safetensors
    /usr/bin/python3 tools/reference/vision_models.py resnet18 best.safetensors [--small-stem]
"""
import argparse
import pathlib
import sys

import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import safetensors_io  # noqa: E402


class Conv(nn.Sequential):
    """The paper's Conv block: Conv2d (no bias) -> BatchNorm2d -> ReLU, padding (k - 1) // 2."""

    def __init__(self, cin, cout, kernel=3, stride=1):
        super().__init__(nn.Conv2d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


class AllCNN(nn.Module):
    BLOCKS = [(3, 96, 3, 1), (96, 96, 3, 1), (96, 192, 3, 2), (192, 192, 3, 1),
              (192, 192, 3, 1), (192, 192, 3, 2), (192, 192, 3, 1), (192, 192, 1, 1)]

    def __init__(self):
        super().__init__()
        for i, (cin, cout, k, s) in enumerate(self.BLOCKS):
            setattr(self, f"conv{i + 1}", Conv(cin, cout, k, s))
        self.pool = nn.AvgPool2d(8)
        self.classifier = nn.Sequential(nn.Linear(192, 1))

    def forward(self, x):
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, 32, 32):
            raise ValueError(f"allcnn: input has shape {tuple(x.shape)}; expected (N, 3, 32, 32)")
        acts = []
        for i in range(len(self.BLOCKS)):
            x = getattr(self, f"conv{i + 1}")(x)
            acts.append((f"conv{i + 1}", x))
        return self.classifier(torch.flatten(self.pool(x), 1)), acts


class BasicBlock(nn.Module):
    """torchvision's BasicBlock (expansion 1)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """torchvision.models.resnet18 with a 1-output fc; small_stem: 3x3 stride-1 conv1 and no max-pool."""

    def __init__(self, small_stem=False):
        super().__init__()
        self.small_stem = small_stem
        if small_stem:
            self.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        for i, width in enumerate([64, 128, 256, 512]):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width)))
            cin = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, 1)
        # torchvision's init (fc keeps nn.Linear's default).
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        acts = [("stem", x)]
        if not self.small_stem:
            x = self.maxpool(x)
        for i in range(4):
            for b, block in enumerate(getattr(self, f"layer{i + 1}")):
                x = block(x)
                acts.append((f"layer{i + 1}.{b}", x))
        return self.fc(torch.flatten(self.avgpool(x), 1)), acts


def paper_resnet18_names(name):
    """Maps a dru/torchvision ResNet-18 name to the authors' models.ResNet18 name (stem in layer1,
    blocks basic_block1..8, fc called final), for loading their checkpoints."""
    stem = {"conv1.": "layer1.0.", "bn1.": "layer1.1."}
    for k, v in stem.items():
        if name.startswith(k):
            return v + name[len(k):]
    if name.startswith("fc."):
        return "final." + name[3:]
    layer, block, rest = name.split(".", 2)
    return f"basic_block{2 * (int(layer[5:]) - 1) + int(block) + 1}.{rest}"


def make(name, small_stem=False):
    if name == "allcnn":
        return AllCNN()
    if name == "resnet18":
        return ResNet18(small_stem)
    raise ValueError(f"unknown vision model {name!r} (known: allcnn, resnet18)")


def load_dru_checkpoint(model, path):
    """Loads a dru safetensors checkpoint into a twin (strict: every name must match)."""
    return safetensors_io.load_into(model, path, strict=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", choices=["allcnn", "resnet18"])
    ap.add_argument("checkpoint")
    ap.add_argument("--small-stem", action="store_true", help="resnet18: 3x3 stride-1 stem without max-pool")
    args = ap.parse_args()
    model = make(args.model, args.small_stem)
    load_dru_checkpoint(model, args.checkpoint)
    print(f"{args.model}: loaded {args.checkpoint}, {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
