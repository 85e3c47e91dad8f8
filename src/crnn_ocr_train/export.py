"""`crnn-ocr-export CHECKPOINT OUT.onnx`: ONNX export with the model's contract in its metadata.

The exported graph takes ``image`` [N,1,32,W] (dynamic N and W) and returns ``probs`` [N,W//4,C]
(softmax). Metadata carries the charset, blank index, input height, width stride, pixel
normalisation and model name/version, so the runtime needs nothing else. After export, a parity
check runs the same random batch through PyTorch and ONNX Runtime. ``--int8`` additionally
writes a dynamically quantised copy and reports its agreement, so it is kept only if the
measured loss is negligible.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from crnn_ocr.charset import Charset

from .model import CRNN
from .train import load_model

INPUT_HEIGHT = 32
WIDTH_STRIDE = 4


class _WithSoftmax(torch.nn.Module):
    def __init__(self, model: CRNN):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(image), dim=-1)


def metadata(charset: Charset, name: str, version: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    meta = {
        **charset.to_metadata(),
        "input_height": str(INPUT_HEIGHT),
        "width_stride": str(WIDTH_STRIDE),
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
    import onnx

    model = model.float().eval()
    wrapped = _WithSoftmax(model)
    dummy = torch.zeros(2, 1, INPUT_HEIGHT, 160)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        wrapped,
        (dummy,),
        str(out),
        input_names=["image"],
        output_names=["probs"],
        dynamic_axes={"image": {0: "batch", 3: "width"}, "probs": {0: "batch", 1: "frames"}},
        opset_version=17,
        dynamo=False,
    )
    proto = onnx.load(str(out))
    del proto.metadata_props[:]
    for k, v in metadata(charset, name, version, extra_meta).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out


def parity(model: CRNN, onnx_path: Path, widths=(16, 100, 333, 800), seed: int = 0) -> float:
    """Max |p_torch - p_onnx| over random batches of several widths."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    model = model.float().eval()
    for w in widths:
        x = rng.uniform(-1, 1, (3, 1, INPUT_HEIGHT, w)).astype(np.float32)
        with torch.no_grad():
            ref = torch.softmax(model(torch.from_numpy(x)), -1).numpy()
        got = sess.run(["probs"], {"image": x})[0]
        if got.shape != ref.shape:
            raise AssertionError(f"width {w}: ONNX output {got.shape} != PyTorch {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def quantize_int8(src: Path, dst: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    import onnx

    # quantize_dynamic keeps metadata_props; make sure it did.
    if not {p.key for p in onnx.load(str(dst)).metadata_props} >= {"charset", "input_height"}:
        raise RuntimeError("quantised model lost its metadata")
    return dst


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(models_dir: Path, name: str, onnx_file: Path, extra: dict | None = None) -> Path:
    path = models_dir / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"default": name, "models": {}}
    # a re-export keeps what else the entry records (its model card, ...)
    kept = {k: v for k, v in manifest["models"].get(name, {}).items() if k not in ("file", "sha256")}
    manifest["models"][name] = {**kept, "file": onnx_file.name, "sha256": sha256(onnx_file), **(extra or {})}
    manifest.setdefault("default", name)
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def lineage(state: dict) -> dict:
    """Samples, steps and wall time of a checkpoint including every run it was --init'ed from."""
    prior = state.get("prior") or {"samples": 0, "steps": 0, "wall_s": 0.0}
    return {
        "samples": int(state.get("samples", 0)) + int(prior["samples"]),
        "steps": int(state.get("step", 0)) + int(prior["steps"]),
        "wall_s": float(state.get("wall_s", 0.0)) + float(prior["wall_s"]),
    }


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

    model, charset, ckpt = load_model(args.checkpoint, torch.device("cpu"))
    state = dict(ckpt.get("state", {}))
    if args.prior is not None:
        prior_state = torch.load(args.prior, map_location="cpu", weights_only=False).get("state", {})
        state["prior"] = lineage(prior_state)
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
        torch.save(
            {
                "model": {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()},
                "optimizer": None,
                "model_config": model.config.to_dict(),
                "charset": list(charset.chars),
                "state": state,
            },
            args.weights,
        )
        print(f"weights {args.weights} ({args.weights.stat().st_size / 1e6:.1f} MB)")
    if args.manifest:
        print(f"manifest: {write_manifest(args.out.parent, args.name, args.out)}")


if __name__ == "__main__":
    main()
