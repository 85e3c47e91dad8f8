"""Fine-tuning a trained recognizer on a user's lines without forgetting what it could read
(``crnn-ocr-train --init WEIGHTS --train-labels LABELS.tsv [--heldout-labels LABELS.tsv]``).

    prepare    the user's lines; a synthetic dev set (document-like lines, ``DEV_MIX``, in the
               config's renderer, rendered into the run folder); the base model's CER on both
    train      the shared loop (``crnn_ocr_train.loop``) with ``FinetuneTask``:
                 - BatchNorm stays in eval mode (its statistics are the base model's);
                 - the CNN trunk learns at ``trunk_lr_scale`` of the head's (BiLSTM + linear) rate;
                 - rehearsal: a ``synth_share`` of the batches are synthetic lines, on which the
                   loss adds ``distill`` × KL(base ‖ model) of the per-frame CTC posteriors
                   (distillation toward the base model's outputs);
                 - validation on the held-out lines every ``val_every`` samples; best.pt by their
                   CER; the run stops after ``patience`` validations without improvement
    average    WiSE-FT: θ(α) = (1-α)·θ_base + α·θ_best; α = 1, then bisection in steps of 0.05 for
               the largest α whose synthetic dev CER stays within ``forget_cap`` (relative) of the
               base's; of the α scored, the one with the lowest held-out CER within the cap is
               kept (α = 0, the base model, when none is)
    export     with ``--export-name``: ONNX + parity check, the weights and a model card into
               ``--models-dir``, and an entry in its manifest.json (not the default)

The run folder gets best.pt, last.pt, log.csv, curves.png, ``finetuned.pt`` (the averaged model,
fp16, ready for ``--init`` or ``crnn-ocr-export``) and ``finetune.json`` (the report below).
Progress lines for the service's job go to stdout (``crnn_ocr.train_progress``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from crnn_ocr.charset import Charset
from crnn_ocr.models import register_model
from crnn_ocr.train_progress import Phase, Progress

from .checkpoint import lineage, load_crnn, read_checkpoint, save_checkpoint
from .config import Curriculum, TrainConfig, load_config
from .data import Batch, LabelledLines, SynthConfig, write_dataset
from .export import export_onnx, parity
from .loop import Limits, ParamGroup, StepLoss, Validation, initial_state, run_loop, setup_torch
from .model import CRNN
from .rec_task import RecognizerTask, evaluate, labelled_batches, synth_batches, synth_config
from .textgen import TextMix

HELDOUT = "heldout"
#: The synthetic dev set stands in for the documents the base model already reads (the standard
#: sets: scanned English lines, Chinese screen pages): running text, fields and mixed lines in the
#: training fonts, moderately degraded; no scene words or plates, whose far higher CER would make
#: the forgetting cap mostly about them.
DEV_MIX = TextMix(zh=0.1, en=0.1, mixed=0.1, field=0.1, document=0.1, rare_hanzi=0.0, rare_symbols=0.0, plate=0.0,
                  receipt=0.0, zh_text=0.3, en_text=0.2)
DEV_DEGRADE = 0.5
WISE_STEPS = 20  # WiSE-FT α is searched in steps of 0.05


@dataclass(frozen=True)
class FinetuneOptions:
    """The fine-tune's settings (``add_finetune_arguments`` is their command line)."""

    train_labels: Path
    heldout_labels: Path | None = None  # None: the training lines (then early stopping only sees fitting)
    lr: float = 2e-3  # the head's peak learning rate
    batch_size: int = 16  # lines a batch (user and synthetic batches alike)
    trunk_lr_scale: float = 0.1  # the CNN trunk's learning rate, relative to the head's
    synth_share: float = 0.5  # share of synthetic (rehearsal) batches
    synth_chars: int = 12  # longest synthetic line (the config's full degradation; short lines cost less)
    distill: float = 4.0  # weight of KL(base ‖ model) on synthetic batches (a mean over every frame, mostly blanks)
    patience: int = 5  # validations without a better held-out CER before stopping
    val_every: int = 320  # samples between held-out validations
    wise: float | None = None  # WiSE-FT α; None: chosen (see the module docstring)
    forget_cap: float = 0.10  # largest relative rise of the synthetic dev CER the averaging allows
    dev_lines: int = 200  # synthetic dev set size
    export_name: str | None = None
    models_dir: Path | None = None


