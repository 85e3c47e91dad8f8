"""The progress lines a fine-tune prints on stdout, and reading them back.

The trainer (``crnn_ocr_train.finetune``) writes one line per report; the service's fine-tune job
(``crnn_ocr.server.finetune_jobs``) runs the trainer as a subprocess and reads them, so the format
lives here, in the runtime package both can import::

    [progress] {"phase": "train", "fraction": 0.42, "detail": "step 40, held-out CER 0.312"}

Phases, in order: ``prepare`` (data, base scores), ``train``, ``average`` (WiSE-FT weight
averaging), ``export``, ``done``. ``fraction`` is of the whole run, 0 to 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

PREFIX = "[progress] "
Phase = Literal["prepare", "train", "average", "export", "done"]
PHASES: tuple[Phase, ...] = ("prepare", "train", "average", "export", "done")


@dataclass(frozen=True)
class Progress:
    phase: Phase
    fraction: float  # of the whole run, 0..1
    detail: str = ""

    def line(self) -> str:
        """The stdout line (no newline)."""
        body = {"phase": self.phase, "fraction": round(min(1.0, max(0.0, self.fraction)), 4), "detail": self.detail}
        return PREFIX + json.dumps(body, ensure_ascii=False)


def parse_progress(line: str) -> Progress | None:
    """The report a progress line holds; None for any other line (the trainer's other output, or a
    progress line that does not parse)."""
    if not line.startswith(PREFIX):
        return None
    try:
        body = json.loads(line[len(PREFIX) :])
        phase, fraction, detail = body["phase"], float(body["fraction"]), str(body.get("detail", ""))
    except (ValueError, KeyError, TypeError):
        return None
    if phase not in PHASES:
        return None
    return Progress(phase, min(1.0, max(0.0, fraction)), detail)
