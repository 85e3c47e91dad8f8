"""The exporter core of both models: a torch module to ONNX with the model's contract in the
metadata, the torch/ONNX Runtime parity check, and the model's manifest entry.

``crnn_ocr_train.export`` (the recognizer) and ``crnn_ocr_train.det_export`` (the detector) say
what their graph looks like and what their metadata holds; this module does the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from crnn_ocr.engine import EngineConfig, open_session
from crnn_ocr.models import MANIFEST_NAME, sha256_file

OPSET = 17


def export_graph(
    module: torch.nn.Module,
    example: torch.Tensor,
    out: Path,
    input_name: str,
    output_name: str,
    dynamic_axes: dict[str, dict[int, str]],
    metadata: dict[str, str],
) -> Path:
    """Write ``module`` (in eval mode, fp32) as ONNX to ``out`` with ``metadata`` as its only
    metadata_props, checked by ``onnx.checker``."""
    import onnx

    module = module.float().eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        module,
        (example,),
        str(out),
        input_names=[input_name],
        output_names=[output_name],
        dynamic_axes=dynamic_axes,
        opset_version=OPSET,
        dynamo=False,
    )
    proto = onnx.load(str(out))
    del proto.metadata_props[:]
    for k, v in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    return out


def max_abs_diff(
    reference: Callable[[torch.Tensor], torch.Tensor], onnx_path: Path, output_name: str, inputs: Iterable[np.ndarray]
) -> float:
    """Max |reference(x) - onnx(x)| over ``inputs`` (float32 batches); AssertionError naming the
    input shape when the two outputs' shapes differ."""
    session = open_session(onnx_path, EngineConfig())
    input_name = session.get_inputs()[0].name
    worst = 0.0
    for x in inputs:
        with torch.no_grad():
            ref = reference(torch.from_numpy(x)).numpy()
        (got,) = session.run([output_name], {input_name: x})
        if got.shape != ref.shape:
            raise AssertionError(f"input {x.shape}: ONNX output {got.shape} != PyTorch {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def write_manifest(models_dir: Path, name: str, onnx_file: Path, extra: dict | None = None, role: str | None = None) -> Path:
    """Record ``onnx_file`` (and its SHA-256) as model ``name`` in ``models_dir``'s manifest.json; the
    first model recorded becomes the default. ``role`` (``"detector"``): the manifest key that
    names the model for that role. Returns the manifest's path."""
    path = models_dir / MANIFEST_NAME
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"default": name, "models": {}}
    # a re-export keeps what else the entry records (its model card, ...)
    kept = {k: v for k, v in manifest["models"].get(name, {}).items() if k not in ("file", "sha256")}
    manifest["models"][name] = {**kept, "file": onnx_file.name, "sha256": sha256_file(onnx_file), **(extra or {})}
    manifest.setdefault("default", name)
    if role is not None:
        manifest[role] = name
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
