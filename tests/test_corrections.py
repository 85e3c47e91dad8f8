"""Corrections stored as labelled lines, datasets in PaddleOCR's formats, user models.

The HTTP round trip reads a rendered page with the shipped model, corrects a line as the web page
would, and exports it; the rest runs on the tiny test model (tests/tiny_model.py) with synthetic
pages. Every server has its own store in a temporary folder.
"""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from render import render_page
from tiny_model import render_code_line

import crnn_ocr.server.dataset_files as dataset_files
from crnn_ocr.cli import main
from crnn_ocr.datasets import is_heldout, line_key, read_labels
from crnn_ocr.metrics import levenshtein
from crnn_ocr.models import Manifest, register_model
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.server.auth import KeyStore
from crnn_ocr.server.corrections import CorrectionStore
from crnn_ocr.server.model_registry import model_choice
from crnn_ocr.types import Box, OCROptions

PAGE_LINES = ["Invoice number 2024-0042", "Total amount due 1,234.50"]


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def code_page(texts: list[str]) -> tuple[bytes, list[list[list[float]]]]:
    """A page of tiny-model code lines, one under another, and each line's box."""
    strips = [render_code_line(t) for t in texts]
    width = max(s.shape[1] for s in strips) + 20
    page = np.full((sum(s.shape[0] + 10 for s in strips) + 10, width), 255, np.uint8)
    boxes, y = [], 10
    for s in strips:
        page[y:y + s.shape[0], 10:10 + s.shape[1]] = s
        boxes.append(Box.from_rect(10, y, s.shape[1], s.shape[0]).to_list())
        y += s.shape[0] + 10
    return png(page), boxes


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def labels_of(files: dict[str, bytes], path: str) -> list[tuple[str, str]]:
    return [tuple(line.split("\t", 1)) for line in files[path].decode().splitlines()]  # type: ignore[misc]


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


@pytest.fixture()
def client(tiny_ocr, store: Path):
    with TestClient(create_app(ServerSettings(store_path=store), ocr=tiny_ocr)) as c:
        yield c


def correct(client: TestClient, texts: list[str], *, dataset: str = "mine", keep: bool = True,
            headers: dict[str, str] | None = None, page: tuple[bytes, list] | None = None) -> dict:
    image, boxes = page or code_page(texts)
    body = {
        "dataset": dataset, "image_base64": b64(image), "keep_training_data": keep,
        "lines": [{"box": box, "text": text} for box, text in zip(boxes, texts)],
    }
    r = client.post("/api/v1/corrections", json=body, headers=headers or {})
    assert r.status_code == 201, r.text
    return r.json()


# ---- the round trip on the shipped model -------------------------------------------------------


def test_a_line_read_by_the_shipped_model_is_corrected_and_exported(shipped_ocr, store: Path) -> None:
    page, _ = render_page(PAGE_LINES, size=28)
    with TestClient(create_app(ServerSettings(store_path=store), ocr=shipped_ocr)) as client:
        read = client.post("/api/v1/ocr", json={"image_base64": b64(png(page))})
        assert read.status_code == 200, read.text
        lines = read.json()["pages"][0]["lines"]
        assert len(lines) == 2
        line = lines[1]
        corrected = "Total amount due: 1,234.50 EUR"  # what the user types over what was read
        r = client.post("/api/v1/corrections", json={
            "dataset": "invoices", "image_base64": b64(png(page)), "keep_training_data": True,
            "lines": [{"box": line["box"], "text": corrected, "original_text": line["text"],
                       "confidence": line["confidence"]}],
        })
        assert r.status_code == 201, r.text
        added = r.json()
        assert added["page_image_kept"] is True
        [out] = added["lines"]
        assert (out["text"], out["original_text"], out["crop_kept"]) == (corrected, line["text"], True)

        export = client.get("/api/v1/datasets/invoices/export")
        assert export.status_code == 200, export.text
        assert export.headers["content-type"] == "application/zip"
        files = unzip(export.content)
    side = "heldout" if out["heldout"] else "train"
    [(crop_path, text)] = labels_of(files, f"rec/{side}/labels.tsv")
    assert text == corrected
    assert labels_of(files, f"rec/{'train' if side == 'heldout' else 'heldout'}/labels.tsv") == []
    # the crop is that line: the shipped model reads it as it read the line on the page
    crop = cv2.imdecode(np.frombuffer(files[f"rec/{side}/{crop_path}"], np.uint8), cv2.IMREAD_UNCHANGED)
    assert levenshtein(shipped_ocr(crop, OCROptions(detect=False)).text, line["text"]) <= 2
    [det] = [json.loads(row.split("\t", 1)[1]) for row in files["det/pages/Label.txt"].decode().splitlines()]
    assert det == [{"transcription": corrected, "points": line["box"], "difficult": False}]


