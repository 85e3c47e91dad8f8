"""CRNN: convolutional backbone → 2-layer BiLSTM → linear → CTC classes.

Input  [N, 1, H, W]   grey, normalised to [-1, 1]; H = 32 (the shipped models) or another multiple of 16
Output [N, T, C]      logits, T = W // 4, C = charset classes + blank

Why this shape (accuracy per CPU millisecond): at height 32 a CJK character is ~30 px wide and a
narrow Latin letter ~6 px, so the horizontal stride stays 4 (T = W/4 frames: enough for "ill"
yet cheap); all later downsampling is vertical only. Channels stay ≤ 256 and the last conv
collapses height with a 2×1 kernel, so the backbone costs ~0.4 GMAC per 32×320 line; the
6.9k-way classifier (~0.14 GMAC per line) is the other big term, which is why the LSTM stays at
128 units per direction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class CRNNConfig:
    num_classes: int
    height: int = 32
    channels: tuple[int, ...] = (32, 64, 128, 128, 256, 256)
    lstm_hidden: int = 128
    lstm_layers: int = 2
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(cin: int, cout: int, kernel=(3, 3), padding=(1, 1)) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Backbone(nn.Module):
    """[N,1,H,W] → [N, C6, 1, W/4] (the sizes in the comments are for H = 32)."""

    def __init__(self, ch: tuple[int, ...], height: int = 32):
        super().__init__()
        c1, c2, c3, c4, c5, c6 = ch
        self.body = nn.Sequential(
            _conv(1, c1),  # 32 × W
            nn.MaxPool2d(2, 2),  # 16 × W/2
            _conv(c1, c2),
            nn.MaxPool2d(2, 2),  # 8 × W/4
            _conv(c2, c3),
            _conv(c3, c4),
            nn.MaxPool2d((2, 1), (2, 1)),  # 4 × W/4
            _conv(c4, c5),
            _conv(c5, c6),
            nn.MaxPool2d((2, 1), (2, 1)),  # 2 × W/4
            _conv(c6, c6, kernel=(height // 16, 1), padding=(0, 0)),  # 1 × W/4
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SequenceModel(nn.Module):
    """[N, T, D] → [N, T, 2H]: stacked bidirectional LSTM."""

    def __init__(self, d_in: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.rnn = nn.LSTM(d_in, hidden, num_layers=layers, bidirectional=True, batch_first=True, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class CRNN(nn.Module):
    def __init__(self, config: CRNNConfig):
        super().__init__()
        if config.height < 16 or config.height % 16:
            raise ValueError(f"the backbone halves the height four times: it must be a multiple of 16; got {config.height}")
        self.config = config
        self.backbone = Backbone(config.channels, config.height)
        self.sequence = SequenceModel(config.channels[-1], config.lstm_hidden, config.lstm_layers, config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * config.lstm_hidden, config.num_classes)

    @property
    def width_stride(self) -> int:
        """Input pixels per output frame: the product of the backbone's horizontal pooling strides
        (T = W // width_stride)."""
        stride = 1
        for m in self.backbone.modules():
            if isinstance(m, nn.MaxPool2d):
                s = m.stride
                stride *= s[1] if isinstance(s, tuple) else s
        return stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x)  # [N, C, 1, T]
        f = f.squeeze(2).permute(0, 2, 1)  # [N, T, C]
        f = self.sequence(f)  # [N, T, 2H]
        return self.classifier(self.dropout(f))  # [N, T, classes]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs_per_line(config: CRNNConfig, width: int = 320) -> int:
    """Multiply-accumulates for one line ``config.height`` × ``width`` px (convs, LSTM, classifier),
    counted analytically."""
    c1, c2, c3, c4, c5, c6 = config.channels
    h = config.height
    t = width // 4
    convs = (
        h * width * 9 * 1 * c1
        + (h // 2) * (width // 2) * 9 * c1 * c2
        + (h // 4) * t * 9 * (c2 * c3 + c3 * c4)
        + (h // 8) * t * 9 * (c4 * c5 + c5 * c6)
        + 1 * t * (h // 16) * c6 * c6
    )
    units = config.lstm_hidden
    lstm = 0
    d_in = c6
    for _ in range(config.lstm_layers):
        lstm += 2 * t * 4 * units * (d_in + units)
        d_in = 2 * units
    return convs + lstm + t * 2 * units * config.num_classes
