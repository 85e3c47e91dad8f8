"""Build hook (everything else is in pyproject.toml): the wheel carries the shipped models.

``models/manifest.json`` and every file it lists (the recognizer, the detector, the character
LM) are copied into the built package as ``crnn_ocr/shipped/``, where ``crnn_ocr.models`` finds
them through ``importlib.resources`` and checks their SHA-256 as in a checkout. The repository
keeps one copy of each model (in ``models/``); the sdist carries them through MANIFEST.in.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODELS = Path(__file__).resolve().parent / "models"
PACKAGE_DIR = ("crnn_ocr", "shipped")


class BuildPyWithModels(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads models/ in place
            return
        target = Path(self.build_lib, *PACKAGE_DIR)
        target.mkdir(parents=True, exist_ok=True)
        manifest = json.loads((MODELS / "manifest.json").read_text(encoding="utf-8"))
        for name, entry in manifest["models"].items():
            source = MODELS / entry["file"]
            if not source.is_file():
                raise SystemExit(f"build: {source} (model {name!r} of models/manifest.json) is missing")
            digest = hashlib.sha256(source.read_bytes()).hexdigest()
            if digest != entry["sha256"]:
                raise SystemExit(f"build: {source}: SHA-256 {digest}, models/manifest.json says {entry['sha256']}")
            shutil.copyfile(source, target / entry["file"])
            if entry.get("card"):  # its model card: GET /api/v1/models summarises it
                shutil.copyfile(MODELS / entry["card"], target / entry["card"])
        shutil.copyfile(MODELS / "manifest.json", target / "manifest.json")


setup(cmdclass={"build_py": BuildPyWithModels})
