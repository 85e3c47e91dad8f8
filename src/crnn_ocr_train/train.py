"""`crnn-ocr-train --config configs/v1.toml`: train (or resume, or fine-tune) the CRNN.

- data: synthetic batches rendered in worker processes; with ``--train-labels`` a user's
  labels.tsv, fine-tuned so the model does not forget (``crnn_ocr_train.finetune``);
- bf16 autocast on CPU, CUDA when present; AdamW, warmup + cosine LR, gradient clipping;
- periodic validation (CER, line accuracy) on fixed sets, incl. one rendered in held-out fonts,
  and a first one before training when the run starts from ``--init`` weights (log.csv's row at
  0 samples: where the run starts, so runs from shipped weights compare with them);
- checkpoints every few minutes (``last.pt``, ``best.pt``) and resume from ``last.pt``; SIGTERM or
  Ctrl-C ends the run cleanly (last validation and checkpoint first);
- ``log.csv`` and ``curves.png`` in the run folder; a tqdm progress bar.

The loop is the one both trainers share (``crnn_ocr_train.loop``); ``RecognizerTask``
(``crnn_ocr_train.rec_task``) is the recognizer's part of it. Validation decodes with the
runtime's greedy CTC decoder (``crnn_ocr.ctc``) at the model's own width stride.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .checkpoint import lineage, load_crnn
from .config import TrainConfig, load_config
from .data import LabelledLines
from .finetune import add_finetune_arguments, finetune
from .grow import alphabet, reshape
from .loop import Limits, initial_state, run_loop, setup_torch
from .model import CRNN, CRNNConfig, count_parameters
from .rec_task import RecognizerTask, ensure_val_sets, synth_batches, synth_config


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
        before = (model.config.lstm_hidden, len(charset))
        model, charset = reshape(model, charset, cfg.lstm_hidden, cfg.charset)
        after = (model.config.lstm_hidden, len(charset))
        grown = f" (reshaped: LSTM {before[0]} → {after[0]} units, {before[1]} → {after[1]} characters)" if after != before else ""
        print(f"initialised from {args.init}{grown}", file=sys.stderr)
    else:
        charset = alphabet(cfg.charset or "default")
        sizes = {"lstm_hidden": cfg.lstm_hidden} if cfg.lstm_hidden else {}
        model = CRNN(CRNNConfig(num_classes=charset.num_classes, channels=cfg.channels, **sizes)).to(device)
    print(f"model: {count_parameters(model) / 1e6:.2f}M parameters, device {device}, bf16 {bf16}", file=sys.stderr)

    synth = synth_config(cfg)
    val_sets = ensure_val_sets(cfg, charset, synth)
    for p in args.val_labels or ():
        val_sets[Path(p).parent.name] = LabelledLines(Path(p), charset)
    batches = synth_batches(charset, synth, cfg.workers, state["samples"])
    task = RecognizerTask(charset, batches, val_sets, cfg.val_limit, device, bf16, model.width_stride)
    started_from_weights = opt_state is None and args.init is not None  # not resumed: where --init starts
    run_loop(task, model, cfg, run, Limits(args.max_samples, args.max_minutes), state, opt_state, resume=args.resume,
             validate_first=started_from_weights)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="crnn-ocr-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="TOML file of TrainConfig settings (configs/v1.toml)")
    p.add_argument("--run-dir", help="where checkpoints, log.csv and curves.png go (overrides the config)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt if it exists")
    p.add_argument("--init", help="start from this checkpoint's weights (fine-tuning), e.g. models/crnn_zh_en_v1.pt")
    p.add_argument("--val-labels", action="append", help="extra labels.tsv to validate on (repeatable)")
    p.add_argument("--max-samples", type=int, default=0, help="stop after this many samples in total (0 = no limit)")
    p.add_argument("--max-minutes", type=float, default=0, help="stop after this many minutes of this run (0 = no limit)")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if CUDA is present")
    add_finetune_arguments(p)
    args = p.parse_args(argv)
    if not args.max_samples and not args.max_minutes:
        p.error("give --max-samples or --max-minutes so the run ends")
    if args.train_labels:
        if not args.init or args.resume:
            p.error("--train-labels fine-tunes a trained model: give --init WEIGHTS (and no --resume)")
        finetune(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
