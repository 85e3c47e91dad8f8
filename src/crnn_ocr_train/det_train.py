"""`crnn-ocr-det-train --config configs/det_v1.toml`: train (or resume) the DB text detector.

Same conventions as the recognizer's trainer (``crnn_ocr_train.train``):

- synthetic page crops rendered in a DataLoader worker process (spawned, not forked);
- bf16 autocast on the CPU, CUDA when present; AdamW, warmup + cosine LR, gradient clipping;
  ``torch.set_flush_denormal(True)``;
- periodic validation on a fixed set of rendered pages: the loss, and precision / recall /
  H-mean at IoU 0.5 of the runtime's own post-processing (``crnn_ocr.detect_learned``);
- checkpoints every few minutes (``last.pt``, ``best.pt`` by H-mean) and ``--resume``; SIGTERM or
  Ctrl-C ends the run cleanly (last validation and checkpoint first);
- ``log.csv`` and ``curves.png`` in the run folder; a tqdm progress bar.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from crnn_ocr.charset import Charset
from crnn_ocr.detect_learned import DBPostConfig, db_boxes
from crnn_ocr.detect_metrics import match_boxes

from .det_data import (
    PIXEL_MEAN,
    PIXEL_STD,
    DetBatch,
    DetBatches,
    DetSynthConfig,
    db_targets,
    render_val_pages,
)
from .det_model import DBNet, DBNetConfig, count_parameters, db_loss, inference_macs
from .det_pages import DetPage, PageConfig
from .train import lr_at


@dataclass(frozen=True)
class DetTrainConfig:
    run_dir: str = "runs/det_v1"
    seed: int = 0
    batch_size: int = 8
    size: int = 448  # square training crops
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    total_samples: int = 200_000  # cosine schedule length
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0
    bf16: bool = True
    threads: int = 2
    workers: int = 1
    checkpoint_minutes: float = 5.0
    val_every_samples: int = 2_000
    val_pages: int = 24
    val_seed: int = 909
    val_max_side: int = 640
    channels: tuple[int, ...] = DBNetConfig().channels
    blocks: tuple[int, ...] = DBNetConfig().blocks
    fpn: int = DBNetConfig().fpn
    page: PageConfig = PageConfig()


def load_config(path: Path | None) -> DetTrainConfig:
    if path is None:
        return DetTrainConfig()
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    names = {f.name for f in fields(DetTrainConfig)}
    kw = {}
    for k, v in raw.items():
        if k not in names:
            raise SystemExit(f"{path}: unknown setting {k!r}")
        if k == "page":
            page_names = {f.name for f in fields(PageConfig)}
            bad = set(v) - page_names
            if bad:
                raise SystemExit(f"{path}: unknown [page] setting(s) {', '.join(sorted(bad))}")
            v = PageConfig(**{pk: tuple(pv) if isinstance(pv, list) else pv for pk, pv in v.items()})
        elif isinstance(v, list):
            v = tuple(v)
        kw[k] = v
    return DetTrainConfig(**kw)


# ---- validation --------------------------------------------------------------------------------


def page_input(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float, float]:
    """Grey page → network input [1, 1, H', W'] (long side <= max_side, multiples of 32) and the
    x, y factors from input pixels back to page pixels."""
    import cv2

    h, w = image.shape
    f = min(1.0, max_side / max(h, w))
    nh, nw = max(32, round(h * f / 32) * 32), max(32, round(w * f / 32) * 32)
    x = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    x = (x.astype(np.float32) / 255.0 - PIXEL_MEAN) / PIXEL_STD
    return x[None, None], w / nw, h / nh


def evaluate(model: DBNet, pages: list[DetPage], device: torch.device, bf16: bool, max_side: int) -> dict:
    """Loss on the pages at input size, and P/R/H at IoU 0.5 of the post-processed boxes."""
    model.eval()
    matched = n_pred = n_gt = 0
    losses = []
    post = DBPostConfig()
    with torch.no_grad():
        for page in pages:
            x, fx, fy = page_input(page.image, max_side)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
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


# ---- checkpoints and curves ------------------------------------------------------------------


def save_checkpoint(path: Path, model: DBNet, opt, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict() if opt is not None else None, "model_config": model.config.to_dict(), "state": state}, tmp)
    os.replace(tmp, path)


def load_model(path: Path, device: torch.device) -> tuple[DBNet, dict]:
    ckpt = torch.load(path, map_location=device, weights_only=False)
    mc = {k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["model_config"].items()}
    model = DBNet(DBNetConfig(**mc)).to(device)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()})
    return model, ckpt


def plot_curves(log_path: Path, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(log_path.open(encoding="utf-8")))
    if not rows:
        return
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    s = [int(r["samples"]) for r in rows]
    ax[0].plot(s, [float(r["loss"]) for r in rows], lw=0.8, label="train")
    vpts = [(int(r["samples"]), float(r["val_loss"])) for r in rows if r.get("val_loss")]
    if vpts:
        ax[0].plot(*zip(*vpts), marker="o", ms=3, label="val")
    ax[0].set_xlabel("samples seen")
    ax[0].set_ylabel("DB loss")
    ax[0].legend()
    for key in ("val_precision", "val_recall", "val_hmean"):
        pts = [(int(r["samples"]), float(r[key])) for r in rows if r.get(key)]
        if pts:
            ax[1].plot(*zip(*pts), marker="o", ms=3, label=key[4:])
    ax[1].set_xlabel("samples seen")
    ax[1].set_ylabel("synthetic val pages, IoU 0.5")
    ax[1].set_ylim(0, 1)
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)


# ---- the loop ----------------------------------------------------------------------------------


def train(args: argparse.Namespace) -> None:
    cfg = load_config(args.config)
    if args.run_dir:
        cfg = replace(cfg, run_dir=args.run_dir)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    torch.set_num_threads(cfg.threads)
    torch.set_flush_denormal(True)  # Adam moments decaying into denormals are ~100x slower on x86
    torch.manual_seed(cfg.seed)
    bf16 = cfg.bf16 and (device.type == "cpu" or torch.cuda.is_bf16_supported())

    last = run / "last.pt"
    state = {"step": 0, "samples": 0, "best_hmean": None, "wall_s": 0.0}
    opt_state = None
    if args.resume and last.exists():
        model, ckpt = load_model(last, device)
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
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if opt_state is not None:
        opt.load_state_dict(opt_state)

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
    batches = iter(loader)

    log_path = run / "log.csv"
    header = ["step", "samples", "wall_s", "loss", "loss_prob", "loss_binary", "loss_thresh", "lr", "samples_per_s", "val_loss", "val_precision", "val_recall", "val_hmean"]
    if not log_path.exists() or not args.resume:
        with log_path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(header)

    deadline = time.time() + args.max_minutes * 60 if args.max_minutes else None
    stop_requested: list[bool] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_requested.append(True))
    target = args.max_samples
    next_val = (state["samples"] // cfg.val_every_samples + 1) * cfg.val_every_samples
    last_ckpt = time.time()
    t_prev, s_prev = time.time(), state["samples"]
    ema: dict[str, float] = {}
    bar = tqdm(total=target or None, initial=state["samples"], unit="img", dynamic_ncols=True, mininterval=5)
    model.train()
    while True:
        batch: DetBatch = next(batches)
        lr = lr_at(state["step"], state["samples"], cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(batch.images.to(device, non_blocking=True))
        loss, parts = db_loss(out, *(t.to(device) for t in (batch.prob, batch.prob_mask, batch.thresh, batch.thresh_mask)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        n = batch.images.shape[0]
        state["step"] += 1
        state["samples"] += n
        for k, v in {"loss": loss.item(), **parts}.items():
            ema[k] = v if k not in ema else 0.95 * ema[k] + 0.05 * v
        bar.update(n)
        bar.set_postfix(loss=f"{ema['loss']:.3f}", lr=f"{lr:.2e}", refresh=False)

        now = time.time()
        done = bool((target and state["samples"] >= target) or (deadline and now >= deadline) or stop_requested)
        row = None
        if state["step"] % 10 == 0 or done or state["samples"] >= next_val:
            sps = (state["samples"] - s_prev) / max(1e-6, now - t_prev)
            state["wall_s"] += now - t_prev
            t_prev, s_prev = now, state["samples"]
            row = {
                "step": state["step"], "samples": state["samples"], "wall_s": round(state["wall_s"], 1),
                "loss": round(ema["loss"], 4), "loss_prob": round(ema["prob"], 4), "loss_binary": round(ema["binary"], 4),
                "loss_thresh": round(ema["thresh"], 4), "lr": f"{lr:.3e}", "samples_per_s": round(sps, 2),
            }
        if state["samples"] >= next_val or done:
            next_val = (state["samples"] // cfg.val_every_samples + 1) * cfg.val_every_samples
            sc = evaluate(model, val_pages, device, bf16, cfg.val_max_side)
            row.update({f"val_{k}": round(v, 4) for k, v in sc.items()})
            tqdm.write(f"[val] samples {state['samples']}: loss {sc['loss']:.4f} P {sc['precision']:.3f} R {sc['recall']:.3f} H {sc['hmean']:.3f}", file=sys.stderr)
            if state["best_hmean"] is None or sc["hmean"] >= state["best_hmean"]:
                state["best_hmean"] = sc["hmean"]
                save_checkpoint(run / "best.pt", model, None, dict(state))
            t_prev = time.time()  # validation time is not training throughput
        if row is not None:
            with log_path.open("a", newline="", encoding="utf-8") as f:
                csv.DictWriter(f, fieldnames=header).writerow(row)
            if "val_loss" in row:
                plot_curves(log_path, run / "curves.png")
        if done or now - last_ckpt >= cfg.checkpoint_minutes * 60:
            save_checkpoint(last, model, opt, dict(state))
            last_ckpt = now
        if done:
            break
    bar.close()
    print(f"stopped at step {state['step']}, {state['samples']} samples; checkpoints in {run}", file=sys.stderr)


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
