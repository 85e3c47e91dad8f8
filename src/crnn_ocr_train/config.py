"""Training configs: frozen dataclasses read from TOML files (``configs/*.toml``).

``TrainConfig`` is the recognizer's (``crnn-ocr-train``), ``DetTrainConfig`` the detector's
(``crnn-ocr-det-train``), both extending ``LoopSettings`` (what the shared loop reads);
``load_config(path, cls)`` reads either. A TOML table fills a nested
dataclass field (``[mix]``, ``[curriculum]``, ``[page]``), an array of tables a tuple of
dataclasses (``[[val_sets]]``), arrays become tuples; a setting the dataclass does not have is an
error naming the file and the setting. Unset settings keep their defaults. ``extends = "other.toml"``
(a path relative to the file) starts from that file's settings: tables merge key by key, anything
else the extending file sets replaces the base's (``[[val_sets]]`` as a whole).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .det_model import DBNetConfig
from .det_pages import PageConfig
from .textgen import TextMix

C = TypeVar("C")


@dataclass(frozen=True)
class Curriculum:
    """Line length and degradation grow with the samples seen: short clean lines first."""

    warm_samples: int = 60_000  # until here: short lines, light degradation
    full_samples: int = 400_000  # from here on: full length, full degradation
    start_chars: int = 4
    max_chars: int = 24
    start_degrade: float = 0.4

    def at(self, seen: int) -> tuple[int, float]:
        if seen <= self.warm_samples:
            return self.start_chars, self.start_degrade
        f = min(1.0, (seen - self.warm_samples) / max(1, self.full_samples - self.warm_samples))
        chars = int(round(self.start_chars + f * (self.max_chars - self.start_chars)))
        return chars, self.start_degrade + f * (1.0 - self.start_degrade)


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
class LoopSettings:
    """What the shared loop (``crnn_ocr_train.loop``) reads; both trainers' configs extend it and
    set their own defaults."""

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


@dataclass(frozen=True)
class TrainConfig(LoopSettings):
    """The recognizer's training run (``crnn_ocr_train.train``)."""

    val_limit: int = 400
    channels: tuple[int, ...] = (32, 64, 128, 128, 256, 256)
    # None: the --init checkpoint's (from scratch: CRNNConfig's). Set and different from the
    # checkpoint's, --init reshapes its weights (``crnn_ocr_train.grow``): a wider LSTM, a
    # script specialist's head ("latin"; "default": the v1 alphabet).
    lstm_hidden: int | None = None
    charset: str | None = None
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


@dataclass(frozen=True)
class DetTrainConfig(LoopSettings):
    """The detector's training run (``crnn_ocr_train.det_train``); the loop settings it changes
    first, then its own."""

    run_dir: str = "runs/det_v1"
    batch_size: int = 8
    lr: float = 2e-3
    warmup_steps: int = 100
    total_samples: int = 200_000
    val_every_samples: int = 2_000
    size: int = 448  # square training crops
    val_pages: int = 24
    val_seed: int = 909
    val_max_side: int = 640
    channels: tuple[int, ...] = DBNetConfig().channels
    blocks: tuple[int, ...] = DBNetConfig().blocks
    fpn: int = DBNetConfig().fpn
    page: PageConfig = PageConfig()


#: what an unknown key of a table is called in the error (default: "setting(s)")
_TABLE_NOUNS: dict[type, str] = {TextMix: "text kind(s)"}


def load_config(path: Path | None, cls: type[C]) -> C:
    """``cls`` (a frozen dataclass) with the settings of the TOML file at ``path``; its defaults when
    ``path`` is None. SystemExit naming the file and the setting on an unknown setting."""
    if path is None:
        return cls()
    return _build(cls, _read(path, ()), path, None)


def _read(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """The settings of the TOML file at ``path`` over those of the file it ``extends``."""
    if path.resolve() in chain:
        raise SystemExit(f"{path}: 'extends' loops back to itself")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SystemExit(f"{path}: {e}") from e
    base = raw.pop("extends", None)
    if base is None:
        return raw
    return _merge(_read(path.parent / base, (*chain, path.resolve())), raw)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _build(cls: type[C], values: dict[str, Any], path: Path, table: str | None) -> C:
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = [k for k in values if k not in names]
    if unknown and table is None:
        raise SystemExit(f"{path}: unknown setting {unknown[0]!r}")
    if unknown:
        noun = _TABLE_NOUNS.get(cls, "setting(s)")
        raise SystemExit(f"{path}: unknown [{table}] {noun} {', '.join(sorted(unknown))}")
    hints = get_type_hints(cls)
    return cls(**{k: _value(hints[k], v, path, k) for k, v in values.items()})


def _value(hint: Any, value: Any, path: Path, key: str) -> Any:
    """A TOML value as the field typed ``hint`` takes it."""
    if is_dataclass(hint) and isinstance(value, dict):
        return _build(hint, value, path, key)  # type: ignore[arg-type]
    args = get_args(hint)
    if get_origin(hint) is tuple and args and is_dataclass(args[0]) and isinstance(value, list):
        return tuple(_build(args[0], item, path, key) for item in value)  # type: ignore[arg-type]
    return _tuples(value)


def _tuples(value: Any) -> Any:
    """TOML arrays as tuples (the dataclasses are frozen and hashable)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
