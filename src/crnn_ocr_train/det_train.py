"""`crnn-ocr-det-train --config configs/det_v1.toml`: train (or resume) the DB text detector.

The training loop both trainers share (``crnn_ocr_train.loop``) with the detector's ``DetectorTask``:

- synthetic page crops rendered in a DataLoader worker process (spawned, not forked);
- bf16 autocast on the CPU, CUDA when present; AdamW, warmup + cosine LR, gradient clipping;
  ``torch.set_flush_denormal(True)``;
- periodic validation on a fixed set of rendered pages: the loss, and precision / recall /
  H-mean at IoU 0.5, the pages prepared and post-processed by the runtime's own code
  (``crnn_ocr.detect_learned``: ``prepare_page``, ``db_boxes``);
- checkpoints every few minutes (``last.pt``, ``best.pt`` by H-mean) and ``--resume``; SIGTERM or
  Ctrl-C ends the run cleanly (last validation and checkpoint first);
- ``log.csv`` and ``curves.png`` in the run folder; a tqdm progress bar.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from crnn_ocr.charset import Charset
from crnn_ocr.detect_learned import DBPostConfig, db_boxes, prepare_page
from crnn_ocr.detect_metrics import match_boxes

from .checkpoint import load_dbnet
from .config import DetTrainConfig, load_config
from .det_data import PIXEL_MEAN, PIXEL_STD, DetBatch, DetBatches, DetSynthConfig, db_targets, render_val_pages
from .det_model import DBNet, DBNetConfig, count_parameters, db_loss, inference_macs
from .det_pages import DetPage
from .loop import Curves, Limits, LogFormat, StepLoss, TaskDefaults, Validation, autocast, initial_state, run_loop, setup_torch


def evaluate(model: DBNet, pages: list[DetPage], device: torch.device, bf16: bool, max_side: int) -> dict:
    """Loss on the pages at input size, and P/R/H at IoU 0.5 of the post-processed boxes. Pages are
    prepared and post-processed by the runtime's own code (``crnn_ocr.detect_learned``)."""
    model.eval()
    matched = n_pred = n_gt = 0
    losses = []
    post = DBPostConfig()
    with torch.no_grad():
        for page in pages:
            x, (fx, fy) = prepare_page(page.image, max_side, model.stride, PIXEL_MEAN, PIXEL_STD)
            with autocast(device, bf16):
                out = model(torch.from_numpy(x).to(device))
            scaled = [replace(r, polygon=r.polygon / np.float32([fx, fy])) for r in page.regions]
            t = db_targets(x.shape[2:], scaled)
            loss, _ = db_loss(out, *(torch.from_numpy(a)[None].to(device) for a in (t.prob, t.prob_mask, t.thresh, t.thresh_mask)))
            losses.append(float(loss))
            prob = out[0][0].float().cpu().numpy()
            boxes = db_boxes(prob, post, scale=(fx, fy))
            gts = [r.polygon for r in page.regions if not r.ignore]
            ignores = [r.polygon for r in page.regions if r.ignore]
            m, p, g = match_boxes([np.asarray(b, np.float32) for b in boxes], gts, ignores)
            matched, n_pred, n_gt = matched + m, n_pred + p, n_gt + g
    model.train()
    prec, rec = matched / max(1, n_pred), matched / max(1, n_gt)
    hmean = 2 * prec * rec / max(1e-9, prec + rec)
    return {"loss": float(np.mean(losses)) if losses else 0.0, "precision": prec, "recall": rec, "hmean": hmean}


