"""Documents in: PDFs (every page, page ranges, DPI), multi-page TIFFs and images; limits and their
clear errors (password, page count, pixels); the CLI over documents (formats, -o, --jobs, --resume)
and the HTTP API with PDF uploads. Recognition runs on the shipped model.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pdfs import KNOWN_TEXT, encrypted_pdf, image_pdf, known_pages, many_pages_pdf, multipage_tiff
from render import to_png_bytes

from crnn_ocr import OCR
from crnn_ocr.cli import main as cli_main
from crnn_ocr.documents import DocumentLimits, open_document, parse_page_range
from crnn_ocr.errors import (
    CorruptImageError,
    EncryptedDocumentError,
    ImageTooLargeError,
    OptionsError,
    TooManyPagesError,
    UnsupportedImageError,
)
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.types import DocumentOptions

# ---- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pages() -> list[np.ndarray]:
    return [img for img, _ in known_pages()]


@pytest.fixture(scope="module")
def pdf_bytes(pages: list[np.ndarray]) -> bytes:
    return image_pdf(pages, dpi=200)


@pytest.fixture(scope="module")
def pdf_path(tmp_path_factory: pytest.TempPathFactory, pdf_bytes: bytes) -> Path:
    path = tmp_path_factory.mktemp("docs") / "known.pdf"
    path.write_bytes(pdf_bytes)
    return path


@pytest.fixture(scope="module")
def huge_pdf() -> bytes:
    return many_pages_pdf(10_000)


def texts(page) -> list[str]:
    return [line.text for line in page.lines]


# ---- page ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "count", "expected"),
    [
        (None, 3, (1, 2, 3)),
        ("", 3, (1, 2, 3)),
        ("2", 3, (2,)),
        ("1-2", 5, (1, 2)),
        ("4-", 5, (4, 5)),
        ("-2", 5, (1, 2)),
        ("5,1-2,2", 5, (1, 2, 5)),
        (" 1 - 3 , 5 ", 5, (1, 2, 3, 5)),
    ],
)
def test_page_ranges(spec: str | None, count: int, expected: tuple[int, ...]) -> None:
    assert parse_page_range(spec, count) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0", "count from 1"),
        ("3-1", "forwards"),
        ("a", "bad page range"),
        ("1,,2", "bad page range"),
        ("-", "bad page range"),
        ("7", "has 5 pages"),
    ],
)
def test_bad_page_ranges_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        parse_page_range(spec, 5)


# ---- reading documents -------------------------------------------------------------------------


def test_every_page_of_a_pdf_is_read_in_order(shipped_ocr: OCR, pdf_path: Path, pages) -> None:
    doc = shipped_ocr.read_document(pdf_path, document=DocumentOptions(dpi=200))
    assert doc.page_count == 3 and [p.number for p in doc.pages] == [1, 2, 3]
    assert [texts(p) for p in doc.pages] == KNOWN_TEXT
    for page, image in zip(doc.pages, pages):  # rendered at the DPI the images were stored at
        assert (page.height, page.width) == image.shape and page.dpi == 200
    assert doc.text == "\f".join("\n".join(lines) for lines in KNOWN_TEXT)
    assert doc.source == str(pdf_path)


def test_page_range_and_dpi(shipped_ocr: OCR, pdf_bytes: bytes, pages) -> None:
    doc = shipped_ocr.read_document(pdf_bytes, document=DocumentOptions(dpi=300, pages="2-"))
    assert doc.page_count == 3 and [p.number for p in doc.pages] == [2, 3]

    def squash(lines: list[str]) -> list[str]:  # spaces between scripts vary with the scale
        return ["".join(t.split()) for t in lines]

    assert [squash(texts(p)) for p in doc.pages] == [squash(t) for t in KNOWN_TEXT[1:]]
    h, w = pages[1].shape
    assert abs(doc.pages[0].width - w * 1.5) <= 1 and abs(doc.pages[0].height - h * 1.5) <= 1


def test_multipage_tiff_pages(shipped_ocr: OCR, pages) -> None:
    doc = shipped_ocr.read_document(multipage_tiff(pages[:2], dpi=150))
    assert doc.page_count == 2 and [texts(p) for p in doc.pages] == KNOWN_TEXT[:2]
    assert [p.dpi for p in doc.pages] == [150, 150]


def test_an_image_is_a_one_page_document(shipped_ocr: OCR, pages) -> None:
    doc = shipped_ocr.read_document(to_png_bytes(pages[0]))
    assert doc.page_count == 1 and texts(doc.pages[0]) == KNOWN_TEXT[0]


def test_pdf_pages_render_as_bgr_at_the_dpi(pdf_bytes: bytes, pages) -> None:
    with open_document(pdf_bytes, DocumentOptions(dpi=100, pages="1")) as doc:
        (page,) = list(doc.pages())
    h, w = pages[0].shape
    assert page.image.dtype == np.uint8 and page.image.ndim == 3 and page.image.shape[2] == 3
    assert abs(page.image.shape[0] - h / 2) <= 1 and abs(page.image.shape[1] - w / 2) <= 1


# ---- limits and clear errors -------------------------------------------------------------------


def test_an_encrypted_pdf_is_refused_fast_with_a_clear_error(shipped_ocr: OCR) -> None:
    start = time.perf_counter()
    with pytest.raises(EncryptedDocumentError, match="password-protected") as info:
        shipped_ocr.read_document(encrypted_pdf())
    assert time.perf_counter() - start < 1.0
    assert info.value.code == "encrypted_document"


def test_a_pdf_locked_only_against_editing_is_read() -> None:
    with open_document(encrypted_pdf(user_password="")) as doc:  # no password needed to open it
        (page,) = list(doc.pages())
    assert page.image.size > 0


def test_a_10000_page_pdf_is_refused_fast_before_rendering(shipped_ocr: OCR, huge_pdf: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(TooManyPagesError, match="10000 pages, more than the limit of 1000") as info:
        shipped_ocr.read_document(huge_pdf)
    assert time.perf_counter() - start < 1.0
    assert info.value.code == "too_many_pages" and isinstance(info.value, ImageTooLargeError)
    # A range within the limit is fine: the limit is on pages read.
    with open_document(huge_pdf, DocumentOptions(pages="9999-")) as doc:
        assert doc.page_count == 10_000 and doc.numbers == (9999, 10_000)


def test_too_many_pixels_per_page_names_the_page_and_dpi(pdf_bytes: bytes) -> None:
    limits = DocumentLimits(max_pixels=1_000_000)
    with pytest.raises(ImageTooLargeError, match=r"page 1 at 600 dpi is \d+x\d+ = \d+ pixels.*lower dpi"):
        open_document(pdf_bytes, DocumentOptions(dpi=600), limits)
    with open_document(pdf_bytes, DocumentOptions(dpi=200), limits) as doc:  # at 200 dpi it fits
        assert doc.numbers == (1, 2, 3)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"%PDF-1.7\nnot really a pdf", CorruptImageError, "damaged PDF"),
        (b"hello, just text\n" * 10, UnsupportedImageError, "expected PNG, JPEG, BMP, TIFF, WebP or PDF"),
    ],
)
def test_bad_documents(data: bytes, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        open_document(data)


@pytest.mark.parametrize("dpi", [10, 5000])
def test_dpi_out_of_range_is_an_options_error(pdf_bytes: bytes, dpi: float) -> None:
    with pytest.raises(OptionsError, match="dpi must be"):
        open_document(pdf_bytes, DocumentOptions(dpi=dpi))


# ---- the CLI -----------------------------------------------------------------------------------


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli_main(["read", "--threads", "1", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_text_and_jsonl_of_a_pdf(capsys, shipped_model, pdf_path: Path) -> None:
    status, out, _ = run_cli(capsys, str(pdf_path))
    assert status == 0
    assert out == "\f".join("\n".join(lines) + "\n" for lines in KNOWN_TEXT)
    status, out, _ = run_cli(capsys, "--format", "jsonl", "--pages", "3", str(pdf_path))
    (row,) = [json.loads(r) for r in out.splitlines()]
    assert row["page"] == 3 and row["text"] == "\n".join(KNOWN_TEXT[2])


def test_cli_errors_for_locked_and_huge_pdfs_and_the_rest_still_run(
    capsys, shipped_model, tmp_path: Path, pdf_path: Path, huge_pdf: bytes
) -> None:
    (tmp_path / "locked.pdf").write_bytes(encrypted_pdf())
    (tmp_path / "huge.pdf").write_bytes(huge_pdf)
    start = time.perf_counter()
    status, out, err = run_cli(
        capsys,
        "--format",
        "jsonl",
        "--pages",
        "1",
        str(tmp_path / "locked.pdf"),
        str(tmp_path / "huge.pdf"),
        str(pdf_path),
    )
    assert status == 1
    rows = [json.loads(r) for r in out.splitlines()]
    assert rows[0]["error"]["code"] == "encrypted_document"
    assert rows[1]["page"] == 1  # one page of the huge PDF was asked for: within the limit
    assert rows[2]["text"] == "\n".join(KNOWN_TEXT[0])
    assert "password-protected" in err
    status, out, err = run_cli(capsys, str(tmp_path / "huge.pdf"))
    assert status == 1 and out == "" and "10000 pages, more than the limit of 1000" in err
    status, _, err = run_cli(capsys, "--max-pages", "2", str(pdf_path))
    assert status == 1 and "3 pages, more than the limit of 2" in err
    assert time.perf_counter() - start < 10


def test_cli_folder_to_files_with_jobs_and_resume(
    capsys, shipped_model, tmp_path: Path, pdf_bytes, pages
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    (src / "sub").mkdir(parents=True)
    (src / "doc.pdf").write_bytes(pdf_bytes)
    (src / "sub" / "page.png").write_bytes(to_png_bytes(pages[1]))
    (src / "notes.txt").write_text("not an input")
    status, stdout, err = run_cli(capsys, "--jobs", "2", "--format", "text", "-o", str(out), str(src))
    assert (status, stdout) == (0, ""), err
    assert (out / "doc.txt").read_text(encoding="utf-8") == "\f".join(
        "\n".join(lines) + "\n" for lines in KNOWN_TEXT
    )
    assert (out / "sub" / "page.txt").read_text(encoding="utf-8") == "\n".join(KNOWN_TEXT[1]) + "\n"
    assert sorted(p.name for p in out.rglob("*")) == ["doc.txt", "page.txt", "sub"]  # no partial files

    # --resume: finished outputs are skipped (kept as they are), missing ones are made again.
    (out / "sub" / "page.txt").unlink()
    os.utime(out / "doc.txt", (0, 0))
    status, _, err = run_cli(capsys, "--resume", "--format", "text", "-o", str(out), str(src))
    assert status == 0 and "skipped 1 input whose output exists" in err
    assert (out / "doc.txt").stat().st_mtime == 0 and (out / "sub" / "page.txt").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "pdf"], "--format pdf writes a file"),
        (["--resume"], "--resume needs -o"),
        (["--dpi", "9999"], "dpi must be"),
        (["--pages", "x-y"], "bad page range"),
    ],
)
def test_cli_usage_errors(capsys, tmp_path: Path, argv: list[str], message: str) -> None:
    status, out, err = run_cli(capsys, *argv, str(tmp_path / "x.pdf"))
    assert (status, out) == (2, "") and message in err


def test_cli_refuses_to_overwrite_its_input(capsys, shipped_model, tmp_path: Path, pdf_bytes) -> None:
    (tmp_path / "a.pdf").write_bytes(pdf_bytes)
    status, _, err = run_cli(capsys, "--format", "pdf", "-o", str(tmp_path), str(tmp_path))
    assert status == 1 and "would overwrite the input" in err
    assert (tmp_path / "a.pdf").read_bytes() == pdf_bytes


# ---- the HTTP API ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(shipped_ocr: OCR):
    with TestClient(create_app(ServerSettings(max_pages=5), ocr=shipped_ocr)) as c:
        yield c


def post_pdf(client: TestClient, data: bytes, endpoint: str, fmt: str | None = None, **fields: str):
    query = f"?format={fmt}" if fmt else ""
    if endpoint == "json":
        options = {k: (float(v) if k == "dpi" else v) for k, v in fields.items()}
        body = {"image_base64": base64.b64encode(data).decode(), "options": options}
        return client.post("/api/v1/ocr" + query, json=body)
    return client.post("/ocr" + query, files={"image": ("doc.pdf", data, "application/pdf")}, data=fields)


@pytest.mark.parametrize("endpoint", ["json", "multipart"])
def test_api_reads_every_page_of_a_pdf(api: TestClient, pdf_bytes: bytes, pages, endpoint: str) -> None:
    r = post_pdf(api, pdf_bytes, endpoint)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["page_count"] == 3 and [p["page"] for p in body["pages"]] == [1, 2, 3]
    assert [[line["text"] for line in p["lines"]] for p in body["pages"]] == KNOWN_TEXT
    assert body["text"] == "\f".join("\n".join(lines) for lines in KNOWN_TEXT)
    assert [line["page"] for line in body["lines"]] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    first = body["pages"][0]
    assert (first["height"], first["width"]) == pages[0].shape and first["dpi"] == 200
    assert body["image"] == {"width": first["width"], "height": first["height"]}
    char = first["lines"][0]["chars"][0]
    assert char["char"] == "发" and len(char["box"]) == 4


@pytest.mark.parametrize("endpoint", ["json", "multipart"])
def test_api_page_range_and_previews(api: TestClient, pdf_bytes: bytes, endpoint: str) -> None:
    fields = {"pages": "2,3", "dpi": "100"}
    if endpoint == "multipart":
        fields["return_processed_image"] = "true"
    r = post_pdf(api, pdf_bytes, endpoint, **fields)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["page"] for p in body["pages"]] == [2, 3] and body["pages"][0]["dpi"] == 100
    if endpoint == "multipart":
        assert all(p["processed_image_base64"] for p in body["pages"])


@pytest.mark.parametrize(
    ("fmt", "media", "check"),
    [
        ("text", "text/plain", lambda b: b.decode() == "\f".join("\n".join(t) + "\n" for t in KNOWN_TEXT)),
        ("hocr", "application/xhtml+xml", lambda b: b.count(b"ocr_page") == 4),  # 3 pages + capabilities
        ("alto", "application/xml", lambda b: b.count(b"<Page ") == 3),
        ("pdf", "application/pdf", lambda b: b.startswith(b"%PDF-")),
    ],
)
@pytest.mark.parametrize("endpoint", ["json", "multipart"])
def test_api_downloads_each_format(
    api: TestClient, pdf_bytes: bytes, endpoint: str, fmt: str, media: str, check
) -> None:
    r = post_pdf(api, pdf_bytes, endpoint, fmt)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(media)
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert check(r.content)


@pytest.mark.parametrize("endpoint", ["json", "multipart"])
def test_api_errors_for_documents(api: TestClient, huge_pdf: bytes, pdf_bytes: bytes, endpoint: str) -> None:
    r = post_pdf(api, encrypted_pdf(), endpoint)
    assert r.status_code == 422 and r.json()["error"]["code"] == "encrypted_document"
    assert "password-protected" in r.json()["error"]["message"]
    start = time.perf_counter()
    r = post_pdf(api, huge_pdf, endpoint)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_pages"
    assert "more than the limit of 5 pages" in r.json()["error"]["message"]
    assert time.perf_counter() - start < 2.0
    r = post_pdf(api, pdf_bytes, endpoint, pages="4")
    assert r.status_code == 422 and "has 3 pages" in r.json()["error"]["message"]
    r = post_pdf(api, pdf_bytes, endpoint, dpi="5")
    assert r.status_code == 422


def test_api_bad_format_is_422(api: TestClient, pdf_bytes: bytes) -> None:
    r = post_pdf(api, pdf_bytes, "multipart", "docx")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_options"


def test_info_reports_the_page_limit(api: TestClient) -> None:
    assert api.get("/api/v1/info").json()["limits"]["max_pages"] == 5
