"""`crnn-ocr-export CHECKPOINT OUT.onnx`: ONNX export with the model's contract in its metadata.

The exported graph takes ``image`` [N,1,32,W] (dynamic N and W) and returns ``probs``
[N,W//width_stride,C] (softmax). Metadata carries the charset, blank index, input height, width
stride (the model's own), pixel normalisation and model name/version, so the runtime needs nothing
else. After export, a parity check runs the same random batch through PyTorch and ONNX Runtime.
``--int8`` additionally writes a dynamically quantised copy and reports its agreement, so it is
kept only if the measured loss is negligible. The ONNX writing, parity and manifest entry are the
exporter core's (``crnn_ocr_train.onnx_export``), shared with the detector's exporter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from crnn_ocr.charset import Charset

from .checkpoint import lineage, load_crnn, read_checkpoint, save_checkpoint
from .model import CRNN
from .onnx_export import export_graph, max_abs_diff, write_manifest


class _WithSoftmax(torch.nn.Module):
    def __init__(self, model: CRNN):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(image), dim=-1)


def metadata(model: CRNN, charset: Charset, name: str, version: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    meta = {
        **charset.to_metadata(),
        "input_height": str(model.config.height),
        "width_stride": str(model.width_stride),
        "pixel_mean": "0.5",
        "pixel_std": "0.5",
        "min_width": "16",
        "max_train_width": "512",
        "model_name": name,
        "model_version": version,
    }
    meta.update(extra or {})
    return meta


def export_onnx(model: CRNN, charset: Charset, out: Path, name: str, version: str, extra_meta: dict[str, str] | None = None) -> Path:
    return export_graph(
        _WithSoftmax(model.float().eval()),
        torch.zeros(2, 1, model.config.height, 160),
        out,
        "image",
        "probs",
        {"image": {0: "batch", 3: "width"}, "probs": {0: "batch", 1: "frames"}},
        metadata(model, charset, name, version, extra_meta),
    )


def parity(model: CRNN, onnx_path: Path, widths=(16, 100, 333, 800), seed: int = 0) -> float:
    """Max |p_torch - p_onnx| over random batches of several widths."""
    model = model.float().eval()
    rng = np.random.default_rng(seed)
    batches = [rng.uniform(-1, 1, (3, 1, model.config.height, w)).astype(np.float32) for w in widths]
    return max_abs_diff(lambda x: torch.softmax(model(x), -1), onnx_path, "probs", batches)


def quantize_int8(src: Path, dst: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    import onnx

    # quantize_dynamic keeps metadata_props; make sure it did.
    if not {p.key for p in onnx.load(str(dst)).metadata_props} >= {"charset", "input_height"}:
        raise RuntimeError("quantised model lost its metadata")
    return dst


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="crnn-ocr-export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a training checkpoint (runs/…/best.pt or last.pt)")
    p.add_argument("out", type=Path, help="output .onnx path")
    p.add_argument("--name", default="crnn_zh_en_v1")
    p.add_argument("--version", default="1.0")
    p.add_argument("--int8", action="store_true", help="also write OUT with .int8.onnx and report its agreement")
    p.add_argument("--manifest", action="store_true", help="record the model (and its SHA-256) in OUT's folder manifest.json")
    p.add_argument("--weights", type=Path, help="also write the weights (fp16, no optimizer) here, for --init fine-tuning")
    p.add_argument(
        "--prior", type=Path,
        help="the checkpoint the run was --init'ed from, when the run did not record it: its samples, steps "
        "and wall time are added to the totals",
    )
    args = p.parse_args(argv)

    model, charset, ckpt = load_crnn(args.checkpoint, torch.device("cpu"))
    state = dict(ckpt.get("state", {}))
    if args.prior is not None:
        state["prior"] = lineage(read_checkpoint(args.prior).get("state", {}))
    totals = lineage(state)
    extra = {
        "samples_seen": str(totals["samples"]),
        "train_steps": str(totals["steps"]),
        "train_wall_s": f"{totals['wall_s']:.0f}",
    }
    export_onnx(model, charset, args.out, args.name, args.version, extra)
    diff = parity(model, args.out)
    print(f"exported {args.out} ({args.out.stat().st_size / 1e6:.1f} MB); max |torch - onnx| = {diff:.2e}")
    if diff > 1e-4:
        sys.exit(f"parity check failed: {diff:.2e} > 1e-4")
    if args.int8:
        q = quantize_int8(args.out, args.out.with_suffix(".int8.onnx"))
        print(f"int8 copy {q} ({q.stat().st_size / 1e6:.1f} MB); max |torch - int8| = {parity(model, q):.2e}")
    if args.weights:
        save_checkpoint(args.weights, model, None, state, charset, half=True)
        print(f"weights {args.weights} ({args.weights.stat().st_size / 1e6:.1f} MB)")
    if args.manifest:
        print(f"manifest: {write_manifest(args.out.parent, args.name, args.out)}")


if __name__ == "__main__":
    main()