class DetectorTask(TaskDefaults):
    """The detector's part of the training loop (``crnn_ocr_train.loop.Task``): DB loss, P/R/H on
    the validation pages, best.pt by H-mean."""

    best_key = "best_hmean"
    charset = None  # detector checkpoints carry no charset
    log = LogFormat(
        unit="img", every_steps=10, ema_decay=0.95, rate_digits=2, loss_parts=("prob", "binary", "thresh"),
        val_columns=("val_loss", "val_precision", "val_recall", "val_hmean"),
        curves=Curves(
            "DB loss", "synthetic val pages, IoU 0.5",
            (("val_precision", "precision"), ("val_recall", "recall"), ("val_hmean", "hmean")), val_loss="val_loss",
        ),
    )

    def __init__(self, batches: Iterator[DetBatch], val_pages: list[DetPage], val_max_side: int, device: torch.device, bf16: bool) -> None:
        self.batches, self.val_pages, self.val_max_side, self.device, self.bf16 = batches, val_pages, val_max_side, device, bf16

    def next_batch(self) -> DetBatch:
        return next(self.batches)

    def loss(self, model: nn.Module, batch: DetBatch) -> StepLoss:
        with autocast(self.device, self.bf16):
            out = model(batch.images.to(self.device, non_blocking=True))
        loss, parts = db_loss(out, *(t.to(self.device) for t in (batch.prob, batch.prob_mask, batch.thresh, batch.thresh_mask)))
        return StepLoss(loss, parts, batch.images.shape[0])

    def validate(self, model: nn.Module) -> Validation:
        sc = evaluate(model, self.val_pages, self.device, self.bf16, self.val_max_side)  # type: ignore[arg-type]
        summary = f"loss {sc['loss']:.4f} P {sc['precision']:.3f} R {sc['recall']:.3f} H {sc['hmean']:.3f}"
        return Validation({f"val_{k}": v for k, v in sc.items()}, sc["hmean"], summary)

    def improves(self, score: float, best: float | None) -> bool:
        return best is None or score >= best


def train(args: argparse.Namespace) -> None:
    cfg = load_config(args.config, DetTrainConfig)
    if args.run_dir:
        cfg = replace(cfg, run_dir=args.run_dir)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    device, bf16 = setup_torch(cfg, args.cpu)

    last = run / "last.pt"
    state = initial_state(DetectorTask.best_key)
    opt_state = None
    if args.resume and last.exists():
        model, ckpt = load_dbnet(last, device)
        state.update(ckpt["state"])
        opt_state = ckpt["optimizer"]
        print(f"resumed {last}: step {state['step']}, {state['samples']} samples", file=sys.stderr)
    else:
        model = DBNet(DBNetConfig(channels=cfg.channels, blocks=cfg.blocks, fpn=cfg.fpn)).to(device)
    print(
        f"model: {count_parameters(model) / 1e6:.3f}M parameters, {inference_macs(model) / 1e9:.2f} GMAC at 640x640, "
        f"device {device}, bf16 {bf16}",
        file=sys.stderr,
    )

    charset = Charset.default()
    synth = DetSynthConfig(seed=cfg.seed, batch_size=cfg.batch_size, size=cfg.size, page=cfg.page)
    val_pages = render_val_pages(charset, synth, cfg.val_pages, cfg.val_seed)
    loader = DataLoader(
        DetBatches(charset, synth, start_samples=state["samples"]),
        batch_size=None,
        num_workers=cfg.workers,
        prefetch_factor=4 if cfg.workers else None,
        persistent_workers=bool(cfg.workers),
        # A forked worker can inherit OpenCV thread-pool locks held here (the validation pages
        # were just rendered) and hang on its first cv2 call.
        multiprocessing_context="spawn" if cfg.workers else None,
    )
    task = DetectorTask(iter(loader), val_pages, cfg.val_max_side, device, bf16)
    run_loop(task, model, cfg, run, Limits(args.max_samples, args.max_minutes), state, opt_state, resume=args.resume)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="crnn-ocr-det-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="TOML file of DetTrainConfig settings (configs/det_v1.toml)")
    p.add_argument("--run-dir", help="where checkpoints, log.csv and curves.png go (overrides the config)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt if it exists")
    p.add_argument("--max-samples", type=int, default=0, help="stop after this many page crops in total (0 = no limit)")
    p.add_argument("--max-minutes", type=float, default=0, help="stop after this many minutes of this run (0 = no limit)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if CUDA is present")
    args = p.parse_args(argv)
    if not args.max_samples and not args.max_minutes:
        p.error("give --max-samples or --max-minutes so the run ends")
    train(args)


if __name__ == "__main__":
    main()
