"""`crnn-ocr-det-export CHECKPOINT OUT.onnx`: the DB detector to ONNX, its contract in the metadata.

The graph takes ``image`` float32 [N, 1, H, W] (dynamic N, H, W; H and W multiples of the model's
stride, 32) and returns ``prob`` [N, 1, H, W], the text-kernel probability map (the threshold
branch is training only). Metadata: ``model_kind`` = db_detector, ``pixel_mean``, ``pixel_std``,
``stride``, ``bin_thresh``, ``box_thresh``, ``shrink_ratio``, ``unclip_scale``, ``max_side``, name,
version, samples seen. A parity check runs random pages of several sizes through PyTorch and ONNX
Runtime. The ONNX writing, parity and manifest entry are the exporter core's
(``crnn_ocr_train.onnx_export``), shared with the recognizer's exporter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from crnn_ocr.detect_learned import DETECTOR_KIND, DBPostConfig

from .checkpoint import load_dbnet
from .det_data import PIXEL_MEAN, PIXEL_STD, SHRINK_RATIO
from .det_model import DBNet
from .onnx_export import export_graph, max_abs_diff, write_manifest


class _ProbOnly(torch.nn.Module):
    def __init__(self, model: DBNet):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.forward_prob(image)


def metadata(
    model: DBNet, name: str, version: str, post: DBPostConfig = DBPostConfig(), max_side: int = 960, extra: dict[str, str] | None = None
) -> dict[str, str]:
    meta = {
        "model_kind": DETECTOR_KIND,
        "pixel_mean": str(PIXEL_MEAN),
        "pixel_std": str(PIXEL_STD),
        "stride": str(model.stride),
        "bin_thresh": str(post.bin_thresh),
        "box_thresh": str(post.box_thresh),
        "shrink_ratio": str(SHRINK_RATIO),
        "unclip_scale": str(post.unclip_scale),
        "max_side": str(max_side),
        "model_name": name,
        "model_version": version,
    }
    meta.update(extra or {})
    return meta


def export_onnx(
    model: DBNet,
    out: Path,
    name: str,
    version: str,
    max_side: int = 960,
    extra_meta: dict[str, str] | None = None,
    post: DBPostConfig | None = None,
) -> Path:
    return export_graph(
        _ProbOnly(model.float().eval()),
        torch.zeros(1, 1, 224, 320),
        out,
        "image",
        "prob",
        {"image": {0: "batch", 2: "height", 3: "width"}, "prob": {0: "batch", 2: "height", 3: "width"}},
        metadata(model, name, version, post or DBPostConfig(), max_side, extra_meta),
    )


def parity(model: DBNet, onnx_path: Path, sizes=((64, 96), (224, 320), (480, 352)), seed: int = 0) -> float:
    """Max |p_torch - p_onnx| over random inputs of several (H, W)."""
    model = model.float().eval()
    rng = np.random.default_rng(seed)
    pages = [rng.uniform(-1, 1, (1, 1, h, w)).astype(np.float32) for h, w in sizes]
    return max_abs_diff(model.forward_prob, onnx_path, "prob", pages)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="crnn-ocr-det-export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a detector training checkpoint (runs/det_v1/best.pt or last.pt)")
    p.add_argument("out", type=Path, help="output .onnx path")
    p.add_argument("--name", default="db_det_v1")
    p.add_argument("--version", default="0.1")
    p.add_argument("--max-side", type=int, default=800, help="longer side of the network input at inference (metadata)")
    p.add_argument("--bin-thresh", type=float, default=DBPostConfig.bin_thresh, help="probability threshold of text pixels (metadata)")
    p.add_argument("--box-thresh", type=float, default=DBPostConfig.box_thresh, help="mean probability a box must reach (metadata)")
    p.add_argument(
        "--unclip-scale", type=float, default=DBPostConfig.unclip_scale,
        help="x the distance that undoes the training shrink (metadata); below 1 when the model's kernels come out fatter than its targets",
    )
    p.add_argument(
        "--manifest", action="store_true",
        help="record the model (and its SHA-256) in OUT's folder manifest.json as the default text detector",
    )
    args = p.parse_args(argv)

    model, ckpt = load_dbnet(args.checkpoint, torch.device("cpu"))
    state = ckpt.get("state", {})
    extra = {"samples_seen": str(state.get("samples", "")), "train_steps": str(state.get("step", ""))}
    post = DBPostConfig(bin_thresh=args.bin_thresh, box_thresh=args.box_thresh, unclip_scale=args.unclip_scale)
    export_onnx(model, args.out, args.name, args.version, args.max_side, extra, post)
    diff = parity(model, args.out)
    print(f"exported {args.out} ({args.out.stat().st_size / 1e6:.2f} MB); max |torch - onnx| = {diff:.2e}")
    if diff > 1e-4:
        sys.exit(f"parity check failed: {diff:.2e} > 1e-4")
    if args.manifest:
        path = write_manifest(args.out.parent, args.name, args.out, role="detector")
        print(f"manifest: {path} (detector {args.name})")


if __name__ == "__main__":
    main()
