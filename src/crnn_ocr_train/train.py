"""`crnn-ocr-train --config configs/v1.toml`: train (or resume, or fine-tune) the CRNN.

- data: synthetic batches rendered in worker processes, or a user's labels.tsv (``--train-labels``)
  optionally mixed with synthetic lines so the model does not forget;
- bf16 autocast on CPU, CUDA when present; AdamW, warmup + cosine LR, gradient clipping;
- periodic validation (CER, line accuracy) on fixed sets, incl. one rendered in held-out fonts;
- checkpoints every few minutes (``last.pt``, ``best.pt``) and resume from ``last.pt``; SIGTERM or
  Ctrl-C ends the run cleanly (last validation and checkpoint first);
- ``log.csv`` and ``curves.png`` in the run folder; a tqdm progress bar.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Protocol

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from crnn_ocr.charset import BLANK_INDEX, Charset
from crnn_ocr.metrics import levenshtein

from .data import Batch, Curriculum, LabelledLines, SynthBatches, SynthConfig, make_batch, write_dataset
from .model import CRNN, CRNNConfig, count_parameters
from .render import RenderConfig
from .textgen import TextMix


@dataclass(frozen=True)
class ValSet:
    name: str
    n: int
    max_chars: int
    degrade: float
    heldout_fonts: bool
    seed: int
    scene_share: float = 0.0
    plate_share: float = 0.0
    mix: TextMix = TextMix()  # the set's own text kinds (``[val_sets.mix]``), not the training mix


@dataclass(frozen=True)
class TrainConfig:
    run_dir: str = "runs/v1"
    seed: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    total_samples: int = 2_000_000  # cosine schedule length
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0
    bf16: bool = True
    threads: int = 2
    workers: int = 1
    checkpoint_minutes: float = 5.0
    val_every_samples: int = 40_000
    val_limit: int = 400
    channels: tuple[int, ...] = (32, 64, 128, 128, 256, 256)
    lstm_hidden: int = 128
    curriculum: Curriculum = Curriculum()
    scene_share: float = 0.0  # share of scene-text word crops in the synthetic stream
    plate_share: float = 0.0  # share of licence-plate crops in the synthetic stream
    raster_share: float = 0.0  # share of lines drawn by Chromium / PDFium (cached by crnn-ocr-raster-lines)
    scan_effects: bool = False  # fax/bilevel scans, half-tone fields, smudges (``RenderConfig.scan_effects``)
    font_styles: bool = False  # width scaling, stroke weight, slant (``RenderConfig.font_styles``)
    photo_backgrounds: bool = False  # scene words on real photographs (``RenderConfig.photo_backgrounds``)
    mix: TextMix = TextMix()  # text kinds of the document lines (``[mix]`` table; unset kinds keep their default)
    val_sets: tuple[ValSet, ...] = (
        ValSet("synth_train_fonts", 400, 20, 0.7, False, 101),
        ValSet("synth_heldout_fonts", 400, 20, 0.7, True, 202),
    )


def load_config(path: Path | None) -> TrainConfig:
    if path is None:
        return TrainConfig()
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    kw = {}
    names = {f.name for f in fields(TrainConfig)}
    for k, v in raw.items():
        if k not in names:
            raise SystemExit(f"{path}: unknown setting {k!r}")
        if k == "curriculum":
            v = Curriculum(**v)
        elif k == "mix":
            v = _text_mix(v, path)
        elif k == "val_sets":
            v = tuple(ValSet(**{**s, "mix": _text_mix(s.get("mix", {}), path)}) for s in v)
        elif k == "channels":
            v = tuple(v)
        kw[k] = v
    return TrainConfig(**kw)


def _text_mix(weights: dict, path: Path) -> TextMix:
    bad = set(weights) - {f.name for f in fields(TextMix)}
    if bad:
        raise SystemExit(f"{path}: unknown [mix] text kind(s) {', '.join(sorted(bad))}")
    return TextMix(**weights)


# ---- helpers ---------------------------------------------------------------------------------


class Schedule(Protocol):
    """What ``lr_at`` reads from a training config (the recognizer's and the detector's)."""

    lr: float
    warmup_steps: int
    total_samples: int
    min_lr_ratio: float


def lr_at(step: int, samples: int, cfg: Schedule) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine to ``min_lr_ratio`` over ``total_samples``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    f = min(1.0, samples / cfg.total_samples)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * f)))


def ctc_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """logits [N,T,C] → mean CTC loss per target character (fp32)."""
    log_probs = F.log_softmax(logits.float(), dim=-1).permute(1, 0, 2)  # [T,N,C]
    t = logits.shape[1]
    input_lengths = torch.clamp(batch.widths // 4, max=t)
    return F.ctc_loss(log_probs, batch.targets, input_lengths, batch.target_lengths, blank=BLANK_INDEX, zero_infinity=True)


def greedy_texts(logits: torch.Tensor, widths: torch.Tensor, charset: Charset) -> list[str]:
    best = logits.argmax(-1).cpu().numpy()
    out = []
    for row, w in zip(best, widths.tolist()):
        row = row[: max(1, w // 4)]
        keep = np.ones(len(row), bool)
        keep[1:] = row[1:] != row[:-1]
        out.append(charset.decode(int(i) for i in row[keep] if i != BLANK_INDEX))
    return out


def evaluate(model: CRNN, data: LabelledLines, charset: Charset, device: torch.device, bf16: bool, limit: int) -> dict:
    model.eval()
    edits = chars = exact = n = 0
    with torch.no_grad():
        for batch in data.batches(64):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(batch.images.to(device))
            for ref, hyp in zip(batch.texts, greedy_texts(logits.float(), batch.widths, charset)):
                edits += levenshtein(ref, hyp)
                chars += len(ref)
                exact += ref == hyp
                n += 1
            if n >= limit:
                break
    model.train()
    return {"cer": edits / max(1, chars), "line_acc": exact / max(1, n), "n": n}


def ensure_val_sets(cfg: TrainConfig, charset: Charset, synth: SynthConfig) -> dict[str, LabelledLines]:
    out = {}
    for vs in cfg.val_sets:
        folder = Path(synth.cache_dir).parent / "val" / vs.name
        labels = folder / "labels.tsv"
        if not labels.exists():
            write_dataset(folder, charset, replace(synth, seed=vs.seed, heldout_fonts=vs.heldout_fonts, scene_share=vs.scene_share, plate_share=vs.plate_share, raster_share=0.0, mix=vs.mix), vs.n, vs.max_chars, vs.degrade)
        out[vs.name] = LabelledLines(labels, charset)
    return out


def save_checkpoint(path: Path, model: CRNN, opt, state: dict, charset: Charset) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict() if opt is not None else None,
            "model_config": model.config.to_dict(),
            "charset": list(charset.chars),
            "state": state,
        },
        tmp,
    )
    os.replace(tmp, path)


def load_model(path: Path, device: torch.device) -> tuple[CRNN, Charset, dict]:
    ckpt = torch.load(path, map_location=device, weights_only=False)
    mc = dict(ckpt["model_config"])
    mc["channels"] = tuple(mc["channels"])
    model = CRNN(CRNNConfig(**mc)).to(device)
    model.load_state_dict({k: v.float() for k, v in ckpt["model"].items()})
    return model, Charset(tuple(ckpt["charset"])), ckpt


def plot_curves(log_path: Path, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(log_path.open(encoding="utf-8")))
    if not rows:
        return
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    s = [int(r["samples"]) for r in rows]
    ax[0].plot(s, [float(r["loss"]) for r in rows], lw=0.8)
    ax[0].set_xlabel("samples seen")
    ax[0].set_ylabel("CTC loss")
    ax[0].set_yscale("log")
    for key in [k for k in rows[0] if k.endswith("_cer")]:
        pts = [(int(r["samples"]), float(r[key])) for r in rows if r[key]]
        if pts:
            ax[1].plot(*zip(*pts), marker="o", ms=3, label=key)
    ax[1].set_xlabel("samples seen")
    ax[1].set_ylabel("CER (greedy)")
    ax[1].set_ylim(0, 1)
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)


# ---- the loop --------------------------------------------------------------------------------


def labelled_batches(data: LabelledLines, batch_size: int, rng: np.random.Generator):
    while True:
        order = rng.permutation(len(data))
        for s in range(0, len(order) - batch_size + 1 if len(order) >= batch_size else 1, batch_size):
            items = [data[int(i)] for i in order[s : s + batch_size]]
            items.sort(key=lambda it: it[0].shape[1])
            yield make_batch(data.charset, items)


def train(args: argparse.Namespace) -> None:
    cfg = load_config(args.config)
    if args.run_dir:
        cfg = replace(cfg, run_dir=args.run_dir)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    torch.set_num_threads(cfg.threads)
    # Adam moments of rarely seen classes decay into denormals, which are ~100x slower on x86 CPUs.
    torch.set_flush_denormal(True)
    torch.manual_seed(cfg.seed)
    bf16 = cfg.bf16 and (device.type == "cpu" or torch.cuda.is_bf16_supported())

    last = run / "last.pt"
    state = {"step": 0, "samples": 0, "best_cer": None, "wall_s": 0.0}
    opt_state = None
    if args.resume and last.exists():
        model, charset, ckpt = load_model(last, device)
        state.update(ckpt["state"])
        opt_state = ckpt["optimizer"]
        print(f"resumed {last}: step {state['step']}, {state['samples']} samples", file=sys.stderr)
    elif args.init:
        model, charset, init_ckpt = load_model(Path(args.init), device)
        # Keep the lineage: exported models count the samples of every run they grew from.
        from .export import lineage

        state["prior"] = lineage(init_ckpt.get("state", {}))
        print(f"initialised from {args.init}", file=sys.stderr)
    else:
        charset = Charset.default()
        model = CRNN(CRNNConfig(num_classes=charset.num_classes, channels=cfg.channels, lstm_hidden=cfg.lstm_hidden)).to(device)
    print(f"model: {count_parameters(model) / 1e6:.2f}M parameters, device {device}, bf16 {bf16}", file=sys.stderr)

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if opt_state is not None:
        opt.load_state_dict(opt_state)

    synth = SynthConfig(
        seed=cfg.seed, batch_size=cfg.batch_size, curriculum=cfg.curriculum, scene_share=cfg.scene_share,
        plate_share=cfg.plate_share, raster_share=cfg.raster_share, mix=cfg.mix, render=RenderConfig(scan_effects=cfg.scan_effects, font_styles=cfg.font_styles, photo_backgrounds=cfg.photo_backgrounds),
    )
    val_sets = ensure_val_sets(cfg, charset, synth)
    if args.val_labels:
        for p in args.val_labels:
            val_sets[Path(p).parent.name] = LabelledLines(Path(p), charset)

    synth_iter = None
    if not args.train_labels or args.synth_mix > 0:
        loader = DataLoader(
            SynthBatches(charset, synth, start_samples=state["samples"]),
            batch_size=None,
            num_workers=cfg.workers,
            prefetch_factor=4 if cfg.workers else None,
            persistent_workers=bool(cfg.workers),
            # A forked worker can inherit OpenCV/OpenMP thread-pool locks held in this process
            # (e.g. after rendering the validation sets) and hang on its first cv2 call.
            multiprocessing_context="spawn" if cfg.workers else None,
        )
        synth_iter = iter(loader)
    user_iter = None
    if args.train_labels:
        user = LabelledLines(Path(args.train_labels), charset)
        user_iter = labelled_batches(user, cfg.batch_size, np.random.default_rng(cfg.seed + state["step"]))
        print(f"fine-tuning on {len(user)} labelled lines from {args.train_labels}", file=sys.stderr)
    mix_rng = np.random.default_rng(cfg.seed + 1 + state["step"])

    log_path = run / "log.csv"
    val_keys = [f"{name}_{m}" for name in val_sets for m in ("cer", "acc")]
    header = ["step", "samples", "wall_s", "loss", "lr", "samples_per_s", *val_keys]
    if not log_path.exists() or not args.resume:
        with log_path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(header)

    deadline = time.time() + args.max_minutes * 60 if args.max_minutes else None
    stop_requested = []  # SIGTERM/SIGINT: finish the step, validate, checkpoint, exit
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_requested.append(True))
    target = args.max_samples
    next_val = (state["samples"] // cfg.val_every_samples + 1) * cfg.val_every_samples
    last_ckpt = time.time()
    t_prev, s_prev = time.time(), state["samples"]
    loss_ema = None
    bar = tqdm(total=target or None, initial=state["samples"], unit="smp", dynamic_ncols=True, mininterval=5)
    model.train()
    while True:
        if user_iter is not None and (synth_iter is None or mix_rng.random() >= args.synth_mix):
            batch = next(user_iter)
        else:
            batch = next(synth_iter)
        lr = lr_at(state["step"], state["samples"], cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(batch.images.to(device, non_blocking=True))
        loss = ctc_loss(logits, Batch(batch.images, batch.targets.to(device), batch.target_lengths.to(device), batch.widths.to(device), batch.texts))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        n = len(batch.texts)
        state["step"] += 1
        state["samples"] += n
        lv = loss.item()
        loss_ema = lv if loss_ema is None else 0.98 * loss_ema + 0.02 * lv
        bar.update(n)
        bar.set_postfix(loss=f"{loss_ema:.3f}", lr=f"{lr:.2e}", refresh=False)

        now = time.time()
        done = (target and state["samples"] >= target) or (deadline and now >= deadline) or bool(stop_requested)
        row = None
        if state["step"] % 50 == 0 or done or state["samples"] >= next_val:
            sps = (state["samples"] - s_prev) / max(1e-6, now - t_prev)
            state["wall_s"] += now - t_prev
            t_prev, s_prev = now, state["samples"]
            row = {"step": state["step"], "samples": state["samples"], "wall_s": round(state["wall_s"], 1), "loss": round(loss_ema, 4), "lr": f"{lr:.3e}", "samples_per_s": round(sps, 1)}
        if state["samples"] >= next_val or done:
            next_val = (state["samples"] // cfg.val_every_samples + 1) * cfg.val_every_samples
            scores = {name: evaluate(model, data, charset, device, bf16, cfg.val_limit) for name, data in val_sets.items()}
            for name, sc in scores.items():
                row[f"{name}_cer"] = round(sc["cer"], 4)
                row[f"{name}_acc"] = round(sc["line_acc"], 4)
            key_cer = sum(sc["cer"] for sc in scores.values()) / len(scores) if scores else None
            tqdm.write(f"[val] samples {state['samples']}: " + ", ".join(f"{k} CER {v['cer']:.4f} acc {v['line_acc']:.3f}" for k, v in scores.items()), file=sys.stderr)
            if key_cer is not None and (state["best_cer"] is None or key_cer < state["best_cer"]):
                state["best_cer"] = key_cer
                save_checkpoint(run / "best.pt", model, None, dict(state), charset)
            t_prev = time.time()  # validation time is not training throughput
        if row is not None:
            with log_path.open("a", newline="", encoding="utf-8") as f:
                csv.DictWriter(f, fieldnames=header).writerow(row)
            if any(k in row for k in val_keys):
                plot_curves(log_path, run / "curves.png")
        if done or now - last_ckpt >= cfg.checkpoint_minutes * 60:
            save_checkpoint(last, model, opt, dict(state), charset)
            last_ckpt = now
        if done:
            break
    bar.close()
    print(f"stopped at step {state['step']}, {state['samples']} samples; checkpoints in {run}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="crnn-ocr-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="TOML file of TrainConfig settings (configs/v1.toml)")
    p.add_argument("--run-dir", help="where checkpoints, log.csv and curves.png go (overrides the config)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt if it exists")
    p.add_argument("--init", help="start from this checkpoint's weights (fine-tuning), e.g. models/crnn_zh_en_v1.pt")
    p.add_argument("--train-labels", help="fine-tune on this labels.tsv (relative/path<TAB>text)")
    p.add_argument("--synth-mix", type=float, default=0.3, help="with --train-labels: share of synthetic batches (0 = none)")
    p.add_argument("--val-labels", action="append", help="extra labels.tsv to validate on (repeatable)")
    p.add_argument("--max-samples", type=int, default=0, help="stop after this many samples in total (0 = no limit)")
    p.add_argument("--max-minutes", type=float, default=0, help="stop after this many minutes of this run (0 = no limit)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if CUDA is present")
    args = p.parse_args(argv)
    if not args.max_samples and not args.max_minutes:
        p.error("give --max-samples or --max-minutes so the run ends")
    train(args)


if __name__ == "__main__":
    main()
