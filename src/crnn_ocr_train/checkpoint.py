"""Training checkpoints of both models: one file format, written atomically, read back.

A checkpoint is a ``torch.save`` of a dict::

    model         the state dict (fp32 while training; fp16 in ``--weights`` copies)
    optimizer     the AdamW state dict, or None (``best.pt``, ``--weights`` copies)
    model_config  ``CRNNConfig`` / ``DBNetConfig`` as a dict
    charset       the recognizer's characters, list[str] (the detector has none)
    state         {"step", "samples", "wall_s", "best_cer" | "best_hmean"} and, for a run started
                  with ``--init``, "prior": the ``lineage`` of the checkpoint it grew from

``last.pt`` is what ``--resume`` continues from, ``best.pt`` the best validation so far. The
trainers write them, the exporters read them; neither imports the other.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from crnn_ocr.charset import Charset

from .det_model import DBNet, DBNetConfig
from .model import CRNN, CRNNConfig


def save_checkpoint(
    path: Path,
    model: CRNN | DBNet,
    opt: torch.optim.Optimizer | None,
    state: dict,
    charset: Charset | None = None,
    half: bool = False,
) -> None:
    """Write ``model``'s checkpoint to ``path`` (through a temporary file, so a reader never sees a
    half-written one). ``half``: the weights as fp16 (a copy for ``--init``, not for resuming)."""
    weights = model.state_dict()
    if half:
        weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    ckpt = {"model": weights, "optimizer": opt.state_dict() if opt is not None else None, "model_config": model.config.to_dict()}
    if charset is not None:
        ckpt["charset"] = list(charset.chars)
    ckpt["state"] = state
    tmp = path.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """The checkpoint dict at ``path`` (tensors on ``device``)."""
    return torch.load(path, map_location=device, weights_only=False)


def _load_weights(model: nn.Module, ckpt: dict, device: torch.device) -> None:
    model.to(device).load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()})


def _config_values(ckpt: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["model_config"].items()}


def load_crnn(path: Path, device: torch.device) -> tuple[CRNN, Charset, dict]:
    """The recognizer of the checkpoint at ``path`` (fp32 on ``device``), its charset and the whole
    checkpoint dict."""
    ckpt = read_checkpoint(path, device)
    model = CRNN(CRNNConfig(**_config_values(ckpt)))
    _load_weights(model, ckpt, device)
    return model, Charset(tuple(ckpt["charset"])), ckpt


def load_dbnet(path: Path, device: torch.device) -> tuple[DBNet, dict]:
    """The detector of the checkpoint at ``path`` (fp32 on ``device``) and the whole checkpoint dict."""
    ckpt = read_checkpoint(path, device)
    model = DBNet(DBNetConfig(**_config_values(ckpt)))
    _load_weights(model, ckpt, device)
    return model, ckpt


def lineage(state: dict) -> dict:
    """Samples, steps and wall time of a checkpoint including every run it was --init'ed from."""
    prior = state.get("prior") or {"samples": 0, "steps": 0, "wall_s": 0.0}
    return {
        "samples": int(state.get("samples", 0)) + int(prior["samples"]),
        "steps": int(state.get("step", 0)) + int(prior["steps"]),
        "wall_s": float(state.get("wall_s", 0.0)) + float(prior["wall_s"]),
    }