def add_finetune_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fine-tuning (with --train-labels; see crnn_ocr_train.finetune)")
    d = FinetuneOptions(Path())
    g.add_argument("--train-labels", type=Path, help="fine-tune --init's model on this labels.tsv (relative/path<TAB>text)")
    g.add_argument("--heldout-labels", type=Path, help="the user's held-out lines: early stopping and the averaging choose by them")
    g.add_argument("--lr", type=float, default=d.lr, help=f"the head's learning rate (default {d.lr})")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=f"lines a batch (default {d.batch_size})")
    g.add_argument("--trunk-lr-scale", type=float, default=d.trunk_lr_scale, help=f"the CNN's learning rate relative to the head's (default {d.trunk_lr_scale})")
    g.add_argument("--synth-share", type=float, default=d.synth_share, help=f"share of synthetic rehearsal batches (default {d.synth_share})")
    g.add_argument("--synth-chars", type=int, default=d.synth_chars, help=f"longest synthetic line (default {d.synth_chars})")
    g.add_argument("--distill", type=float, default=d.distill, help=f"weight of distillation toward the base model on synthetic batches (default {d.distill})")
    g.add_argument("--patience", type=int, default=d.patience, help=f"validations without held-out improvement before stopping (default {d.patience})")
    g.add_argument("--val-every", type=int, default=d.val_every, help=f"samples between held-out validations (default {d.val_every})")
    g.add_argument("--wise", type=float, help="WiSE-FT weight of the fine-tuned model, 0..1 (default: chosen under --forget-cap)")
    g.add_argument("--forget-cap", type=float, default=d.forget_cap, help=f"largest relative rise of the synthetic dev CER (default {d.forget_cap})")
    g.add_argument("--dev-lines", type=int, default=d.dev_lines, help=f"synthetic dev lines (default {d.dev_lines})")
    g.add_argument("--export-name", help="export the result as NAME.onnx into --models-dir and list it in its manifest.json")
    g.add_argument("--models-dir", type=Path, help="where --export-name writes (a data directory's models/)")


def options_from_args(args: argparse.Namespace) -> FinetuneOptions:
    if args.export_name and not args.models_dir:
        raise SystemExit("--export-name needs --models-dir")
    if args.wise is not None and not 0.0 <= args.wise <= 1.0:
        raise SystemExit(f"--wise must be between 0 and 1, not {args.wise}")
    return FinetuneOptions(
        train_labels=args.train_labels, heldout_labels=args.heldout_labels, lr=args.lr, batch_size=args.batch_size,
        trunk_lr_scale=args.trunk_lr_scale,
        synth_share=args.synth_share, synth_chars=args.synth_chars, distill=args.distill, patience=args.patience, val_every=args.val_every,
        wise=args.wise, forget_cap=args.forget_cap, dev_lines=args.dev_lines, export_name=args.export_name, models_dir=args.models_dir,
    )


# ---- the training task ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sourced:
    batch: Batch
    synthetic: bool


def mixed_batches(user: Iterator[Batch], synth: Iterator[Batch] | None, synth_share: float, rng: np.random.Generator) -> Iterator[Sourced]:
    """The user's batches with a ``synth_share`` of synthetic ones drawn in at random."""
    while True:
        if synth is not None and rng.random() < synth_share:
            yield Sourced(next(synth), True)
        else:
            yield Sourced(next(user), False)


