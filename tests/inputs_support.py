"""Shared by the API and browser tests of image URLs and model choice: a model folder whose
manifest lists two tiny recognizers, and a loopback HTTP server of test images."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import cv2
import numpy as np
from tiny_model import TINY_CHARS, build_tiny_model, render_code_line

from crnn_ocr.models import sha256_file

TEXT = "0123ab中文"
#: What tiny_b reads where tiny_a reads TEXT: each character's index counted from the other end.
TEXT_B = "".join(TINY_CHARS[len(TINY_CHARS) - 1 - TINY_CHARS.index(c)] for c in TEXT)


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


LINE_PNG = png(render_code_line(TEXT))


def two_model_dir(folder: Path, tiny_model_path: Path) -> Path:
    """``folder`` with ``tiny_a`` (the tiny model, the manifest's default) and ``tiny_b`` (its charset
    reversed, so it reads TEXT_B where tiny_a reads TEXT, with a model card) and their manifest."""
    a = folder / "tiny_a.onnx"
    a.write_bytes(tiny_model_path.read_bytes())
    b = build_tiny_model(folder / "tiny_b.onnx", metadata_overrides={
        "charset": json.dumps(list(reversed(TINY_CHARS)), ensure_ascii=False),
        "model_name": "tiny_b", "model_version": "0.0.2",
    })
    (folder / "TINY_B_CARD.md").write_text("# Model card: tiny_b\n\nThe tiny model, read backwards.\n\n## More\n")
    manifest = {"default": "tiny_a", "models": {
        "tiny_a": {"file": a.name, "sha256": sha256_file(a)},
        "tiny_b": {"file": b.name, "sha256": sha256_file(b), "card": "TINY_B_CARD.md"},
    }}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


class ImageServer:
    """A loopback HTTP server: ``/line.png``, redirects into inner addresses, a 404, and a body
    over the size limit sent without Content-Length. ``hits`` counts the requests it got."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                owner.hits.append(self.path)
                port = self.server.server_address[1]
                redirects = {
                    "/to-private": "http://10.255.255.1/line.png",
                    "/to-link-local": "http://169.254.169.254/latest/meta-data/",
                    "/to-other-loopback": f"http://127.0.0.2:{port}/line.png",
                    "/to-line": "/line.png",
                    "/to-file": "file:///etc/passwd",
                }
                if self.path in redirects:
                    self.send_response(302)
                    self.send_header("Location", redirects[self.path])
                    self.end_headers()
                elif self.path.startswith("/line.png"):
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(LINE_PNG)))
                    self.end_headers()
                    self.wfile.write(LINE_PNG)
                elif self.path == "/endless":  # no Content-Length: only counting can stop it
                    self.send_response(200)
                    self.end_headers()
                    for _ in range(64):
                        self.wfile.write(b"\x00" * 65536)
                else:
                    self.send_error(404)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
