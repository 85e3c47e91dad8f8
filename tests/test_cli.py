"""The ``crnn-ocr`` command over the tiny model: read (formats, folders, globs, failures), eval, serve."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from render import to_png_bytes
from tiny_model import render_code_line

from crnn_ocr import cli
from crnn_ocr.batch import Failure, PageOutcome, PlannedInput
from crnn_ocr.cli.pages import InputResult, PageCollector
from crnn_ocr.cli.progress import Progress, with_progress
from crnn_ocr.types import Document, Page


@pytest.fixture
def run(tiny_model_path: Path, capsys: pytest.CaptureFixture[str]):
    """main(argv) with the tiny model: returns (exit status, stdout, stderr)."""

    def _run(*argv: str, model: bool = True) -> tuple[int, str, str]:
        command, *rest = argv
        extra = ["--model", str(tiny_model_path), "--threads", "1"] if model else []
        status = cli.main([command, *extra, *rest])
        out, err = capsys.readouterr()
        return status, out, err

    return _run


def write_line(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_png_bytes(render_code_line(text)))
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """b.png, a.png, sub/c.jpg-named PNG, and a text file that is not an image."""
    root = tmp_path / "scans"
    write_line(root / "b.png", "22")
    write_line(root / "a.png", "11")
    write_line(root / "sub" / "c.PNG", "33")
    (root / "notes.txt").write_text("not an image")
    return root


def jsonl(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


# ---- read ----------------------------------------------------------------------------------------


def test_jsonl_rows_for_a_folder_come_sorted(run, folder: Path) -> None:
    status, out, err = run("read", "--no-detect", "--format", "jsonl", str(folder))
    assert status == 0 and err == ""
    rows = jsonl(out)
    assert [Path(r["path"]).relative_to(folder).as_posix() for r in rows] == ["a.png", "b.png", "sub/c.PNG"]
    assert [r["text"] for r in rows] == ["11", "22", "33"]
    line = rows[0]["lines"][0]
    assert set(line) == {"text", "confidence", "box"} and line["text"] == "11"
    assert len(line["box"]) == 4


def test_output_follows_argument_order(run, folder: Path) -> None:
    paths = [str(folder / "b.png"), str(folder / "a.png")]
    status, out, _ = run("read", "--no-detect", "--format", "jsonl", *paths)
    assert status == 0
    assert [r["text"] for r in jsonl(out)] == ["22", "11"]


def test_a_failing_file_is_reported_and_the_rest_still_run(run, folder: Path) -> None:
    bad = folder / "a2.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # PNG signature, damaged content
    missing = folder / "gone.png"
    status, out, err = run("read", "--no-detect", "--format", "jsonl", str(folder), str(missing))
    assert status == 1
    rows = jsonl(out)
    assert [Path(r["path"]).name for r in rows] == ["a.png", "a2.png", "b.png", "c.PNG", "gone.png"]
    assert rows[1]["error"]["code"] == "corrupt_image" and "text" not in rows[1]
    assert rows[4]["error"] == {"code": "image_not_found", "message": "no such file"}
    assert [r.get("text") for r in rows] == ["11", None, "22", "33", None]
    assert f"error: {bad}: " in err and f"error: {missing}: no such file" in err


def test_text_format_single_and_several_files(run, folder: Path) -> None:
    status, out, _ = run("read", "--no-detect", str(folder / "a.png"))
    assert (status, out) == (0, "11\n")
    paths = [str(folder / "a.png"), str(folder / "b.png")]
    status, out, _ = run("read", "--no-detect", "--format", "text", *paths)
    assert out == f"==> {folder / 'a.png'} <==\n11\n\n==> {folder / 'b.png'} <==\n22\n\n"


def test_json_format_is_one_document(run, folder: Path) -> None:
    paths = [str(folder / "sub"), str(folder / "nothing")]
    status, out, _ = run("read", "--no-detect", "--format", "json", *paths)
    assert status == 1
    doc = json.loads(out)
    assert isinstance(doc, list) and len(doc) == 2
    assert doc[0]["text"] == "33" and doc[1]["error"]["code"] == "image_not_found"


def test_globs_expand_sorted(run, folder: Path) -> None:
    status, out, _ = run("read", "--no-detect", "--format", "jsonl", str(folder / "*.png"))
    assert status == 0
    assert [Path(r["path"]).name for r in jsonl(out)] == ["a.png", "b.png"]
    status, out, err = run("read", "--no-detect", "--format", "jsonl", str(folder / "*.gif"))
    assert status == 1 and jsonl(out)[0]["error"]["message"] == "no file matches"
    assert "no file matches" in err


def test_empty_folder_is_an_error(run, tmp_path: Path) -> None:
    status, out, err = run("read", "--format", "jsonl", str(tmp_path))
    assert status == 1 and "no image files" in jsonl(out)[0]["error"]["message"]


def test_detection_is_on_by_default(run, tmp_path: Path) -> None:
    page = np.full((200, 300), 255, np.uint8)
    for y, text in ((40, "1234"), (120, "ab")):
        line = render_code_line(text)
        page[y : y + 32, 20 : 20 + line.shape[1]] = line
    (tmp_path / "page.png").write_bytes(to_png_bytes(page))
    status, out, _ = run("read", "--format", "jsonl", str(tmp_path / "page.png"))
    (row,) = jsonl(out)
    assert row["text"] == "1234\nab" and len(row["lines"]) == 2


@pytest.mark.parametrize(
    ("flags", "text"),
    [
        ([], "5文"),
        (["--deny", "文"], "5中"),
        (["--allow", "5中"], "5中"),
        (["--beam", "4", "--deny", "文"], "5中"),
        (["--clahe", "--denoise", "--morph-close"], "5文"),
    ],
)
def test_decoding_and_preprocessing_flags(run, tmp_path: Path, flags: list[str], text: str) -> None:
    path = write_line(tmp_path / "x.png", "5文")
    status, out, _ = run("read", "--no-detect", *flags, str(path))
    assert (status, out) == (0, text + "\n")


def test_beam_without_width_after_the_paths(run, tmp_path: Path) -> None:
    path = write_line(tmp_path / "x.png", "90")
    assert run("read", "--no-detect", str(path), "--beam")[:2] == (0, "90\n")


def test_options_that_leave_nothing_are_a_usage_error(run, tmp_path: Path) -> None:
    path = write_line(tmp_path / "x.png", "1")
    status, out, err = run("read", "--allow", "xyz", str(path))
    assert (status, out) == (2, "") and "leave no character" in err


def test_detector_choice_on_the_command_line(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRNN_OCR_DET_MODEL", raising=False)
    path = write_line(tmp_path / "x.png", "1")
    # The shipped detector (models/manifest.json) is there by default ...
    status, out, err = run("read", "--detector", "learned", "--no-orient", "--format", "json", str(path))
    assert status == 0, err
    assert json.loads(out)[0]["pages"][0]["detector"] == "learned"
    # ... and without a manifest that names one, learned is a usage error.
    monkeypatch.setenv("CRNN_OCR_MODEL_DIR", str(tmp_path / "no-models"))
    status, out, err = run("read", "--detector", "learned", str(path))
    assert status == 2 and "needs a text-detector model" in err
    status, out, err = run("read", "--detector", "classical", "--no-orient", "--format", "json", str(path))
    assert status == 0, err
    (row,) = json.loads(out)
    assert (row["pages"][0]["detector"], row["pages"][0]["orientation"]) == ("classical", 0)


@pytest.mark.parametrize(
    "argv",
    [["read"], ["read", "--threads", "0", "x.png"], ["read", "--format", "xml", "x"], ["read", "--detector", "x", "a"], []],
)
def test_bad_arguments_exit_2(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_a_missing_model_fails_with_a_message(run, tmp_path: Path) -> None:
    path = write_line(tmp_path / "x.png", "1")
    status, out, err = run("read", "--model", str(tmp_path / "none.onnx"), str(path), model=False)
    assert (status, out) == (1, "") and "none.onnx: model file not found" in err


def test_progress_bar_only_on_a_terminal(run, folder: Path) -> None:
    _, _, err = run("read", "--no-detect", str(folder))  # stderr captured: not a TTY
    assert err == ""


def _outcome(index: int, number: int, failure: Failure | None = None) -> PageOutcome:
    page = None if failure else Page(width=10, height=10, lines=(), number=number)
    return PageOutcome(index, number, page, image_jpeg=None if failure else bytes([number]), failure=failure)


def test_pages_arriving_in_any_order_make_one_document_per_input() -> None:
    plans = [PlannedInput(0, "a.pdf", page_count=5, numbers=(2, 3)), PlannedInput(1, "b.png", 1, (1,)),
             PlannedInput(2, "c.pdf", failure=Failure("unsupported_image", "not an image"))]
    pages = PageCollector(plans)
    assert pages.total == 3  # the failed input has no pages to read
    assert pages.add(_outcome(0, 3)) is None  # page 2 of a.pdf still missing
    assert pages.add(_outcome(1, 1)) == InputResult(1, Document((_outcome(1, 1).page,), 1, "b.png"), (b"\x01",))
    done = pages.add(_outcome(0, 2))
    assert done is not None and done.index == 0 and isinstance(done.result, Document)
    assert [p.number for p in done.result.pages] == [2, 3] and done.result.page_count == 5
    assert done.images == (b"\x02", b"\x03")  # in page order, not arrival order


def test_a_failing_page_fails_its_input_once() -> None:
    pages = PageCollector([PlannedInput(0, "a.pdf", page_count=3, numbers=(1, 2, 3))])
    broken = Failure("corrupt_document", "page 2 is damaged")
    assert pages.add(_outcome(0, 1)) is None
    assert pages.add(_outcome(0, 2, broken)) == InputResult(0, broken)
    assert pages.add(_outcome(0, 3)) is None  # the input already failed: later pages are dropped


@pytest.mark.parametrize("have_tqdm", [True, False])
def test_progress_writes_messages_above_the_bar(monkeypatch, have_tqdm: bool) -> None:
    if not have_tqdm:
        monkeypatch.setitem(sys.modules, "tqdm", None)  # import fails: the built-in bar is used
    stream = io.StringIO()
    progress = Progress(3, enabled=True, stream=stream)
    for _ in with_progress(["a", "b", "c"], progress):
        progress.write("error: a: broken")
    text = stream.getvalue()
    assert text.count("error: a: broken\n") == 3
    if not have_tqdm:
        assert "3/3" in text


def test_the_console_script_runs(tiny_model_path: Path, folder: Path) -> None:
    script = Path(sys.executable).with_name("crnn-ocr")
    if not script.exists():
        pytest.skip("crnn-ocr console script not installed in this environment")
    done = subprocess.run(
        [str(script), "read", "--no-detect", "--model", str(tiny_model_path), "--threads", "1",
         "--format", "jsonl", str(folder / "a.png"), str(folder / "notes.txt")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    rows = jsonl(done.stdout)
    assert rows[0]["text"] == "11" and rows[1]["error"]["code"] == "unsupported_image"
    assert f"error: {folder / 'notes.txt'}:" in done.stderr


# ---- eval ----------------------------------------------------------------------------------------


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    root = tmp_path / "my_set"
    write_line(root / "images" / "1.png", "123")
    write_line(root / "images" / "2.png", "ab")
    write_line(root / "images" / "3.png", "中文")
    lines = ["images/1.png\t123", "images/2.png\tab", "images/3.png\t中中", ""]
    (root / "labels.tsv").write_text("\n".join(lines), encoding="utf-8")
    return root / "labels.tsv"


def test_eval_prints_scores(run, labels: Path) -> None:
    status, out, _ = run("eval", str(labels), "--json")
    assert status == 0
    report = json.loads(out)
    assert (report["lines"], report["failed"], report["scoring"]) == (3, 0, "text")
    assert report["cer"] == pytest.approx(1 / 7)  # one edit in 3 + 2 + 2 characters
    assert report["line_accuracy"] == pytest.approx(2 / 3)
    assert report["one_minus_ned"] == pytest.approx(1 - (0.5 / 3))
    assert report["lines_per_s"] > 0 and report["model"] == "tiny_test 0.0.1"


def test_eval_human_output_and_limit(run, labels: Path) -> None:
    status, out, _ = run("eval", str(labels), "--limit", "2", "--scoring", "raw")
    assert status == 0
    assert "lines         2" in out and "CER           0.00 %" in out and "line accuracy 100.00 %" in out


def test_eval_counts_unreadable_images_as_empty(run, labels: Path) -> None:
    (labels.parent / "images" / "2.png").unlink()
    status, out, err = run("eval", str(labels), "--json")
    assert status == 1 and "no such file" in err
    report = json.loads(out)
    assert report["failed"] == 1 and report["line_accuracy"] == pytest.approx(1 / 3)


def test_eval_missing_labels_file(run, tmp_path: Path) -> None:
    status, _, err = run("eval", str(tmp_path / "labels.tsv"))
    assert status == 1 and "labels.tsv" in err


# ---- serve ---------------------------------------------------------------------------------------


def test_serve_is_listed_in_help_for_other_commands() -> None:
    help_text = cli.build_parser("read").format_help()
    assert "serve" in help_text and "run the HTTP API" in help_text


def test_serve_parser_comes_from_the_server_package() -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("crnn_ocr.server.cli")
    args = cli.build_parser("serve").parse_args(["serve", "--port", "8123"])
    assert args.port == 8123 and callable(args.func)


# ---- bad input through the CLI: a clear error per file, never a traceback or a hang -------------


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        ("zero.png", lambda: b"", "empty_image"),
        ("truncated.png", lambda: to_png_bytes(render_code_line("1234"))[:60], "corrupt_image"),
        ("notes.jpg", lambda: "this is a text file, not a photo\n".encode(), "unsupported_image"),
        ("huge.png", lambda: __import__("test_io").png_header(60000, 60000), "image_too_large"),
    ],
    ids=["zero-bytes", "truncated-png", "text-named-jpg", "60000x60000-header"],
)
def test_bad_input_gets_a_clear_error(run, tmp_path: Path, name: str, make, code: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(make())
    good = write_line(tmp_path / "good.png", "11")
    status, out, err = run("read", "--no-detect", "--format", "jsonl", str(bad), str(good))
    assert status == 1
    rows = jsonl(out)
    assert rows[0]["error"]["code"] == code and rows[0]["error"]["message"]
    assert rows[1]["text"] == "11"
    assert "Traceback" not in err and f"error: {bad}: " in err