def distill_kl(student: torch.Tensor, teacher: torch.Tensor, widths: torch.Tensor, width_stride: int) -> torch.Tensor:
    """Mean over each line's own frames of KL(teacher ‖ student) between the per-frame class
    posteriors; logits [N,T,C] (fp32)."""
    t = student.shape[1]
    frames = torch.clamp(widths.to(student.device) // width_stride, min=1, max=t)
    mask = (torch.arange(t, device=student.device)[None, :] < frames[:, None]).float()  # [N,T]
    log_s = F.log_softmax(student.float(), dim=-1)
    log_t = F.log_softmax(teacher.float(), dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)  # [N,T]
    return (kl * mask).sum() / mask.sum()


def freeze_batchnorm(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


class FinetuneTask(RecognizerTask):
    """``RecognizerTask`` for a fine-tune: BatchNorm in eval mode, a slower trunk, distillation
    toward ``teacher`` on synthetic batches, early stopping on the held-out CER, progress lines."""

    def __init__(
        self, charset: Charset, batches: Iterator[Sourced], val_sets: dict[str, LabelledLines], val_limit: int,
        device: torch.device, bf16: bool, width_stride: int, teacher: CRNN, options: FinetuneOptions,
        report: ProgressReport,
    ) -> None:
        super().__init__(charset, iter(()), val_sets, val_limit, device, bf16, width_stride, score_sets=(HELDOUT,))
        self.sourced, self.teacher, self.options, self.report = batches, teacher.eval(), options, report
        self.best: float | None = None
        self.bad = 0
        self.last_cer: float | None = None

    def next_batch(self) -> Sourced:  # type: ignore[override]
        return next(self.sourced)

    def loss(self, model: nn.Module, item: Sourced) -> StepLoss:  # type: ignore[override]
        logits = self.logits(model, item.batch)
        loss = self.ctc(logits, item.batch)
        if item.synthetic and self.options.distill > 0:
            with torch.no_grad():
                teacher = self.logits(self.teacher, item.batch)
            loss = loss + self.options.distill * distill_kl(logits, teacher, item.batch.widths, self.width_stride)
        return StepLoss(loss, {}, len(item.batch.texts))

    def train_mode(self, model: nn.Module) -> None:
        model.train()
        freeze_batchnorm(model)

    def param_groups(self, model: nn.Module) -> list[ParamGroup]:
        trunk = tuple(model.backbone.parameters())
        ids = {id(p) for p in trunk}
        head = tuple(p for p in model.parameters() if id(p) not in ids)
        return [ParamGroup(trunk, self.options.trunk_lr_scale), ParamGroup(head, 1.0)]

    def validate(self, model: nn.Module) -> Validation:
        val = super().validate(model)
        self.last_cer = val.score
        if val.score is not None and (self.best is None or val.score < self.best):
            self.best, self.bad = val.score, 0
        else:
            self.bad += 1
        return val

    def should_stop(self) -> bool:
        return self.bad >= self.options.patience

    def logged(self, row: dict) -> None:
        cer = f", held-out CER {self.last_cer:.4f}" if self.last_cer is not None else ""
        self.report.train(row["samples"], f"step {row['step']}, loss {row['loss']:.3f}{cer}")


class ProgressReport:
    """Progress lines on stdout: preparing takes the first 5 % of the run, training up to 85 %,
    averaging to 95 %, the export the rest."""

    SPANS: dict[Phase, tuple[float, float]] = {"prepare": (0.0, 0.05), "train": (0.05, 0.85), "average": (0.85, 0.95), "export": (0.95, 1.0), "done": (1.0, 1.0)}

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.started: float | None = None

    def emit(self, phase: Phase, within: float, detail: str = "") -> None:
        lo, hi = self.SPANS[phase]
        print(Progress(phase, lo + (hi - lo) * min(1.0, max(0.0, within)), detail).line(), flush=True)

    def start_training(self) -> None:
        self.started = time.time()

    def train(self, samples: int, detail: str) -> None:
        parts = []
        if self.limits.max_minutes and self.started is not None:
            parts.append((time.time() - self.started) / (60 * self.limits.max_minutes))
        if self.limits.max_samples:
            parts.append(samples / self.limits.max_samples)
        self.emit("train", max(parts) if parts else 0.0, detail)


# ---- weight averaging ------------------------------------------------------------------------


def average_weights(base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """(1-α)·base + α·tuned for floating tensors; others (BatchNorm's step counters) from ``tuned``."""
    return {k: torch.lerp(base[k].float(), v.float(), alpha) if v.is_floating_point() else v.clone() for k, v in tuned.items()}


@dataclass(frozen=True)
class AlphaScore:
    alpha: float
    heldout_cer: float
    dev_cer: float


def choose_alpha(scores: list[AlphaScore], base: AlphaScore, cap: float) -> AlphaScore:
    """The score of lowest held-out CER among those whose dev CER is within ``cap`` (relative) of the
    base's (ties: the smaller α); ``base`` (α = 0) when none is."""
    allowed = [s for s in scores if s.dev_cer <= base.dev_cer * (1 + cap) + 1e-12]
    return min(allowed, key=lambda s: (s.heldout_cer, s.alpha), default=base)


def search_alpha(score_at, cap: float, steps: int = WISE_STEPS) -> tuple[AlphaScore, list[AlphaScore]]:
    """Bisect α on a grid of 1/``steps`` (``score_at(α) -> AlphaScore``) for the largest α whose dev
    CER is within the cap, assuming the dev CER grows with α (a handful of evaluations, not the whole
    grid); the choice among every α scored (``choose_alpha``) and the scores, base (α = 0) first."""
    base = score_at(0.0)
    scores: list[AlphaScore] = []

    def within(s: AlphaScore) -> bool:
        return s.dev_cer <= base.dev_cer * (1 + cap) + 1e-12

    lo, hi = 0, steps  # lo: within the cap (the base is), hi: not known to be
    s = score_at(1.0)
    scores.append(s)
    if not within(s):
        while hi - lo > 1:
            mid = (lo + hi + 1) // 2
            s = score_at(round(mid / steps, 3))
            scores.append(s)
            lo, hi = (mid, hi) if within(s) else (lo, mid)
    return choose_alpha(scores, base, cap), [base, *scores]


# ---- the command -----------------------------------------------------------------------------


def dev_config(synth: SynthConfig, seed: int) -> SynthConfig:
    """The synthetic dev set's data: the stream's renderer with ``DEV_MIX`` text, training fonts."""
    return replace(synth, seed=seed + 9173, mix=DEV_MIX, scene_share=0.0, plate_share=0.0, raster_share=0.0, heldout_fonts=False)


def finetune_config(cfg: TrainConfig, options: FinetuneOptions, max_samples: int) -> TrainConfig:
    """The config's synthetic data (lines of up to ``synth_chars``, fully degraded from the start) and
    threads; the fine-tune's batch size and learning rate (constant after a short warm-up, unless
    ``max_samples`` bounds the run: then a cosine over it)."""
    n = options.synth_chars
    return replace(
        cfg, lr=options.lr, batch_size=options.batch_size, warmup_steps=min(cfg.warmup_steps, 10), val_every_samples=options.val_every,
        curriculum=Curriculum(warm_samples=0, full_samples=1, start_chars=n, max_chars=n, start_degrade=1.0),
        total_samples=max_samples or 10**12, min_lr_ratio=0.1 if max_samples else 1.0,
    )


@dataclass(frozen=True)
class Lines:
    """What a fine-tune reads: the user's lines, the held-out ones, the synthetic dev set."""

    user: LabelledLines
    heldout: LabelledLines
    dev: LabelledLines


def prepare_lines(options: FinetuneOptions, charset: Charset, synth: SynthConfig, seed: int, run: Path, report: ProgressReport) -> Lines:
    """The user's and held-out lines, and the synthetic dev set (rendered into ``run`` once)."""
    dev_labels = run / "synth_dev" / "labels.tsv"
    if not dev_labels.exists():
        report.emit("prepare", 0.2, f"rendering {options.dev_lines} synthetic dev lines")
        write_dataset(dev_labels.parent, charset, dev_config(synth, seed), options.dev_lines, 24, DEV_DEGRADE)
    return Lines(
        LabelledLines(options.train_labels, charset),
        LabelledLines(options.heldout_labels or options.train_labels, charset),
        LabelledLines(dev_labels, charset),
    )


class Scorer:
    """Held-out and synthetic dev CER of ``model`` with the given weights (greedy decoding)."""

    def __init__(self, model: CRNN, lines: Lines, charset: Charset, device: torch.device, bf16: bool) -> None:
        self.model, self.lines, self.charset, self.device, self.bf16 = model, lines, charset, device, bf16

    def __call__(self, alpha: float, weights: dict[str, torch.Tensor]) -> AlphaScore:
        self.model.load_state_dict(weights)
        heldout, dev = (evaluate(self.model, d, self.charset, self.device, self.bf16, len(d))["cer"] for d in (self.lines.heldout, self.lines.dev))
        return AlphaScore(alpha, heldout, dev)


def finetune(args: argparse.Namespace) -> dict:
    """Run the fine-tune ``args`` describe (the ``crnn-ocr-train`` namespace): prepare, train,
    average, export (the module docstring); returns the report written to ``finetune.json``."""
    options = options_from_args(args)
    limits = Limits(args.max_samples, args.max_minutes)
    report = ProgressReport(limits)
    report.emit("prepare", 0.0, "loading")
    cfg = finetune_config(load_config(args.config, TrainConfig), options, args.max_samples)
    run = Path(args.run_dir or "runs/finetune")
    run.mkdir(parents=True, exist_ok=True)
    device, bf16 = setup_torch(cfg, args.cpu)

    model, charset, init_ckpt = load_crnn(Path(args.init), device)
    base_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    lines = prepare_lines(options, charset, synth_config(cfg), cfg.seed, run, report)
    score = Scorer(model, lines, charset, device, bf16)
    base = score(0.0, base_weights)
    print(
        f"fine-tuning on {len(lines.user)} lines from {options.train_labels}; base CER: held-out {base.heldout_cer:.4f} "
        f"({len(lines.heldout)} lines), synthetic dev {base.dev_cer:.4f} ({len(lines.dev)} lines)",
        file=sys.stderr,
    )
    report.emit("prepare", 1.0, f"base held-out CER {base.heldout_cer:.4f}")

    state = initial_state(RecognizerTask.best_key)
    state["prior"] = lineage(init_ckpt.get("state", {}))
    started = time.time()
    state, tuned = run_training(model, charset, lines, cfg, options, run, limits, state, Path(args.init), device, bf16, report)
    train_minutes = (time.time() - started) / 60

    chosen, scores = choose_average(score, base, base_weights, tuned, options, report)
    model.load_state_dict(average_weights(base_weights, tuned, chosen.alpha))
    save_checkpoint(run / "finetuned.pt", model, None, dict(state), charset, half=True)
    print(
        f"WiSE-FT α {chosen.alpha:.2f}: held-out CER {base.heldout_cer:.4f} → {chosen.heldout_cer:.4f}, "
        f"synthetic dev CER {base.dev_cer:.4f} → {chosen.dev_cer:.4f}",
        file=sys.stderr,
    )
    result = {
        "init": str(args.init),
        "train_labels": str(options.train_labels),
        "heldout_labels": str(options.heldout_labels) if options.heldout_labels else None,
        "lines": {"train": len(lines.user), "heldout": len(lines.heldout), "synthetic_dev": len(lines.dev)},
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()},
        "steps": state["step"],
        "samples": state["samples"],
        "train_minutes": round(train_minutes, 2),
        "base": {"heldout_cer": base.heldout_cer, "dev_cer": base.dev_cer},
        "wise": [asdict(s) for s in scores],
        "alpha": chosen.alpha,
        "finetuned": {"heldout_cer": chosen.heldout_cer, "dev_cer": chosen.dev_cer},
        "checkpoint": str(run / "finetuned.pt"),
        "onnx": None,
    }
    if options.export_name:
        report.emit("export", 0.0, f"exporting {options.export_name}")
        result["onnx"] = str(export_finetuned(model, charset, state, options, result))
    (run / "finetune.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report.emit("done", 1.0, f"held-out CER {base.heldout_cer:.4f} → {chosen.heldout_cer:.4f} (α {chosen.alpha:.2f})")
    return result


def run_training(
    model: CRNN, charset: Charset, lines: Lines, cfg: TrainConfig, options: FinetuneOptions, run: Path, limits: Limits,
    state: dict, init: Path, device: torch.device, bf16: bool, report: ProgressReport,
) -> tuple[dict, dict[str, torch.Tensor]]:
    """The training phase: the shared loop with ``FinetuneTask`` (the teacher is another copy of
    ``init``); the final state and the weights of best.pt (the last weights when none was saved)."""
    teacher, _, _ = load_crnn(init, device)
    for p in teacher.parameters():
        p.requires_grad_(False)
    synth_iter = synth_batches(charset, synth_config(cfg), cfg.workers, 0) if options.synth_share > 0 else None
    user_iter = labelled_batches(lines.user, cfg.batch_size, np.random.default_rng(cfg.seed))
    batches = mixed_batches(user_iter, synth_iter, options.synth_share, np.random.default_rng(cfg.seed + 1))
    task = FinetuneTask(charset, batches, {HELDOUT: lines.heldout}, len(lines.heldout), device, bf16, model.width_stride, teacher, options, report)
    report.start_training()
    state = run_loop(task, model, cfg, run, limits, state)
    if (run / "best.pt").exists():
        return state, {k: v.float() for k, v in read_checkpoint(run / "best.pt", device)["model"].items()}
    return state, {k: v.detach().clone() for k, v in model.state_dict().items()}


def choose_average(
    score: Scorer, base: AlphaScore, base_weights: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor],
    options: FinetuneOptions, report: ProgressReport,
) -> tuple[AlphaScore, list[AlphaScore]]:
    """The averaging phase: the α kept and every α scored, base first (``search_alpha``, or
    ``options.wise`` when given)."""

    def score_at(alpha: float) -> AlphaScore:
        s = base if alpha == 0.0 else score(alpha, average_weights(base_weights, tuned, alpha))
        note = f"α {alpha:.2f}: held-out CER {s.heldout_cer:.4f}, synthetic dev CER {s.dev_cer:.4f}"
        report.emit("average", 1.0 - alpha if alpha else 0.0, note)
        print(f"[wise] {note}", file=sys.stderr)
        return s

    if options.wise is None:
        return search_alpha(score_at, options.forget_cap)
    chosen = score_at(options.wise)
    return chosen, [base, chosen]


def export_finetuned(model: CRNN, charset: Charset, state: dict, options: FinetuneOptions, result: dict) -> Path:
    """``<models_dir>/<export_name>.onnx`` (parity-checked), its weights ``.pt`` beside it (what a
    later fine-tune starts from), a model card with the fine-tune's report, and its entry in that
    folder's manifest (``crnn_ocr.models.register_model``: listed, not made the default)."""
    assert options.export_name and options.models_dir
    name, folder = options.export_name, options.models_dir
    out = folder / f"{name}.onnx"
    totals = lineage(state)
    extra = {"samples_seen": str(totals["samples"]), "train_steps": str(totals["steps"]), "train_wall_s": f"{totals['wall_s']:.0f}"}
    export_onnx(model, charset, out, name, "finetune", extra)
    diff = parity(model, out)
    if diff > 1e-4:
        raise RuntimeError(f"parity check of {out} failed: {diff:.2e} > 1e-4")
    save_checkpoint(folder / f"{name}.pt", model, None, state, charset, half=True)
    card = folder / f"{name}.md"
    card.write_text(model_card(name, result), encoding="utf-8")
    register_model(folder, name, out, card=card.name)
    print(f"exported {out}; listed in {folder / 'manifest.json'}", file=sys.stderr)
    return out


def model_card(name: str, result: dict) -> str:
    """The fine-tuned model's card: its first paragraph is what ``GET /api/v1/models`` shows."""
    base, tuned, lines = result["base"], result["finetuned"], result["lines"]
    return (
        f"Fine-tuned from {Path(result['init']).name} on {lines['train']} labelled lines "
        f"({result['train_labels']}): CER on {lines['heldout']} held-out lines "
        f"{100 * base['heldout_cer']:.2f} % → {100 * tuned['heldout_cer']:.2f} %, on {lines['synthetic_dev']} synthetic "
        f"document lines {100 * base['dev_cer']:.2f} % → {100 * tuned['dev_cer']:.2f} % (greedy decoding; WiSE-FT α "
        f"{result['alpha']:.2f}, {result['steps']} steps, {result['train_minutes']:.1f} min).\n\n"
        f"```json\n{json.dumps(result, indent=2, ensure_ascii=False)}\n```\n"
    )
