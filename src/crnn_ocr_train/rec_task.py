"""The recognizer's part of a training run, shared by training from scratch (``train``) and
fine-tuning (``finetune``): CTC loss, validation CER, the synthetic batch stream and labelled batches.

    ctc_loss           logits [N,T,C] + Batch → mean CTC loss per target character
    greedy_texts       logits → the runtime's greedy decoding at the model's own stride
    evaluate           CER and line accuracy of a model on a LabelledLines set
    synth_config       a TrainConfig's synthetic-data settings as SynthConfig
    synth_batches      the endless synthetic batch stream (rendered in DataLoader workers)
    labelled_batches   endless shuffled batches of a labels.tsv
    ensure_val_sets    the config's fixed synthetic validation sets, rendered once
    RecognizerTask     ``crnn_ocr_train.loop.Task`` of the recognizer
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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

from .config import TrainConfig
from .data import Batch, LabelledLines, SynthBatches, SynthConfig, make_batch, write_dataset
from .loop import Curves, LogFormat, StepLoss, TaskDefaults, Validation, autocast
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


def evaluate(model: nn.Module, data: LabelledLines, charset: Charset, device: torch.device, bf16: bool, limit: int) -> dict:
    """{"cer", "line_acc", "n"} of ``model`` (put in eval mode) on the first ``limit`` lines of
    ``data`` by width order, decoded greedily."""
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
    return {"cer": edits / max(1, chars), "line_acc": exact / max(1, n), "n": n}


def synth_config(cfg: TrainConfig) -> SynthConfig:
    """The synthetic stream a training config describes."""
    return SynthConfig(
        seed=cfg.seed, batch_size=cfg.batch_size, curriculum=cfg.curriculum, scene_share=cfg.scene_share,
        plate_share=cfg.plate_share, raster_share=cfg.raster_share, mix=cfg.mix,
        render=RenderConfig(scan_effects=cfg.scan_effects, font_styles=cfg.font_styles, photo_backgrounds=cfg.photo_backgrounds),
    )


def synth_batches(charset: Charset, synth: SynthConfig, workers: int, start_samples: int) -> Iterator[Batch]:
    """Endless synthetic batches rendered in ``workers`` processes (0: in this one)."""
    loader = DataLoader(
        SynthBatches(charset, synth, start_samples=start_samples),
        batch_size=None,
        num_workers=workers,
        prefetch_factor=4 if workers else None,
        persistent_workers=bool(workers),
        # A forked worker can inherit OpenCV/OpenMP thread-pool locks held in this process
        # (e.g. after rendering the validation sets) and hang on its first cv2 call.
        multiprocessing_context="spawn" if workers else None,
    )
    return iter(loader)


def labelled_batches(data: LabelledLines, batch_size: int, rng: np.random.Generator) -> Iterator[Batch]:
    """Endless batches of ``data``, reshuffled each pass (a set smaller than a batch is one batch)."""
    images = [data[i] for i in range(len(data))]  # a user's set is small: read every image once
    while True:
        order = rng.permutation(len(images))
        for s in range(0, len(order) - batch_size + 1 if len(order) >= batch_size else 1, batch_size):
            items = [images[int(i)] for i in order[s : s + batch_size]]
            items.sort(key=lambda it: it[0].shape[1])
            yield make_batch(data.charset, items)


def ensure_val_sets(cfg: TrainConfig, charset: Charset, synth: SynthConfig) -> dict[str, LabelledLines]:
    """The config's synthetic validation sets, rendered into ``<cache_dir>/../val/<name>`` the first time."""
    out = {}
    for vs in cfg.val_sets:
        folder = Path(synth.cache_dir).parent / "val" / vs.name
        labels = folder / "labels.tsv"
        if not labels.exists():
            write_dataset(folder, charset, replace(synth, seed=vs.seed, heldout_fonts=vs.heldout_fonts, scene_share=vs.scene_share, plate_share=vs.plate_share, raster_share=0.0, mix=vs.mix), vs.n, vs.max_chars, vs.degrade)
        out[vs.name] = LabelledLines(labels, charset)
    return out


class RecognizerTask(TaskDefaults):
    """The recognizer's part of the training loop (``crnn_ocr_train.loop.Task``): CTC loss, CER and
    line accuracy on the validation sets, best.pt by the mean CER of ``score_sets`` (None: all)."""

    best_key = "best_cer"

    def __init__(
        self, charset: Charset, batches: Iterator[Batch], val_sets: dict[str, LabelledLines], val_limit: int,
        device: torch.device, bf16: bool, width_stride: int, score_sets: Sequence[str] | None = None,
    ) -> None:
        self.charset, self.batches, self.val_sets, self.val_limit = charset, batches, val_sets, val_limit
        self.device, self.bf16, self.width_stride = device, bf16, width_stride
        self.score_sets = tuple(score_sets) if score_sets is not None else tuple(val_sets)
        self.log = LogFormat(
            unit="smp", every_steps=50, ema_decay=0.98, rate_digits=1, loss_parts=(),
            val_columns=tuple(f"{name}_{m}" for name in val_sets for m in ("cer", "acc")),
            curves=Curves("CTC loss", "CER (greedy)", tuple((f"{n}_cer", f"{n}_cer") for n in val_sets), log_loss=True),
        )

    def next_batch(self) -> Batch:
        return next(self.batches)

    def logits(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        with autocast(self.device, self.bf16):
            return model(batch.images.to(self.device, non_blocking=True))

    def ctc(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        on_device = Batch(batch.images, batch.targets.to(self.device), batch.target_lengths.to(self.device), batch.widths.to(self.device), batch.texts)
        return ctc_loss(logits, on_device, self.width_stride)

    def loss(self, model: nn.Module, batch: Batch) -> StepLoss:
        return StepLoss(self.ctc(self.logits(model, batch), batch), {}, len(batch.texts))

    def scores(self, model: nn.Module) -> dict[str, dict]:
        return {name: evaluate(model, data, self.charset, self.device, self.bf16, self.val_limit) for name, data in self.val_sets.items()}

    def validate(self, model: nn.Module) -> Validation:
        scores = self.scores(model)
        columns = {}
        for name, sc in scores.items():
            columns[f"{name}_cer"] = sc["cer"]
            columns[f"{name}_acc"] = sc["line_acc"]
        chosen = [scores[name]["cer"] for name in self.score_sets]
        mean_cer = sum(chosen) / len(chosen) if chosen else None
        summary = ", ".join(f"{k} CER {v['cer']:.4f} acc {v['line_acc']:.3f}" for k, v in scores.items())
        return Validation(columns, mean_cer, summary)

    def improves(self, score: float, best: float | None) -> bool:
        return best is None or score < best
