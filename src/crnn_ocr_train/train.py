"""`crnn-ocr-train --config configs/v1.toml`: train (or resume, or fine-tune) the CRNN.

- data: synthetic batches rendered in worker processes, or a user's labels.tsv (``--train-labels``)
  optionally mixed with synthetic lines so the model does not forget;
- bf16 autocast on CPU, CUDA when present; AdamW, warmup + cosine LR, gradient clipping;
- periodic validation (CER, line accuracy) on fixed sets, incl. one rendered in held-out fonts;
- checkpoints every few minutes (``last.pt``, ``best.pt``) and resume from ``last.pt``; SIGTERM or
  Ctrl-C ends the run cleanly (last validation and checkpoint first);
- ``log.csv`` and ``curves.png`` in the run folder; a tqdm progress bar.

The loop is the one both trainers share (``crnn_ocr_train.loop``); ``RecognizerTask`` is the
recognizer's part of it. Validation decodes with the runtime's greedy CTC decoder
(``crnn_ocr.ctc``) at the model's own width stride.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from crnn_ocr.charset import BLANK_INDEX, Charset
from crnn_ocr.ctc import greedy_decode
from crnn_ocr.metrics import levenshtein

from .checkpoint import lineage, load_crnn
from .config import TrainConfig, load_config
from .data import Batch, LabelledLines, SynthBatches, SynthConfig, make_batch, write_dataset
from .loop import Curves, Limits, LogFormat, StepLoss, Validation, autocast, initial_state, run_loop, setup_torch
from .model import CRNN, CRNNConfig, count_parameters
from .render import RenderConfig


def ctc_loss(logits: torch.Tensor, batch: Batch, width_stride: int) -> torch.Tensor:
    """logits [N,T,C] → mean CTC loss per target character (fp32); a line of width w has
    w // width_stride frames (the model's stride)."""
    log_probs = F.log_softmax(logits.float(), dim=-1).permute(1, 0, 2)  # [T,N,C]
    t = logits.shape[1]
    input_lengths = torch.clamp(batch.widths // width_stride, max=t)
    return F.ctc_loss(log_probs, batch.targets, input_lengths, batch.target_lengths, blank=BLANK_INDEX, zero_infinity=True)


def greedy_texts(logits: torch.Tensor, widths: torch.Tensor, charset: Charset, width_stride: int) -> list[str]:
    """logits [N,T,C] → the runtime's greedy decoding (``crnn_ocr.ctc.greedy_decode``) of each line's
    own frames (its width // ``width_stride``, the model's stride)."""
    probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return [greedy_decode(p[: max(1, w // width_stride)], charset).text for p, w in zip(probs, widths.tolist())]


def evaluate(model: CRNN, data: LabelledLines, charset: Charset, device: torch.device, bf16: bool, limit: int) -> dict:
    model.eval()
    edits = chars = exact = n = 0
    with torch.no_grad():
        for batch in data.batches(64):
            with autocast(device, bf16):
                logits = model(batch.images.to(device))
            for ref, hyp in zip(batch.texts, greedy_texts(logits.float(), batch.widths, charset, model.width_stride)):
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


def labelled_batches(data: LabelledLines, batch_size: int, rng: np.random.Generator) -> Iterator[Batch]:
    while True:
        order = rng.permutation(len(data))
        for s in range(0, len(order) - batch_size + 1 if len(order) >= batch_size else 1, batch_size):
            items = [data[int(i)] for i in order[s : s + batch_size]]
            items.sort(key=lambda it: it[0].shape[1])
            yield make_batch(data.charset, items)


def mixed_batches(user: Iterator[Batch] | None, synth: Iterator[Batch] | None, synth_share: float, rng: np.random.Generator) -> Iterator[Batch]:
    """The user's batches with a ``synth_share`` of synthetic ones drawn in (either stream alone
    when the other is None)."""
    while True:
        if user is not None and (synth is None or rng.random() >= synth_share):
            yield next(user)
        else:
            yield next(synth)  # type: ignore[arg-type]


class RecognizerTask:
    """The recognizer's part of the training loop (``crnn_ocr_train.loop.Task``): CTC loss, CER and
    line accuracy on the validation sets, best.pt by their mean CER."""

    best_key = "best_cer"

    def __init__(
        self, charset: Charset, batches: Iterator[Batch], val_sets: dict[str, LabelledLines], val_limit: int,
        device: torch.device, bf16: bool, width_stride: int,
    ) -> None:
        self.charset, self.batches, self.val_sets, self.val_limit = charset, batches, val_sets, val_limit
        self.device, self.bf16, self.width_stride = device, bf16, width_stride
        self.log = LogFormat(
            unit="smp", every_steps=50, ema_decay=0.98, rate_digits=1, loss_parts=(),
            val_columns=tuple(f"{name}_{m}" for name in val_sets for m in ("cer", "acc")),
            curves=Curves("CTC loss", "CER (greedy)", tuple((f"{n}_cer", f"{n}_cer") for n in val_sets), log_loss=True),
        )

    def next_batch(self) -> Batch:
        return next(self.batches)

    def loss(self, model: nn.Module, batch: Batch) -> StepLoss:
        with autocast(self.device, self.bf16):
            logits = model(batch.images.to(self.device, non_blocking=True))
        on_device = Batch(batch.images, batch.targets.to(self.device), batch.target_lengths.to(self.device), batch.widths.to(self.device), batch.texts)
        return StepLoss(ctc_loss(logits, on_device, self.width_stride), {}, len(batch.texts))

    def validate(self, model: nn.Module) -> Validation:
        scores = {name: evaluate(model, data, self.charset, self.device, self.bf16, self.val_limit) for name, data in self.val_sets.items()}  # type: ignore[arg-type]
        columns = {}
        for name, sc in scores.items():
            columns[f"{name}_cer"] = sc["cer"]
            columns[f"{name}_acc"] = sc["line_acc"]
        mean_cer = sum(sc["cer"] for sc in scores.values()) / len(scores) if scores else None
        summary = ", ".join(f"{k} CER {v['cer']:.4f} acc {v['line_acc']:.3f}" for k, v in scores.items())
        return Validation(columns, mean_cer, summary)

    def improves(self, score: float, best: float | None) -> bool:
        return best is None or score < best


def train(args: argparse.Namespace) -> None:
    cfg = load_config(args.config, TrainConfig)
    if args.run_dir:
        cfg = replace(cfg, run_dir=args.run_dir)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    device, bf16 = setup_torch(cfg, args.cpu)

    last = run / "last.pt"
    state = initial_state(RecognizerTask.best_key)
    opt_state = None
    if args.resume and last.exists():
        model, charset, ckpt = load_crnn(last, device)
        state.update(ckpt["state"])
        opt_state = ckpt["optimizer"]
        print(f"resumed {last}: step {state['step']}, {state['samples']} samples", file=sys.stderr)
    elif args.init:
        model, charset, init_ckpt = load_crnn(Path(args.init), device)
        # Keep the lineage: exported models count the samples of every run they grew from.
        state["prior"] = lineage(init_ckpt.get("state", {}))
        print(f"initialised from {args.init}", file=sys.stderr)
    else:
        charset = Charset.default()
        model = CRNN(CRNNConfig(num_classes=charset.num_classes, channels=cfg.channels, lstm_hidden=cfg.lstm_hidden)).to(device)
    print(f"model: {count_parameters(model) / 1e6:.2f}M parameters, device {device}, bf16 {bf16}", file=sys.stderr)

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
    batches = mixed_batches(user_iter, synth_iter, args.synth_mix, np.random.default_rng(cfg.seed + 1 + state["step"]))

    task = RecognizerTask(charset, batches, val_sets, cfg.val_limit, device, bf16, model.width_stride)
    run_loop(task, model, cfg, run, Limits(args.max_samples, args.max_minutes), state, opt_state, resume=args.resume)


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
