"""The training loop both trainers run; what differs between the models is a ``Task``.

    setup_torch       device, threads, flush-denormal, seed, bf16 autocast or not
    run_loop          until --max-samples / --max-minutes / SIGTERM or Ctrl-C / task.should_stop():
                        batch = task.next_batch()
                        lr = lr_at(step, samples)       linear warm-up, then cosine, times each
                                                        parameter group's ``lr_scale``
                        loss = task.loss(model, batch)  AdamW step, gradient clipping
                        every ``log.every_steps`` steps      a row of log.csv (task.logged)
                        every ``val_every_samples`` samples  task.validate → log.csv columns,
                                                             best.pt when task.improves, curves.png,
                                                             task.should_stop (early stopping)
                        every ``checkpoint_minutes``         last.pt (with the optimizer)
                      and at the end a last validation, row and checkpoint.

A task says how the model trains (``train_mode``: which modules stay in eval mode) and what it
optimises at which learning rate (``param_groups``); ``TaskDefaults`` gives the plain answers.

The run's ``state`` dict (step, samples, wall_s, the best score, ...) goes into every checkpoint
(``crnn_ocr_train.checkpoint``) and is what ``--resume`` continues from.
"""

from __future__ import annotations

import csv
import math
import signal
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from tqdm import tqdm

from crnn_ocr.charset import Charset

from .checkpoint import save_checkpoint
from .config import LoopSettings


@dataclass(frozen=True)
class Limits:
    """When the run stops (0: no limit); at least one must be set."""

    max_samples: int = 0  # samples in total, counting those of the run resumed
    max_minutes: float = 0.0  # minutes of this run


@dataclass(frozen=True)
class Curves:
    """curves.png: the training loss on the left, validation metrics on the right."""

    loss_label: str
    metric_label: str
    metrics: tuple[tuple[str, str], ...]  # (log.csv column, legend label) on the right
    log_loss: bool = False  # the loss axis in log scale
    val_loss: str | None = None  # a validation-loss column drawn with the training loss


@dataclass(frozen=True)
class LogFormat:
    """log.csv and the progress bar."""

    unit: str  # of the progress bar: "smp", "img"
    every_steps: int  # a log.csv row every this many steps (and at each validation and the end)
    ema_decay: float  # smoothing of the logged training losses
    rate_digits: int  # decimals of samples_per_s
    loss_parts: tuple[str, ...]  # StepLoss.parts logged as loss_<part> after the loss
    val_columns: tuple[str, ...]  # Validation.columns, in log.csv order
    curves: Curves

    def header(self) -> list[str]:
        parts = [f"loss_{p}" for p in self.loss_parts]
        return ["step", "samples", "wall_s", "loss", *parts, "lr", "samples_per_s", *self.val_columns]


@dataclass(frozen=True)
class StepLoss:
    loss: torch.Tensor  # scalar, to backpropagate
    parts: dict[str, float]  # its components, logged (LogFormat.loss_parts)
    n: int  # samples in the batch


@dataclass(frozen=True)
class Validation:
    columns: dict[str, float]  # log.csv columns (rounded to 4 places there)
    score: float | None  # what best.pt is chosen by; None: nothing to choose by
    summary: str  # the [val] line on stderr


@dataclass(frozen=True)
class ParamGroup:
    """Parameters trained at ``lr_scale`` times the schedule's learning rate."""

    params: tuple[nn.Parameter, ...]
    lr_scale: float = 1.0


class Task(Protocol):
    """The model-specific parts of a training run."""

    log: LogFormat
    best_key: str  # the state key of the best score so far ("best_cer", "best_hmean")
    charset: Charset | None  # written into checkpoints (the recognizer's)

    def next_batch(self) -> Any: ...

    def loss(self, model: nn.Module, batch: Any) -> StepLoss:
        """Forward (in ``autocast``) and loss of one batch; the loop backpropagates."""
        ...

    def validate(self, model: nn.Module) -> Validation:
        """Scores on the fixed validation data (the loop calls ``train_mode`` afterwards)."""
        ...

    def improves(self, score: float, best: float | None) -> bool: ...

    def train_mode(self, model: nn.Module) -> None:
        """Put ``model`` in training mode (before the first step and after each validation)."""
        ...

    def param_groups(self, model: nn.Module) -> list[ParamGroup]:
        """What the optimizer trains, each group at its own share of the learning rate."""
        ...

    def should_stop(self) -> bool:
        """Asked after each validation: end the run now (early stopping)."""
        ...

    def logged(self, row: dict) -> None:
        """Called with each row written to log.csv (progress reports)."""
        ...