# ---- storage rules -----------------------------------------------------------------------------


def test_without_the_opt_in_no_crop_and_no_page_image_are_kept(client: TestClient, store: Path) -> None:
    added = correct(client, ["0123", "ab45"], keep=False)
    assert added["page_image_kept"] is False
    assert [line["crop_kept"] for line in added["lines"]] == [False, False]
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*), count(crop) FROM correction_lines").fetchone() == (2, 0)
        assert db.execute("SELECT count(*), count(image) FROM correction_pages").fetchone() == (1, 0)
        texts = db.execute("SELECT text, box FROM correction_lines ORDER BY id").fetchall()
    assert [t for t, _ in texts] == ["0123", "ab45"]
    export = client.get("/api/v1/datasets/mine/export")
    assert export.status_code == 200
    assert export.headers["x-lines-without-crop"] == "2"
    files = unzip(export.content)
    assert files["rec/train/labels.tsv"] == b"" and files["rec/heldout/labels.tsv"] == b""
    assert files["det/pages/Label.txt"] == b""
    assert not any(name.endswith(".png") for name in files)
    # asking for a crop of a page whose image was not kept is refused with the reason
    r = client.post("/api/v1/corrections", json={
        "dataset": "mine", "page_sha256": added["page_sha256"], "keep_training_data": True,
        "lines": [{"box": added["lines"][0]["box"], "text": "0123"}]})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_dataset"
    assert "page image was not kept" in r.json()["error"]["message"]


def test_more_lines_of_a_page_by_its_hash_and_a_second_correction_replaces_the_text(client: TestClient) -> None:
    image, boxes = code_page(["0123", "ab45"])
    first = correct(client, ["0123"], page=(image, boxes[:1]))
    r = client.post("/api/v1/corrections", json={
        "dataset": "mine", "page_sha256": first["page_sha256"], "keep_training_data": True,
        "lines": [{"box": boxes[1], "text": "ab46"}]})
    assert r.status_code == 201, r.text
    assert r.json()["lines"][0]["crop_kept"] is True  # cut from the kept page image
    again = correct(client, ["0124"], page=(image, boxes[:1]))
    assert again["lines"][0]["id"] == first["lines"][0]["id"]
    listed = client.get("/api/v1/datasets/mine/lines").json()
    assert listed["total"] == 2
    assert sorted(line["text"] for line in listed["lines"]) == ["0124", "ab46"]
    [summary] = client.get("/api/v1/datasets").json()["datasets"]
    assert (summary["name"], summary["lines"], summary["crops"], summary["pages"], summary["page_images"]) == (
        "mine", 2, 2, 1, 1)


