"""``min_confidence`` and ``pattern`` on every interface: Python API, CLI, both HTTP endpoints,
batch jobs (the web page's slider and field are in test_server_browser.py)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import cv2
import pytest
from fastapi.testclient import TestClient
from jobs_support import wait_until
from tiny_model import render_code_line

from crnn_ocr import cli
from crnn_ocr.errors import OptionsError
from crnn_ocr.pipeline import OCR
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.types import DecodeOptions, OCROptions

CODE_TEXT = "0123ab中文"  # the tiny model reads it with confidence ~0.9999


@pytest.fixture(scope="module")
def line_png() -> bytes:
    ok, buf = cv2.imencode(".png", render_code_line(CODE_TEXT))
    assert ok
    return buf.tobytes()


def read(ocr: OCR, image, **decode: object):
    return ocr(image, OCROptions(detect=False, decode=DecodeOptions(**decode)))


def test_api_min_confidence_drops_lines_below_it(tiny_ocr: OCR) -> None:
    image = render_code_line(CODE_TEXT)
    kept = read(tiny_ocr, image, min_confidence=0.5)
    assert kept.text == CODE_TEXT
    line = kept.lines[0]
    assert line.min_char_confidence <= line.confidence <= line.mean_char_confidence <= 1.0
    assert {"mean_char_confidence", "min_char_confidence"} <= set(line.to_dict())
    assert read(tiny_ocr, image, min_confidence=1.0).lines == ()
    with pytest.raises(OptionsError, match="min_confidence"):
        read(tiny_ocr, image, min_confidence=1.5)


def test_api_pattern_reads_only_what_the_grammar_accepts(tiny_ocr: OCR) -> None:
    image = render_code_line(CODE_TEXT)
    digits = read(tiny_ocr, image, pattern="digits").text
    assert re.fullmatch(r"\d+", digits) and digits.startswith("0123")
    assert read(tiny_ocr, image, pattern=r"[0-9a-z中文]+").text == CODE_TEXT
    with pytest.raises(OptionsError, match="pattern"):
        read(tiny_ocr, image, pattern="(")


@pytest.fixture
def run(tiny_model_path: Path, capsys: pytest.CaptureFixture[str]):
    def _run(*argv: str) -> tuple[int, str, str]:
        command, *rest = argv
        status = cli.main([command, "--model", str(tiny_model_path), "--threads", "1", *rest])
        out, err = capsys.readouterr()
        return status, out, err

    return _run


def test_cli_min_confidence_and_pattern(run, tmp_path: Path, line_png: bytes) -> None:
    path = tmp_path / "line.png"
    path.write_bytes(line_png)
    status, out, _ = run("read", "--no-detect", "--format", "json", "--min-confidence", "0.5", str(path))
    assert status == 0 and json.loads(out)[0]["pages"][0]["lines"][0]["min_char_confidence"] > 0.5
    status, out, _ = run("read", "--no-detect", "--format", "json", "--min-confidence", "1", str(path))
    assert status == 0 and json.loads(out)[0]["pages"][0]["lines"] == []
    status, out, _ = run("read", "--no-detect", "--pattern", "digits", str(path))
    assert status == 0 and re.fullmatch(r"\d+", out.strip())
    status, _, err = run("read", "--no-detect", "--pattern", "(", str(path))
    assert status == 2 and "pattern" in err
    with pytest.raises(SystemExit):
        run("read", "--no-detect", "--min-confidence", "2", str(path))


@pytest.fixture(scope="module")
def client(tiny_ocr: OCR):
    with TestClient(create_app(ServerSettings(), ocr=tiny_ocr)) as c:
        yield c


def _both(client: TestClient, data: bytes, decode: dict):
    via_json = client.post(
        "/api/v1/ocr",
        json={"image_base64": base64.b64encode(data).decode(), "options": {"detect": False, "decode": decode}},
    )
    form = {"detect": "false", **{k: str(v) for k, v in decode.items()}}
    via_form = client.post("/ocr", files={"image": ("x.png", data, "image/png")}, data=form)
    return via_json, via_form


def test_http_min_confidence_on_both_endpoints(client: TestClient, line_png: bytes) -> None:
    for response in _both(client, line_png, {"min_confidence": 0.5}):
        assert response.status_code == 200, response.text
        line = response.json()["lines"][0]
        assert line["text"] == CODE_TEXT and 0.5 < line["min_char_confidence"] <= line["mean_char_confidence"]
    for response in _both(client, line_png, {"min_confidence": 1.0}):
        assert response.status_code == 200 and response.json()["lines"] == []
    for response in _both(client, line_png, {"min_confidence": 1.5}):
        assert response.status_code == 422


def test_http_pattern_on_both_endpoints(client: TestClient, line_png: bytes) -> None:
    for response in _both(client, line_png, {"pattern": "digits"}):
        assert response.status_code == 200, response.text
        assert re.fullmatch(r"\d+", response.json()["text"])
    for response in _both(client, line_png, {"pattern": "(ab"}):
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_options"


def test_jobs_take_min_confidence_and_pattern(client: TestClient, line_png: bytes) -> None:
    image = {"image_base64": base64.b64encode(line_png).decode(), "name": "line.png"}
    results = {}
    for name, decode in {"floor": {"min_confidence": 1.0}, "pattern": {"pattern": "digits"}}.items():
        r = client.post("/api/v1/jobs", json={"images": [image], "options": {"detect": False, "decode": decode}})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]

        def finished(job_id: str = job_id) -> dict | None:
            job = client.get(f"/api/v1/jobs/{job_id}").json()
            return job if job["status"] in ("completed", "cancelled") else None

        results[name] = wait_until(finished, 60, "the job")["items"][0]["result"]
    assert results["floor"]["pages"][0]["lines"] == []
    assert re.fullmatch(r"\d+", results["pattern"]["text"])
    r = client.post("/api/v1/jobs", files=[("images", ("l.png", line_png, "image/png"))], data={"detect": "false", "min_confidence": "1"})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    job = wait_until(lambda: (j := client.get(f"/api/v1/jobs/{job_id}").json())["status"] == "completed" and j, 60, "the job")
    assert job["items"][0]["result"]["pages"][0]["lines"] == []


def test_options_plain_data_round_trip_and_unknown_keys():
    from crnn_ocr.errors import OptionsError
    from crnn_ocr.types import DecodeOptions, OCROptions, PreprocessOptions

    opts = OCROptions(
        detect=False,
        preprocess=PreprocessOptions(clahe=True),
        decode=DecodeOptions(method="greedy", allowlist="0123456789"),
        detector="classical",
        fields=True,
    )
    data = opts.to_dict()
    assert data["decode"]["method"] == "greedy" and data["preprocess"]["clahe"] is True
    assert OCROptions.from_dict(data) == opts
    assert OCROptions.from_dict({}) == OCROptions()
    assert OCROptions.from_dict({"decode": {"beam_width": 4}}).decode.beam_width == 4
    with pytest.raises(OptionsError, match="decode.beamwidth"):
        OCROptions.from_dict({"decode": {"beamwidth": 4}})
    with pytest.raises(OptionsError, match="detectr"):
        OCROptions.from_dict({"detectr": "learned"})
    with pytest.raises(OptionsError, match="must be an object"):
        OCROptions.from_dict({"preprocess": [1]})
