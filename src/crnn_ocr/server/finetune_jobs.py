"""Fine-tunes as background jobs of the service (``/api/v1/admin/finetune``, admin key).

A job runs the trainer (``crnn-ocr-train --init ... --train-labels ...``, module
``crnn_ocr_train.train``, which needs the ``train`` extra) as a subprocess, one at a time per
store, and follows the progress lines it prints (``crnn_ocr.train_progress``). The trainer
exports the result into the user models folder (``<models_dir>/<name>.onnx``, listed in its
manifest.json, not made the default); the job's report is the trainer's ``finetune.json`` (the
held-out and synthetic dev CER of the base and of the fine-tuned model, the WiSE-FT α).

Job records live in the store (table ``finetune_jobs``): ``queued`` → ``running`` → ``done`` /
``failed`` / ``cancelled``. A job still ``running`` in the store whose server process is gone
(the server was restarted or crashed) is marked ``failed`` with a message saying so when the
next ``FinetuneJobs`` opens the store. The trainer's stderr goes to ``<runs_dir>/<id>/train.log``;
a failed job's error is its last lines.

The trainer's command line: ``--init`` (the default model's ``.pt`` weights beside its ONNX),
the job's labels, minutes, run folder and export name, then the ``finetune_args`` setting
(``CRNN_OCR_FINETUNE_ARGS``, shell words; e.g. ``--config configs/v2.toml --lr 2e-3``; a later
``--init`` there wins).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crnn_ocr.errors import OptionsError
from crnn_ocr.server.errors import ConflictError
from crnn_ocr.server.sqlite import Database, open_database
from crnn_ocr.train_progress import parse_progress

log = logging.getLogger("crnn_ocr.server")

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
UNFINISHED: tuple[JobStatus, ...] = ("queued", "running")
TRAINER = (sys.executable, "-m", "crnn_ocr_train.train")
LOG_TAIL_LINES = 15

_SCHEMA = """
CREATE TABLE IF NOT EXISTS finetune_jobs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  train_labels TEXT NOT NULL,
  heldout_labels TEXT,
  minutes REAL NOT NULL,
  status TEXT NOT NULL,
  phase TEXT,
  fraction REAL NOT NULL,
  detail TEXT NOT NULL,
  error TEXT,
  report TEXT,
  server_pid INTEGER NOT NULL,
  created_at REAL NOT NULL,
  finished_at REAL
);
"""

_COLUMNS = "id, name, train_labels, heldout_labels, minutes, status, phase, fraction, detail, error, report, created_at, finished_at"


@dataclass(frozen=True)
class FinetuneRequest:
    name: str  # the fine-tuned model's name in the user manifest (and its file NAME.onnx)
    train_labels: Path
    heldout_labels: Path | None
    minutes: float


@dataclass(frozen=True)
class FinetuneJob:
    id: str
    request: FinetuneRequest
    status: JobStatus
    phase: str | None
    fraction: float
    detail: str
    error: str | None
    report: dict | None  # the trainer's finetune.json, once done
    created_at: float
    finished_at: float | None


def _job(row) -> FinetuneJob:
    request = FinetuneRequest(row[1], Path(row[2]), Path(row[3]) if row[3] else None, float(row[4]))
    return FinetuneJob(
        id=row[0], request=request, status=row[5], phase=row[6], fraction=float(row[7]), detail=row[8], error=row[9],
        report=json.loads(row[10]) if row[10] else None, created_at=float(row[11]),
        finished_at=float(row[12]) if row[12] is not None else None,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def default_init(model_onnx: Path) -> Path:
    """The training weights of a model: its ``.onnx`` with ``.pt`` (the shipped model has them beside it)."""
    return model_onnx.with_suffix(".pt")


def trainer_command(
    request: FinetuneRequest, init: Path | None, run_dir: Path, models_dir: Path, extra: Sequence[str], trainer: Sequence[str] = TRAINER,
) -> list[str]:
    """The trainer's arguments: ``init`` (None: ``extra`` names it), the request's, then ``extra``."""
    cmd = [*trainer, *(["--init", str(init)] if init is not None else []), "--train-labels", str(request.train_labels)]
    if request.heldout_labels is not None:
        cmd += ["--heldout-labels", str(request.heldout_labels)]
    cmd += ["--max-minutes", f"{request.minutes:g}", "--run-dir", str(run_dir), "--export-name", request.name,
            "--models-dir", str(models_dir)]
    return cmd + list(extra)


class FinetuneJobs:
    """The fine-tune jobs of one store: start, list, follow, cancel; each runs on its own thread."""

    def __init__(self, store: str | os.PathLike, models_dir: Path, runs_dir: Path, init: Path | None, extra_args: str = "",
                 trainer: Sequence[str] = TRAINER) -> None:
        self.db: Database = open_database(store, _SCHEMA)
        self.models_dir, self.runs_dir, self.init = models_dir, runs_dir, init
        self.extra = shlex.split(extra_args)
        self.trainer = tuple(trainer)
        self._procs: dict[str, subprocess.Popen] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._fail_orphans()

    def _fail_orphans(self) -> None:
        """Jobs left unfinished by a server process that is gone fail, saying why."""
        rows = self.db.connection().execute(
            "SELECT id, server_pid FROM finetune_jobs WHERE status IN (?, ?)", UNFINISHED
        ).fetchall()
        for job_id, pid in rows:
            if int(pid) != os.getpid() and not _alive(int(pid)):
                self._finish(job_id, "failed", "the server stopped while this fine-tune ran (restart or crash); start it again")

    # ---- reading -------------------------------------------------------------------------------

    def get(self, job_id: str) -> FinetuneJob | None:
        row = self.db.connection().execute(f"SELECT {_COLUMNS} FROM finetune_jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self) -> list[FinetuneJob]:
        rows = self.db.connection().execute(f"SELECT {_COLUMNS} FROM finetune_jobs ORDER BY created_at DESC").fetchall()
        return [_job(r) for r in rows]

    # ---- starting and stopping -----------------------------------------------------------------

    def start(self, request: FinetuneRequest) -> FinetuneJob:
        """Queue ``request`` and start its trainer. OptionsError (422) for labels or weights that
        are missing; ConflictError (409) while another fine-tune runs."""
        for path in (request.train_labels, request.heldout_labels):
            if path is not None and not path.is_file():
                raise OptionsError(f"no labels file {path} on the server")
        if "--init" not in self.extra and (self.init is None or not self.init.is_file()):
            raise OptionsError(
                f"no training weights {self.init or ''} to fine-tune from; set finetune_args (CRNN_OCR_FINETUNE_ARGS) to '--init PATH.pt'"
            )
        job_id = uuid.uuid4().hex[:16]
        with self.db.write() as conn:
            running = conn.execute("SELECT id FROM finetune_jobs WHERE status IN (?, ?)", UNFINISHED).fetchone()
            if running:
                raise ConflictError(f"fine-tune {running[0]} is still running; wait for it or cancel it (DELETE)")
            conn.execute(
                "INSERT INTO finetune_jobs (id, name, train_labels, heldout_labels, minutes, status, phase, fraction, detail,"
                " server_pid, created_at) VALUES (?, ?, ?, ?, ?, 'queued', NULL, 0, '', ?, ?)",
                (job_id, request.name, str(request.train_labels), str(request.heldout_labels) if request.heldout_labels else None,
                 request.minutes, os.getpid(), time.time()),
            )
        thread = threading.Thread(target=self._run, args=(job_id, request), name=f"finetune-{job_id}", daemon=True)
        self._threads.append(thread)
        thread.start()
        job = self.get(job_id)
        assert job is not None
        return job

    def cancel(self, job_id: str) -> bool:
        """Stop a running job (its trainer is killed); False when it is not running here."""
        with self._lock:
            proc = self._procs.get(job_id)
            if proc is None:
                return False
            self._cancelled.add(job_id)
            proc.kill()
        return True

    def delete(self, job_id: str) -> bool:
        """Remove a finished job's record; False when there is none (a running job: cancel it first)."""
        with self.db.write() as conn:
            return conn.execute(
                "DELETE FROM finetune_jobs WHERE id = ? AND status NOT IN (?, ?)", (job_id, *UNFINISHED)
            ).rowcount > 0

    def close(self, timeout_s: float = 5.0) -> None:
        """Kill running trainers (their jobs fail, saying so) and close the store."""
        with self._lock:
            self._closing = True
            procs = list(self._procs.values())
        for proc in procs:
            proc.kill()
        for thread in self._threads:
            thread.join(timeout_s)
        self.db.close()

    # ---- the worker thread ---------------------------------------------------------------------

    def _update(self, job_id: str, **values: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.db.write() as conn:
            conn.execute(f"UPDATE finetune_jobs SET {sets} WHERE id = ?", (*values.values(), job_id))

    def _finish(self, job_id: str, status: JobStatus, error: str | None, report: dict | None = None) -> None:
        values: dict[str, object] = {"status": status, "error": error, "finished_at": time.time()}
        if report is not None:
            values.update(report=json.dumps(report, ensure_ascii=False), fraction=1.0, phase="done")
        self._update(job_id, **values)

    def _run(self, job_id: str, request: FinetuneRequest) -> None:
        run_dir = self.runs_dir / job_id
        run_dir.mkdir(parents=True, exist_ok=True)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        cmd = trainer_command(request, self.init, run_dir, self.models_dir, self.extra, self.trainer)
        log.info("fine-tune %s: %s", job_id, shlex.join(cmd))
        stderr_path = run_dir / "train.log"
        try:
            with stderr_path.open("w", encoding="utf-8") as stderr:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, encoding="utf-8", errors="replace")
                with self._lock:
                    self._procs[job_id] = proc
                self._update(job_id, status="running")
                assert proc.stdout is not None
                for line in proc.stdout:
                    progress = parse_progress(line.rstrip("\n"))
                    if progress is not None:
                        self._update(job_id, phase=progress.phase, fraction=progress.fraction, detail=progress.detail)
                code = proc.wait()
        except OSError as exc:
            self._finish(job_id, "failed", f"the trainer did not start: {exc}")
            return
        finally:
            with self._lock:
                self._procs.pop(job_id, None)
        if job_id in self._cancelled:
            self._finish(job_id, "cancelled", "cancelled")
        elif self._closing:
            self._finish(job_id, "failed", "the server stopped while this fine-tune ran; start it again")
        elif code != 0:
            tail = stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
            self._finish(job_id, "failed", f"the trainer exited with status {code}:\n" + "\n".join(tail))
        else:
            report_path = run_dir / "finetune.json"
            if not report_path.is_file():
                self._finish(job_id, "failed", f"the trainer ended without its report {report_path}")
            else:
                self._finish(job_id, "done", None, json.loads(report_path.read_text(encoding="utf-8")))
