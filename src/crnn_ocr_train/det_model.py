"""A light DB text detector: MobileNet-like backbone → FPN → probability and threshold heads.

Shapes for a grey input [N, 1, H, W] (H, W multiples of 32):

    stem      conv3x3 s2                      [N, c0, H/2,  W/2]
    stage1    inverted residuals, s2          [N, c1, H/4,  W/4]
    stage2    inverted residuals, s2          [N, c2, H/8,  W/8]
    stage3    inverted residuals, s2          [N, c3, H/16, W/16]
    stage4    inverted residuals, s2          [N, c4, H/32, W/32]
    FPN       1x1 laterals to ``fpn`` ch, top-down sum, 3x3 smoothing to fpn/4 ch each,
              upsampled to H/4 and concatenated   [N, fpn, H/4, W/4]
    heads     conv3x3 → deconv x2 → deconv x2 → sigmoid   [N, 1, H, W] each
              ``prob`` (text kernel probability) and, in training only, ``thresh``

Training output: prob, thresh and the approximate binary map 1 / (1 + exp(-k (prob - thresh))).
``forward_prob`` (the exported graph) returns the probability map alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DBNetConfig:
    channels: tuple[int, ...] = (16, 24, 40, 80, 160)  # stem, stage1..stage4
    blocks: tuple[int, ...] = (2, 2, 3, 2)  # inverted residual blocks per stage
    expand: int = 3
    fpn: int = 64
    k: float = 50.0  # steepness of the differentiable binarization

    def to_dict(self) -> dict:
        return asdict(self)


def conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.Hardswish() if cout >= 32 else nn.ReLU())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expand → 3x3 depthwise (stride s) → 1x1 project; residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(conv_bn(cin, mid, 1), conv_bn(mid, mid, 3, stride, groups=mid), conv_bn(mid, cout, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class Head(nn.Module):
    """[N, fpn, H/4, W/4] → [N, 1, H, W] in (0, 1)."""

    def __init__(self, cin: int):
        super().__init__()
        mid = cin // 4
        self.conv = conv_bn(cin, mid, 3)
        self.up1 = nn.Sequential(nn.ConvTranspose2d(mid, mid, 2, 2), nn.BatchNorm2d(mid), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(mid, 1, 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.up2(self.up1(self.conv(x))))


class DBNet(nn.Module):
    def __init__(self, config: DBNetConfig = DBNetConfig()):
        super().__init__()
        self.config = config
        c = config.channels
        self.stem = conv_bn(1, c[0], 3, 2)
        stages = []
        for i in range(4):
            blocks = [InvertedResidual(c[i], c[i + 1], 2, config.expand)]
            blocks += [InvertedResidual(c[i + 1], c[i + 1], 1, config.expand) for _ in range(config.blocks[i] - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        f = config.fpn
        self.laterals = nn.ModuleList(nn.Conv2d(ci, f, 1, bias=False) for ci in c[1:])
        self.smooth = nn.ModuleList(conv_bn(f, f // 4, 3) for _ in c[1:])
        self.prob_head = Head(f)
        self.thresh_head = Head(f)

    @property
    def stride(self) -> int:
        """The input's sides must be multiples of this: the stem and every stage halve them, so the
        deepest feature map is [H / stride, W / stride]."""
        return 2 ** (1 + len(self.stages))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 1, H, W] → fused features [N, fpn, H/4, W/4]."""
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)  # H/4, H/8, H/16, H/32
        lat = [lateral(f) for lateral, f in zip(self.laterals, feats)]
        for i in range(len(lat) - 2, -1, -1):  # top-down
            lat[i] = lat[i] + F.interpolate(lat[i + 1], size=lat[i].shape[-2:], mode="nearest")
        size = lat[0].shape[-2:]
        outs = [smooth(l) for smooth, l in zip(self.smooth, lat)]
        outs = [outs[0]] + [F.interpolate(o, size=size, mode="nearest") for o in outs[1:]]
        return torch.cat(outs, dim=1)

    def forward_prob(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 1, H, W] → probability map [N, 1, H, W] (the inference graph)."""
        return self.prob_head(self.features(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """[N, 1, H, W] → (prob, thresh, binary), each [N, H, W]."""
        feat = self.features(x)
        prob = self.prob_head(feat)[:, 0]
        thresh = self.thresh_head(feat)[:, 0]
        binary = torch.sigmoid(self.config.k * (prob - thresh))
        return prob, thresh, binary


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def inference_macs(model: DBNet, height: int = 640, width: int = 640) -> int:
    """Multiply-accumulates of ``forward_prob`` on one [1, 1, height, width] image (conv and
    transposed conv layers; activations, BN and interpolation are not counted)."""
    total = 0

    def hook(mod: nn.Module, inp, out) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total += int(out.numel() * k)
        elif isinstance(mod, nn.ConvTranspose2d):
            total += int(inp[0].numel() * mod.out_channels * mod.kernel_size[0] * mod.kernel_size[1])

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model.forward_prob(torch.zeros(1, 1, height, width))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total


# ---- loss --------------------------------------------------------------------------------------


def balanced_bce(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, negative_ratio: float = 3.0) -> torch.Tensor:
    """BCE over positives and the hardest ``negative_ratio`` x as many negatives (OHEM)."""
    pos = (gt * mask) > 0.5
    neg = ((1 - gt) * mask) > 0.5
    n_pos = int(pos.sum())
    n_neg = min(int(neg.sum()), int(max(n_pos, 100) * negative_ratio))
    loss = F.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), gt, reduction="none")
    pos_loss = loss[pos].sum()
    neg_loss = torch.topk(loss[neg], n_neg).values.sum() if n_neg > 0 else loss.new_zeros(())
    return (pos_loss + neg_loss) / (n_pos + n_neg + 1e-6)


def dice_loss(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    inter = (pred * gt * mask).sum()
    union = (pred * mask).sum() + (gt * mask).sum() + 1e-6
    return 1 - 2 * inter / union


def db_loss(out: tuple[torch.Tensor, torch.Tensor, torch.Tensor], prob, prob_mask, thresh, thresh_mask, alpha: float = 1.0, beta: float = 10.0) -> tuple[torch.Tensor, dict[str, float]]:
    """L = L_prob (balanced BCE) + alpha L_binary (dice) + beta L_thresh (masked L1), in fp32."""
    p, t, b = (o.float() for o in out)
    l_prob = balanced_bce(p, prob, prob_mask)
    l_bin = dice_loss(b, prob, prob_mask)
    l_thr = (torch.abs(t - thresh) * thresh_mask).sum() / (thresh_mask.sum() + 1e-6)
    total = l_prob + alpha * l_bin + beta * l_thr
    return total, {"prob": float(l_prob.detach()), "binary": float(l_bin.detach()), "thresh": float(l_thr.detach())}
