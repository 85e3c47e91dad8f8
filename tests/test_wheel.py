"""The wheel works on its own: ``python -m build`` (sdist, then the wheel from it), installed into a
fresh virtualenv outside the checkout, reads the sample page and a PDF through the ``crnn-ocr``
CLI and through ``from crnn_ocr import OCR`` with the models the wheel carries (SHA-256 checked).

No network: the new virtualenv sees the dependencies already installed for the tests through a
``.pth`` line naming their site-packages (a plain path: the editable install of the checkout,
itself a ``.pth`` file there, is not run), and the wheel goes in with ``--no-deps --no-index``.
The test checks that ``crnn_ocr`` is imported from the new virtualenv, not from the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import cv2
import pytest
from pdfs import image_pdf

from crnn_ocr.metrics import normalize_for_scoring, score_pairs

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "invoice_zh_en.png"
TRUTH = (REPO / "samples" / "invoice_zh_en.txt").read_text(encoding="utf-8").splitlines()
SHIPPED = json.loads((REPO / "models" / "manifest.json").read_text(encoding="utf-8"))
PAGE_CER_CEILING = 0.03  # as tests/test_shipped_model.py

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / "models" / "manifest.json").is_file(), reason="needs the checkout"
)


def cer(text: str) -> float:
    want = "".join(normalize_for_scoring(t, "text") for t in TRUTH)
    got = "".join(normalize_for_scoring(t, "text") for t in text.splitlines())
    return score_pairs([want], [got], "text").cer


def run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(the fresh virtualenv, a work folder outside the checkout, the environment to run in)."""
    tmp = tmp_path_factory.mktemp("wheel")
    # no PYTHONPATH (a checkout's src/ on it would be "crnn-ocr, already installed" to pip), no settings
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("CRNN_OCR_")}
    dist = tmp / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(REPO)], REPO, env)
    wheels = list(dist.glob("crnn_ocr-*.whl"))
    assert len(wheels) == 1 and len(list(dist.glob("crnn_ocr-*.tar.gz"))) == 1

    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp, env)
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp,
                    env).stdout.strip())
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
         str(wheels[0])], tmp, env)
    assert (venv / "bin" / "crnn-ocr").is_file() and (site / "crnn_ocr" / "shipped").is_dir()
    # after the install: pip would take the checkout's editable install, seen there, for this one
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n", encoding="utf-8")

    work = tmp / "work"
    work.mkdir()
    shutil.copy(SAMPLE, work / "invoice.png")
    (work / "invoice.pdf").write_bytes(image_pdf([cv2.imread(str(SAMPLE))], dpi=200))
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return venv, work, env


def test_the_wheel_carries_the_models_and_only_runtime_requirements(installed) -> None:
    venv, _work, _env = installed
    wheel = next((venv.parent / "dist").glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for entry in SHIPPED["models"].values():
        assert f"crnn_ocr/shipped/{entry['file']}" in names
    assert "crnn_ocr/shipped/manifest.json" in names
    page = REPO / "src" / "crnn_ocr" / "server" / "static"
    page_files = {f"crnn_ocr/server/static/{p.relative_to(page).as_posix()}" for p in page.rglob("*")
                  if p.is_file()}
    assert "crnn_ocr/server/static/views/read.js" in page_files  # the web page, views/ too
    assert page_files - names == set()
    required = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert not any(heavy in line for line in required for heavy in ("torch", "celery", "fastapi", "playwright"))
    assert {"serve", "jobs", "train", "bench"} <= {line.split(":", 1)[1].strip() for line in metadata.splitlines()
                                                   if line.startswith("Provides-Extra:")}


def test_cli_reads_the_sample_and_a_pdf_outside_the_checkout(installed) -> None:
    venv, work, env = installed
    cli = str(venv / "bin" / "crnn-ocr")
    page = run([cli, "read", "invoice.png"], work, env)
    assert cer(page.stdout) < PAGE_CER_CEILING
    pdf = run([cli, "read", "--format", "jsonl", "invoice.pdf"], work, env)
    row = json.loads(pdf.stdout.strip())
    assert row["page"] == 1 and cer(row["text"]) < PAGE_CER_CEILING


def test_python_api_uses_the_packaged_models_hash_checked(installed) -> None:
    venv, work, env = installed
    script = (
        "import json, crnn_ocr\n"
        "from crnn_ocr import OCR\n"
        "from crnn_ocr.models import resolve_model, resolve_lm, resolve_detector_model\n"
        "ocr = OCR()\n"
        "doc = ocr.read_document('invoice.pdf')\n"
        "print(json.dumps({'file': crnn_ocr.__file__, 'model': str(resolve_model().path),\n"
        "  'source': resolve_model().source, 'lm': str(resolve_lm()), 'det': str(resolve_detector_model()),\n"
        "  'png': ocr('invoice.png').text, 'pdf': doc.pages[0].text}))\n"
    )
    out = json.loads(run([str(venv / "bin" / "python"), "-c", script], work, env).stdout)
    for key in ("file", "model", "lm", "det"):
        assert Path(out[key]).resolve().is_relative_to(venv.resolve()), (key, out[key])
    assert out["source"] == "manifest" and Path(out["model"]).name == SHIPPED["models"][SHIPPED["default"]]["file"]
    assert cer(out["png"]) < PAGE_CER_CEILING and cer(out["pdf"]) < PAGE_CER_CEILING


def test_a_damaged_packaged_model_is_refused(installed, tmp_path: Path) -> None:
    venv, work, env = installed
    site = next(venv.glob("lib/python*/site-packages"))
    detector = site / "crnn_ocr" / "shipped" / SHIPPED["models"][SHIPPED["detector"]]["file"]
    original = detector.read_bytes()
    try:
        detector.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        done = run([str(venv / "bin" / "crnn-ocr"), "read", "invoice.png"], work, env, check=False)
    finally:
        detector.write_bytes(original)
    assert done.returncode != 0 and "SHA-256 mismatch" in done.stderr and str(detector) in done.stderr