def test_the_heldout_side_is_decided_by_the_line_and_stays(client: TestClient, store: Path, tmp_path: Path) -> None:
    texts = [f"{i:04d}" for i in range(40)]
    image, boxes = code_page(texts)
    added = correct(client, texts, page=(image, boxes))
    sha = added["page_sha256"]
    for line, box in zip(added["lines"], boxes):
        assert line["key"] == line_key(sha, Box(tuple(map(tuple, box))))
        assert line["heldout"] == is_heldout(line["key"])
    heldout = {line["text"] for line in added["lines"] if line["heldout"]}
    assert 0 < len(heldout) < 15  # about a tenth of 40
    sides = []
    for run in range(2):
        files = unzip(client.get("/api/v1/datasets/mine/export?kind=rec").content)
        assert not any(name.startswith("det/") for name in files)
        sides.append({t for _, t in labels_of(files, "rec/heldout/labels.tsv")})
        assert {t for _, t in labels_of(files, "rec/train/labels.tsv")} == set(texts) - heldout
    assert sides == [heldout, heldout]
    # the fine-tune's export writes train/ and heldout/ straight into a folder
    corrections = CorrectionStore(store)
    try:
        summary = dataset_files.export_rec(corrections, "anonymous", "mine", tmp_path / "out")
    finally:
        corrections.close()
    assert (summary.train, summary.heldout, summary.without_crop) == (40 - len(heldout), len(heldout), 0)
    assert {t for _, t in read_labels(tmp_path / "out" / "heldout" / "labels.tsv")} == heldout
    pairs = read_labels(tmp_path / "out" / "train" / "labels.tsv")
    assert all(path.is_file() for path, _ in pairs)


# ---- owners ------------------------------------------------------------------------------------


