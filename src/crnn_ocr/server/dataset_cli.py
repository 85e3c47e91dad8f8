"""``crnn-ocr dataset list|export|import``: the server's datasets of corrected lines
(``crnn_ocr.server.corrections``) as PaddleOCR label files (``crnn_ocr.server.dataset_files``),
read and written straight in the server's store, without a running server.

``--store``: the server's SQLite file, its data folder (``store.sqlite3`` in it), or its
``postgresql://`` URL; default as ``crnn-ocr serve`` (``$CRNN_OCR_STORE_PATH``, else
``$XDG_DATA_HOME/crnn-ocr/store.sqlite3``). ``--owner``: whose datasets (an API key's id; default
``anonymous``, the owner of everything a server without keys stores).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crnn_ocr.errors import DatasetError, ImageError
from crnn_ocr.server.auth import ANONYMOUS
from crnn_ocr.server.corrections import CorrectionStore
from crnn_ocr.server.dataset_files import export_folder, export_rec, export_zip, import_path
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.server.sqlite import describe, is_postgres_url

STORE_FILE = "store.sqlite3"


def add_dataset_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "dataset", help="list, export and import datasets of corrected lines",
        description="Datasets of corrected lines kept by `crnn-ocr serve` (the web page's corrections), as "
        "PaddleOCR recognition labels (path<TAB>text) and PPOCRLabel Label.txt detection labels.",
    )
    sub = p.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="the datasets and their counts")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    export = sub.add_parser(
        "export", help="write a dataset as label files",
        description="OUT/rec/train/labels.tsv and OUT/rec/heldout/labels.tsv with the line crops, "
        "OUT/det/pages/Label.txt with the pages (OUT ending in .zip: the same in a zip archive). "
        "--kind rec-only writes train/ and heldout/ straight into OUT, as the fine-tune reads them.",
    )
    export.add_argument("name", metavar="NAME")
    export.add_argument("out", metavar="OUT", type=Path, help="a folder, or a file ending in .zip")
    export.add_argument("--kind", choices=("all", "rec", "det", "rec-only"), default="all",
                        help="rec: recognition labels, det: Label.txt, all: both (default)")
    imp = sub.add_parser(
        "import", help="add label files to a dataset",
        description="PATH: a zip, a folder, or one label file. Every Label.txt (PPOCRLabel) is read as "
        "detection labels, else every *.tsv and rec_gt*.txt as recognition labels (path<TAB>text, paths "
        "relative to the label file).",
    )
    imp.add_argument("name", metavar="NAME")
    imp.add_argument("path", metavar="PATH", type=Path)
    imp.add_argument("--kind", choices=("auto", "rec", "det"), default="auto")
    imp.add_argument("--max-pixels", type=int, default=ServerSettings.model_fields["max_pixels"].default,
                     metavar="PIXELS", help="largest width*height of an image")
    for q in (listing, export, imp):
        q.add_argument("--store", dest="store_path", metavar="PATH|DIR|URL",
                       help="the server's store: its SQLite file, its data folder, or postgresql:// URL")
        q.add_argument("--owner", default=ANONYMOUS, help=f"whose datasets: an API key's id (default {ANONYMOUS})")
    p.set_defaults(func=run_dataset)
    return p


def store_location(given: str | None) -> str:
    """The store ``--store`` names: a data folder means its ``store.sqlite3``."""
    store = given or ServerSettings().store_path
    if not is_postgres_url(store) and Path(store).is_dir():
        return str(Path(store) / STORE_FILE)
    return store


def run_dataset(args: argparse.Namespace) -> int:
    location = store_location(args.store_path)
    if not is_postgres_url(location) and not Path(location).is_file() and args.dataset_command != "import":
        print(f"crnn-ocr dataset: no store at {location}", file=sys.stderr)
        return 1
    store = CorrectionStore(location)
    try:
        return _run(args, store, location)
    except (DatasetError, ImageError) as exc:
        print(f"crnn-ocr dataset: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _run(args: argparse.Namespace, store: CorrectionStore, location: str) -> int:
    if args.dataset_command == "list":
        datasets = store.datasets(args.owner)
        if args.json:
            print(json.dumps([{k: v for k, v in vars(d).items() if k != "owner"} for d in datasets], indent=2))
            return 0
        print(f"{'NAME':<24}{'LINES':>7}{'CROPS':>7}{'HELDOUT':>9}{'PAGES':>7}")
        for d in datasets:
            print(f"{d.name:<24}{d.lines:>7}{d.crops:>7}{d.heldout:>9}{d.pages:>7}")
        return 0
    if args.dataset_command == "export":
        out: Path = args.out
        if args.kind == "rec-only":
            summary = export_rec(store, args.owner, args.name, out)
        elif out.suffix == ".zip":
            data, summary = export_zip(store, args.owner, args.name, args.kind)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        else:
            summary = export_folder(store, args.owner, args.name, out, args.kind)
        print(
            f"exported {args.name} to {out}: {summary.train} training and {summary.heldout} held-out lines, "
            f"{summary.pages} pages; {summary.without_crop} lines without a kept crop left out",
            file=sys.stderr,
        )
        return 0
    summary = import_path(store, args.owner, args.name, args.path, max_pixels=args.max_pixels, kind=args.kind)
    print(
        f"imported into {args.name} in {describe(location)}: {summary.lines} lines"
        f" ({summary.kind} labels), {summary.pages} pages, {summary.skipped} marked ### or difficult skipped",
        file=sys.stderr,
    )
    return 0

