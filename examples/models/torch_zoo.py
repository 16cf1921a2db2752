"""torch models to import with `nodecat import` (or `nodecat.executor.interop.torch_import.import_torch`).

Each factory takes no arguments, seeds torch (`torch.manual_seed(0)`) and returns the model in
eval mode, so `nodecat import examples/models/torch_zoo.py:resnet18_cifar --input-shape
x=1,3,32,32` gives the same graph and weights every time. `INPUTS` lists the input shapes each
factory's model needs (the `--input-shape` values; token inputs take ids below 100). Batch-norm
running statistics and affine parameters are randomised, so inference depends on them.

- `resnet18_cifar`: ResNet-18 for 32x32 images (He, Zhang, Ren, Sun, "Deep Residual Learning for
  Image Recognition", CVPR 2016; the CIFAR variant: a 3x3 stem, no max pool). BasicBlocks with
  identity skips, and 1x1 projection skips where the shape changes; average pooling, then
  `out.view(out.size(0), -1)` and a Linear to 10 classes.
- `mobilenet_v2_small`: MobileNetV2 at width 0.5 for 32x32 images (Sandler, Howard, Zhu,
  Zhmoginov, Chen, "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018): inverted
  residual blocks (1x1 expansion, 3x3 depthwise conv with groups=channels, linear 1x1
  projection), ReLU6, a skip connection when the stride is 1 and the width unchanged; global
  average pooling as `x.mean([2, 3])`.
- `lstm_classifier`: a sequence classifier (Hochreiter, Schmidhuber, "Long Short-Term Memory",
  Neural Computation 1997): token Embedding, a 2-layer batch-first LSTM, the last time step
  `out[:, -1, :]`, a Linear to 5 classes.
- `gru_tagger`: a sequence tagger (Cho et al., "Learning Phrase Representations using RNN
  Encoder-Decoder", EMNLP 2014, for the GRU; bidirectional tagging as in Graves, Schmidhuber,
  "Framewise phoneme classification with bidirectional LSTM", 2005): a bidirectional GRU over
  feature vectors, LayerNorm, a Linear per time step and log-softmax over 7 tags.
- `transformer_encoder`: an encoder-only Transformer classifier (Vaswani et al., "Attention Is
  All You Need", NeurIPS 2017; learned positional embeddings and mean pooling as in BERT, Devlin
  et al., NAACL 2019): token Embedding scaled by sqrt(d_model), plus a learned positional
  embedding parameter, `nn.TransformerEncoder` of 2 `nn.TransformerEncoderLayer`s with a final
  LayerNorm, mean pooling over the sequence, a Linear to 3 classes.
- `unmappable_model`: uses what the catalog lacks (`x < 0`, `Tensor.masked_fill`,
  `torch.fft.rfft`); importing it reports all three.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 0

INPUTS: dict[str, dict[str, str]] = {
    "resnet18_cifar": {"x": "1,3,32,32"},
    "mobilenet_v2_small": {"x": "1,3,32,32"},
    "lstm_classifier": {"tokens": "2,12:int64"},
    "gru_tagger": {"x": "2,10,16"},
    "transformer_encoder": {"tokens": "2,16:int64"},
    "unmappable_model": {"x": "2,8,16"},
}


def _randomise_batch_norm(model: nn.Module) -> nn.Module:
    """Running statistics and affine parameters away from 0 and 1, so a wrong or missing one shows."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return model


# -- ResNet-18 ---------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm; the input is added back (projected when the shape changes)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()  # the identity
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 10):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._stage(64, blocks[0], stride=1)
        self.layer2 = self._stage(128, blocks[1], stride=2)
        self.layer3 = self._stage(256, blocks[2], stride=2)
        self.layer4 = self._stage(512, blocks[3], stride=2)
        self.linear = nn.Linear(512, num_classes)

    def _stage(self, planes: int, count: int, stride: int) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (count - 1):
            layers.append(BasicBlock(self.in_planes, planes, block_stride))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        return self.linear(out)


def resnet18_cifar() -> nn.Module:
    torch.manual_seed(SEED)
    return _randomise_batch_norm(ResNet()).eval()


# -- MobileNetV2 ---------------------------------------------------------------------------------
class InvertedResidual(nn.Module):
    """Expand (1x1), filter (3x3 depthwise), project (1x1, linear); skip when the shape is kept."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = inp * expand_ratio
        self.use_skip = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(inplace=True), nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_skip:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    # (expansion t, output channels c, repeats n, first stride s), Table 2 of the paper
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))

    def __init__(self, width: float = 0.5, num_classes: int = 10):
        super().__init__()
        channels = _divisible(32 * width)
        last = _divisible(1280 * max(1.0, width))
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels),
                                   nn.ReLU6(inplace=True)]  # stride 1: CIFAR-sized inputs
        for t, c, n, s in self.SETTINGS:
            out = _divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
                channels = out
        layers += [nn.Conv2d(channels, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = x.mean([2, 3])
        return self.classifier(x)


def _divisible(value: float, divisor: int = 8) -> int:
    """Channel counts rounded to a multiple of 8, never more than 10% below the exact width."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def mobilenet_v2_small() -> nn.Module:
    torch.manual_seed(SEED)
    return _randomise_batch_norm(MobileNetV2()).eval()


# -- recurrent -----------------------------------------------------------------------------------
class LSTMClassifier(nn.Module):
    def __init__(self, vocab: int = 100, embed: int = 32, hidden: int = 48, layers: int = 2, classes: int = 5):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True, dropout=0.1)
        self.head = nn.Linear(hidden, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, (_h_n, _c_n) = self.lstm(self.embedding(tokens))  # (output, (h_n, c_n))
        return self.head(out[:, -1, :])


def lstm_classifier() -> nn.Module:
    torch.manual_seed(SEED)
    return LSTMClassifier().eval()


class GRUTagger(nn.Module):
    def __init__(self, features: int = 16, hidden: int = 32, tags: int = 7):
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True, bidirectional=True)
        self.norm = nn.LayerNorm(2 * hidden)
        self.tag = nn.Linear(2 * hidden, tags)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return F.log_softmax(self.tag(self.norm(out)), dim=-1)


def gru_tagger() -> nn.Module:
    torch.manual_seed(SEED)
    return GRUTagger().eval()


# -- Transformer encoder ---------------------------------------------------------------------------
class TransformerClassifier(nn.Module):
    def __init__(self, vocab: int = 100, seq: int = 16, d_model: int = 32, heads: int = 4, ff: int = 64,
                 layers: int = 2, classes: int = 3):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.randn(1, seq, d_model) * 0.1)  # learned positions
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)
        self.scale = math.sqrt(d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) * self.scale + self.pos
        x = self.encoder(x)
        return self.head(x.mean(dim=1))


def transformer_encoder() -> nn.Module:
    torch.manual_seed(SEED)
    return TransformerClassifier().eval()


# -- what the catalog cannot express ---------------------------------------------------------------
class SpectralGate(nn.Module):
    """Projects features, zeroes the negative ones, and returns the magnitude spectrum over time."""

    def __init__(self, features: int = 16):
        super().__init__()
        self.proj = nn.Linear(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.proj(x)
        h = h.masked_fill(h < 0, 0.0)
        return torch.fft.rfft(h, dim=1).abs()


def unmappable_model() -> nn.Module:
    torch.manual_seed(SEED)
    return SpectralGate().eval()