class TaskDefaults:
    """The plain answers of a ``Task``: the whole model trains at the schedule's rate, never stops
    early, reports nothing beyond log.csv."""

    def train_mode(self, model: nn.Module) -> None:
        model.train()

    def param_groups(self, model: nn.Module) -> list[ParamGroup]:
        return [ParamGroup(tuple(model.parameters()))]

    def should_stop(self) -> bool:
        return False

    def logged(self, row: dict) -> None:
        return None


def setup_torch(cfg: LoopSettings, cpu: bool) -> tuple[torch.device, bool]:
    """The device (CUDA when present, unless ``cpu``) and whether to autocast to bf16; sets the
    threads and the seed."""
    device = torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")
    torch.set_num_threads(cfg.threads)
    # Adam moments of rarely seen classes decay into denormals, which are ~100x slower on x86 CPUs.
    torch.set_flush_denormal(True)
    torch.manual_seed(cfg.seed)
    bf16 = cfg.bf16 and (device.type == "cpu" or torch.cuda.is_bf16_supported())
    return device, bf16


def autocast(device: torch.device, bf16: bool) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def lr_at(step: int, samples: int, cfg: LoopSettings) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine to ``min_lr_ratio`` over ``total_samples``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    f = min(1.0, samples / cfg.total_samples)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * f)))


def initial_state(best_key: str) -> dict:
    return {"step": 0, "samples": 0, best_key: None, "wall_s": 0.0}


