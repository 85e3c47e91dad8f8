"""What every benchmark script's report shares: the machine's CPU and load, and replacing the
script's own section of BENCHMARKS.md between its BEGIN/END markers (nothing else changes);
``publish`` prints the section and writes it where --markdown says."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return " ".join(f"{x:.2f}" for x in load)


def write_section(path: Path, section: str, begin_mark: str, end_mark: str) -> None:
    """Replace the part of ``path`` between the markers with ``section`` (which carries them),
    append it if the markers are missing, or create the file with a title."""
    if not path.exists():
        path.write_text("# Benchmarks\n\n" + section, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    begin, end = text.find(begin_mark), text.find(end_mark)
    if begin >= 0 and end > begin:
        text = text[:begin] + section + text[end + len(end_mark) :].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def publish(section: str, markdown: Path | None, begin_mark: str, end_mark: str) -> None:
    """Print a script's section and, when ``markdown`` names a file, write it there (``write_section``)."""
    print(section)
    if markdown:
        write_section(markdown, section, begin_mark, end_mark)