def test_another_owners_dataset_does_not_exist(tiny_ocr, store: Path) -> None:
    keys = KeyStore(store)
    _, admin = keys.create("ops", "admin")
    alice_key, alice = keys.create("alice")
    _, bob = keys.create("bob")
    keys.close()
    with TestClient(create_app(ServerSettings(store_path=store), ocr=tiny_ocr)) as client:
        added = correct(client, ["0123"], headers=bearer(alice))
        line_id = added["lines"][0]["id"]
        assert [d["name"] for d in client.get("/api/v1/datasets", headers=bearer(alice)).json()["datasets"]] == ["mine"]
        assert client.get("/api/v1/datasets", headers=bearer(bob)).json()["datasets"] == []
        for method, path in (("GET", "/api/v1/datasets/mine/lines"), ("GET", "/api/v1/datasets/mine/export"),
                             ("DELETE", f"/api/v1/corrections/{line_id}"), ("DELETE", "/api/v1/datasets/mine")):
            r = client.request(method, path, headers=bearer(bob))
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["success"] is False
        r = client.post("/api/v1/corrections", headers=bearer(bob), json={
            "dataset": "mine", "page_sha256": added["page_sha256"], "lines": [{"box": added["lines"][0]["box"],
                                                                               "text": "x"}]})
        assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_dataset"
        r = client.get(f"/api/v1/datasets/mine/lines?owner={alice_key.id}", headers=bearer(bob))
        assert r.status_code == 403
        # an admin lists every owner's datasets and names one with ?owner=
        listed = client.get("/api/v1/datasets", headers=bearer(admin)).json()["datasets"]
        assert [(d["owner"], d["name"]) for d in listed] == [(alice_key.id, "mine")]
        r = client.get(f"/api/v1/datasets/mine/lines?owner={alice_key.id}", headers=bearer(admin))
        assert r.status_code == 200 and r.json()["total"] == 1
        assert client.delete(f"/api/v1/corrections/{line_id}", headers=bearer(alice)).json() == {
            "id": line_id, "deleted": True}
        assert client.get("/api/v1/datasets", headers=bearer(alice)).json()["datasets"] == []


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "code", "message"),
    [
        ({"dataset": "../etc"}, 400, "invalid_dataset", "invalid dataset name '../etc'"),
        ({"lines": [{"box": [[0, 0], [10, 0], [10, 20], [0, 20]], "text": "  "}]}, 400, "invalid_dataset",
         "lines[0].text: a line's text may not be blank"),
        ({"lines": [{"box": [[0, 0], [10, 0], [10, 20], [0, 20]], "text": "a\tb"}]}, 400, "invalid_dataset",
         "lines[0].text: a line's text may not hold a tab"),
        ({"lines": [{"box": [[0, 0], [9000, 0], [9000, 20], [0, 20]], "text": "x"}]}, 400, "invalid_dataset",
         "lines[0].box: the box [[0.0, 0.0], [9000.0, 0.0], [9000.0, 20.0], [0.0, 20.0]] does not lie on the"),
        ({"lines": [{"box": [[0, 0], [10, 0], [10, 0], [0, 0]], "text": "x"}]}, 400, "invalid_dataset",
         "lines[0].box: the box"),
        ({"image_base64": b64(b"not an image")}, 400, "unsupported_image", "expected PNG, JPEG, BMP, TIFF or WebP"),
        ({"image_base64": "%%%"}, 400, "invalid_base64", "image_base64 is not valid base64"),
        ({"page_sha256": "0" * 64, "image_base64": None}, 404, "unknown_dataset", "no page 000"),
        ({"lines": []}, 422, "invalid_options", "lines"),
    ],
)
def test_bad_corrections_say_what_is_wrong(client: TestClient, change: dict, status: int, code: str,
                                           message: str) -> None:
    image, boxes = code_page(["0123"])
    body = {"dataset": "mine", "image_base64": b64(image), "lines": [{"box": boxes[0], "text": "0123"}], **change}
    body = {k: v for k, v in body.items() if v is not None}
    r = client.post("/api/v1/corrections", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert message in error["message"]


def test_unknown_datasets_are_404(client: TestClient) -> None:
    for method, path in (("GET", "/api/v1/datasets/none/lines"), ("GET", "/api/v1/datasets/none/export"),
                         ("DELETE", "/api/v1/datasets/none"), ("DELETE", "/api/v1/corrections/99")):
        r = client.request(method, path)
        assert r.status_code == 404, (method, path)
        assert r.json()["error"]["code"] == "unknown_dataset"
    assert client.get("/api/v1/datasets/none/lines").json()["error"]["message"] == "no dataset 'none'"


def test_delete_a_dataset(client: TestClient) -> None:
    correct(client, ["0123", "ab45"])
    correct(client, ["6789"], dataset="other")
    assert client.delete("/api/v1/datasets/mine").json() == {"dataset": "mine", "deleted": True, "lines": 2}
    assert [d["name"] for d in client.get("/api/v1/datasets").json()["datasets"]] == ["other"]


# ---- import ------------------------------------------------------------------------------------


def test_import_paddleocr_recognition_labels(client: TestClient) -> None:
    archive = zip_of({
        "train/rec_gt_train.txt": "img/a.png\t0123\nimg/b.png\tab 45\nimg/c.png\t###\n".encode(),
        "train/img/a.png": png(render_code_line("0123")),
        "train/img/b.png": png(render_code_line("ab45")),
        "train/img/c.png": png(render_code_line("9")),
        "train/notes.txt": b"not labels",
    })
    r = client.post("/api/v1/datasets/imported/import", content=archive, headers={"Content-Type": "application/zip"})
    assert r.status_code == 201, r.text
    assert r.json() == {"dataset": "imported", "kind": "rec", "lines": 2, "pages": 0, "skipped": 1}
    files = unzip(client.get("/api/v1/datasets/imported/export?kind=rec").content)
    exported = labels_of(files, "rec/train/labels.tsv") + labels_of(files, "rec/heldout/labels.tsv")
    assert sorted(t for _, t in exported) == ["0123", "ab 45"]
    for side in ("train", "heldout"):
        for path, text in labels_of(files, f"rec/{side}/labels.tsv"):
            crop = cv2.imdecode(np.frombuffer(files[f"rec/{side}/{path}"], np.uint8), cv2.IMREAD_UNCHANGED)
            expected = render_code_line("0123" if text == "0123" else "ab45")
            assert np.array_equal(crop, expected)


def test_import_ppocrlabel_detection_labels(client: TestClient) -> None:
    image, boxes = code_page(["0123", "ab45"])
    label = "pages/p1.png\t" + json.dumps([
        {"transcription": "0123", "points": boxes[0], "difficult": False},
        {"transcription": "ab45", "points": boxes[1], "difficult": True},
    ]) + "\n"
    archive = zip_of({"pages/Label.txt": label.encode(), "pages/p1.png": image, "pages/fileState.txt": b"x\t1\n"})
    r = client.post("/api/v1/datasets/det/import", content=archive, headers={"Content-Type": "application/zip"})
    assert r.status_code == 201, r.text
    assert r.json() == {"dataset": "det", "kind": "det", "lines": 1, "pages": 1, "skipped": 1}
    files = unzip(client.get("/api/v1/datasets/det/export").content)
    [row] = files["det/pages/Label.txt"].decode().splitlines()
    path, annotations = row.split("\t")
    assert json.loads(annotations) == [{"transcription": "0123", "points": boxes[0], "difficult": False}]
    page = cv2.imdecode(np.frombuffer(files[f"det/{path}"], np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(page, cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_UNCHANGED))
    exported = labels_of(files, "rec/train/labels.tsv") + labels_of(files, "rec/heldout/labels.tsv")
    assert [t for _, t in exported] == ["0123"]


@pytest.mark.parametrize(
    ("files", "status", "message"),
    [
        (None, 400, "the upload is not a zip archive"),
        ({"a/readme.md": b"x"}, 400, "found no label file to import"),
        ({"l.tsv": b"a.png 0123\n"}, 400, "l.tsv:1: expected 'relative/path<TAB>text'"),
        ({"l.tsv": b"missing.png\t0123\n"}, 400, "l.tsv: label 1: image 'missing.png' is not in the dataset"),
        ({"l.tsv": b"../x.png\t0123\n"}, 400, "must be relative and stay inside the dataset"),
        ({"l.tsv": b"a.png\t0123\n", "a.png": b"junk"}, 400, "l.tsv: label 1: a.png:"),
        ({"Label.txt": b"p.png\t[{\"transcription\": \"x\"}]\n"}, 400, "Label.txt:1: line 1: expected"),
        ({"l.tsv": "a.png\t0123\n".encode("utf-16")}, 400, "not UTF-8"),
    ],
)
def test_bad_imports_say_what_is_wrong_and_store_nothing(client: TestClient, files: dict | None, status: int,
                                                         message: str) -> None:
    body = b"plain text" if files is None else zip_of(files)
    r = client.post("/api/v1/datasets/bad/import", content=body, headers={"Content-Type": "application/zip"})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]["message"]
    assert client.get("/api/v1/datasets").json()["datasets"] == []


def test_import_needs_a_zip_content_type(client: TestClient) -> None:
    r = client.post("/api/v1/datasets/x/import", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"


# ---- the CLI -----------------------------------------------------------------------------------


def test_cli_lists_exports_and_imports(client: TestClient, store: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    texts = [f"{i:02d}ab" for i in range(12)]
    correct(client, texts)
    assert main(["dataset", "list", "--store", str(store), "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["lines"], listed["crops"]) == ("mine", 12, 12)
    assert main(["dataset", "list", "--store", str(tmp_path)]) == 0  # the data folder names its store
    assert "mine" in capsys.readouterr().out

    out = tmp_path / "export"
    assert main(["dataset", "export", "mine", str(out), "--store", str(store)]) == 0
    exported = read_labels(out / "rec" / "train" / "labels.tsv") + read_labels(out / "rec" / "heldout" / "labels.tsv")
    assert sorted(t for _, t in exported) == texts
    assert (out / "det" / "pages" / "Label.txt").is_file()
    assert main(["dataset", "export", "mine", str(tmp_path / "mine.zip"), "--store", str(store)]) == 0
    assert "rec/train/labels.tsv" in unzip((tmp_path / "mine.zip").read_bytes())

    # import the exported recognition labels into another dataset: the same lines, the same sides
    assert main(["dataset", "import", "copy", str(out / "rec"), "--kind", "rec", "--store", str(store)]) == 0
    assert "imported into copy" in capsys.readouterr().err
    assert main(["dataset", "import", "fromdet", str(out / "det" / "pages" / "Label.txt"),
                 "--store", str(store)]) == 0
    assert main(["dataset", "list", "--store", str(store), "--json"]) == 0
    counts = {d["name"]: (d["lines"], d["pages"]) for d in json.loads(capsys.readouterr().out)}
    assert counts == {"copy": (12, 0), "fromdet": (12, 1), "mine": (12, 1)}

    # one label file of another name, its kind given
    (out / "rec" / "train" / "train.txt").write_bytes((out / "rec" / "train" / "labels.tsv").read_bytes())
    assert main(["dataset", "import", "single", str(out / "rec" / "train" / "train.txt"), "--kind", "rec",
                 "--store", str(store)]) == 0
    assert f"imported into single in {store}: {len(read_labels(out / 'rec' / 'train' / 'labels.tsv'))} lines" in (
        capsys.readouterr().err)

    assert main(["dataset", "export", "none", str(tmp_path / "x"), "--store", str(store)]) == 1
    assert "no dataset 'none'" in capsys.readouterr().err
    assert main(["dataset", "import", "bad", str(tmp_path / "missing.tsv"), "--store", str(store)]) == 1
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["dataset", "list", "--store", str(tmp_path / "nowhere.sqlite3")]) == 1


# ---- user models -------------------------------------------------------------------------------


def test_user_models_are_listed_and_one_is_made_the_default(tiny_ocr, tiny_model_path: Path, store: Path) -> None:
    settings = ServerSettings(store_path=store)
    user_dir = settings.user_model_dir
    assert user_dir == store.parent / "models"
    with TestClient(create_app(settings, ocr=tiny_ocr)) as client:
        names = [m["name"] for m in client.get("/api/v1/models").json()["models"]]
        register_model(user_dir, "mine-v1", tiny_model_path)  # as the fine-tune does, while the server runs
        models = {m["name"]: m for m in client.get("/api/v1/models").json()["models"]}
        assert list(models) == [*names, "mine-v1"]
        assert models["mine-v1"]["user"] is True and models["mine-v1"]["default"] is False
        assert all(not m["user"] for n, m in models.items() if n != "mine-v1")
        read = client.post("/api/v1/ocr", json={"image_base64": b64(png(render_code_line("0123"))),
                                                "options": {"detect": False, "model": "mine-v1"}})
        assert read.status_code == 200, read.text
        assert read.json()["text"] == "0123" and read.json()["model"]["name"] == "mine-v1"

        r = client.post("/api/v1/admin/models/default", json={"name": "nope"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_model"
        r = client.post("/api/v1/admin/models/default", json={"name": "mine-v1"})
        assert r.status_code == 200, r.text
        assert r.json() == {"default": "mine-v1", "saved_to": str(user_dir / "manifest.json"),
                            "applies": "next_start"}
    assert Manifest.read(user_dir, require_default=False).default == "mine-v1"
    # applied at the next start, unless --model names another
    assert model_choice(settings) == str(user_dir / "mine-v1.onnx")
    assert model_choice(ServerSettings(store_path=store, model_path="other")) == "other"


def test_choosing_the_default_model_needs_an_admin_key(tiny_ocr, store: Path) -> None:
    keys = KeyStore(store)
    _, user = keys.create("alice")
    keys.close()
    with TestClient(create_app(ServerSettings(store_path=store), ocr=tiny_ocr)) as client:
        r = client.post("/api/v1/admin/models/default", json={"name": "x"}, headers=bearer(user))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "forbidden"


def test_an_archive_over_the_limits_is_413(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset_files, "MAX_IMPORT_FILES", 2)
    archive = zip_of({"l.tsv": b"a.png\t0123\n", "a.png": png(render_code_line("0123")), "b.png": b"x"})
    r = client.post("/api/v1/datasets/big/import", content=archive, headers={"Content-Type": "application/zip"})
    assert r.status_code == 413
    assert r.json()["error"] == {"code": "dataset_too_large",
                                 "message": "3 files to import, more than the limit of 2"}