def run_loop(
    task: Task,
    model: nn.Module,
    cfg: LoopSettings,
    run: Path,
    limits: Limits,
    state: dict,
    opt_state: dict | None = None,
    resume: bool = False,
    validate_first: bool = False,
) -> dict:
    """Train ``model`` until a limit or a stop signal; checkpoints, log.csv and curves.png in ``run``.
    ``state`` and ``opt_state`` come from the checkpoint resumed (``resume``: log.csv is appended
    to). ``validate_first``: validate the weights before the first step (a run started from trained
    weights logs where it starts: a row at the state's samples with the validation columns and no
    loss; best.pt stays this run's own). Returns the final state."""
    groups = [{"params": list(g.params), "lr_scale": g.lr_scale} for g in task.param_groups(model)]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    log = task.log
    log_path, last = run / "log.csv", run / "last.pt"
    header = log.header()
    if not log_path.exists() or not resume:
        with log_path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(header)

    deadline = time.time() + limits.max_minutes * 60 if limits.max_minutes else None
    stop_requested: list[bool] = []  # SIGTERM/SIGINT: finish the step, validate, checkpoint, exit
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_requested.append(True))
    target = limits.max_samples
    next_val = (state["samples"] // cfg.val_every_samples + 1) * cfg.val_every_samples
    last_ckpt = time.time()
    t_prev, s_prev = time.time(), state["samples"]
    ema: dict[str, float] = {}
    if validate_first:
        val = task.validate(model)
        tqdm.write(f"[val] before training: {val.summary}", file=sys.stderr)
        start = {"step": state["step"], "samples": state["samples"], "wall_s": round(state["wall_s"], 1)}
        _append_row(log_path, header, {**start, **{k: round(v, 4) for k, v in val.columns.items()}})
        t_prev = time.time()  # validation time is not training throughput
    bar = tqdm(total=target or None, initial=state["samples"], unit=log.unit, dynamic_ncols=True, mininterval=5)
    task.train_mode(model)
    while True:
        batch = task.next_batch()
        lr = lr_at(state["step"], state["samples"], cfg)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)  # a checkpoint's optimizer from before the scales has none
        step = task.loss(model, batch)
        opt.zero_grad(set_to_none=True)
        step.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        state["step"] += 1
        state["samples"] += step.n
        for k, v in {"loss": step.loss.item(), **step.parts}.items():
            ema[k] = v if k not in ema else log.ema_decay * ema[k] + (1 - log.ema_decay) * v
        bar.update(step.n)
        bar.set_postfix(loss=f"{ema['loss']:.3f}", lr=f"{lr:.2e}", refresh=False)

        now = time.time()
        done = bool((target and state["samples"] >= target) or (deadline and now >= deadline) or stop_requested)
        row = None
        if state["step"] % log.every_steps == 0 or done or state["samples"] >= next_val:
            sps = (state["samples"] - s_prev) / max(1e-6, now - t_prev)
            state["wall_s"] += now - t_prev
            t_prev, s_prev = now, state["samples"]
            row = {"step": state["step"], "samples": state["samples"], "wall_s": round(state["wall_s"], 1), "loss": round(ema["loss"], 4)}
            row.update({f"loss_{p}": round(ema[p], 4) for p in log.loss_parts})
            row.update({"lr": f"{lr:.3e}", "samples_per_s": round(sps, log.rate_digits)})
        validated = False
        if row is not None and (state["samples"] >= next_val or done):
            next_val = (state["samples"] // cfg.val_every_samples + 1) * cfg.val_every_samples
            val = task.validate(model)
            row.update({k: round(v, 4) for k, v in val.columns.items()})
            validated = bool(val.columns)
            tqdm.write(f"[val] samples {state['samples']}: {val.summary}", file=sys.stderr)
            if val.score is not None and task.improves(val.score, state[task.best_key]):
                state[task.best_key] = val.score
                save_checkpoint(run / "best.pt", model, None, dict(state), task.charset)
            task.train_mode(model)
            done = done or task.should_stop()
            t_prev = time.time()  # validation time is not training throughput
        if row is not None:
            _append_row(log_path, header, row)
            task.logged(row)
            if validated:
                plot_curves(log_path, run / "curves.png", log.curves)
        if done or now - last_ckpt >= cfg.checkpoint_minutes * 60:
            save_checkpoint(last, model, opt, dict(state), task.charset)
            last_ckpt = now
        if done:
            break
    bar.close()
    print(f"stopped at step {state['step']}, {state['samples']} samples; checkpoints in {run}", file=sys.stderr)
    return state


def _append_row(log_path: Path, header: list[str], row: dict) -> None:
    """One row of log.csv (columns the row lacks are left empty)."""
    with log_path.open("a", newline="", encoding="utf-8") as f:
        csv.DictWriter(f, fieldnames=header).writerow(row)


def plot_curves(log_path: Path, out_png: Path, curves: Curves) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(log_path.open(encoding="utf-8")))
    if not rows:
        return
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    lpts = [(int(r["samples"]), float(r["loss"])) for r in rows if r.get("loss")]  # a validate_first row has none
    if lpts:
        ax[0].plot(*zip(*lpts), lw=0.8, label="train")
    vpts = [(int(r["samples"]), float(r[curves.val_loss])) for r in rows if r.get(curves.val_loss)] if curves.val_loss else []
    if vpts:
        ax[0].plot(*zip(*vpts), marker="o", ms=3, label="val")
        ax[0].legend()
    ax[0].set_xlabel("samples seen")
    ax[0].set_ylabel(curves.loss_label)
    if curves.log_loss:
        ax[0].set_yscale("log")
    for key, label in curves.metrics:
        pts = [(int(r["samples"]), float(r[key])) for r in rows if r.get(key)]
        if pts:
            ax[1].plot(*zip(*pts), marker="o", ms=3, label=label)
    ax[1].set_xlabel("samples seen")
    ax[1].set_ylabel(curves.metric_label)
    ax[1].set_ylim(0, 1)
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
