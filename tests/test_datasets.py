"""Table-driven tests of crnn_ocr.datasets: PaddleOCR label files, names, boxes, the held-out split."""

from __future__ import annotations

from pathlib import Path

import pytest

from crnn_ocr.datasets import (
    DetLabel,
    DetLine,
    RecLabel,
    box_from_points,
    check_dataset_name,
    check_relative_path,
    check_text,
    format_det_labels,
    format_rec_labels,
    is_heldout,
    line_key,
    parse_det_labels,
    parse_rec_labels,
    read_labels,
)
from crnn_ocr.errors import DatasetError, LabelFileError
from crnn_ocr.types import Box

def test_read_labels_resolves_paths_against_the_tsv_folder(tmp_path: Path) -> None:
    tsv = tmp_path / "set" / "labels.tsv"
    tsv.parent.mkdir()
    tsv.write_text(
        "\ufeffimages/a.png\tHello World\n\nimages/b.png\t电话：1\tx\r\nimages/c.png\t\n", encoding="utf-8"
    )
    assert read_labels(tsv) == [
        (tsv.parent.resolve() / "images/a.png", "Hello World"),
        (tsv.parent.resolve() / "images/b.png", "电话：1\tx"),  # only the first tab splits
        (tsv.parent.resolve() / "images/c.png", ""),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("images/a.png Hello\n", r"labels\.tsv:1: expected 'relative/path<TAB>text'"),
        ("images/a.png\tok\n\tno path\n", r"labels\.tsv:2: empty image path"),
    ],
)
def test_read_labels_rejects_malformed_lines(tmp_path: Path, content: str, message: str) -> None:
    tsv = tmp_path / "labels.tsv"
    tsv.write_text(content, encoding="utf-8")
    with pytest.raises(LabelFileError, match=message):
        read_labels(tsv)


def test_read_labels_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_labels(tmp_path / "nope.tsv")


@pytest.mark.parametrize("name", ["a", "invoices-2024", "my_set.v2", "A" * 64, "x1"])
def test_good_dataset_names(name: str) -> None:
    assert check_dataset_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", ".hidden", "a/b", "../up", "a b", "A" * 65, "中文", "a\n"])
def test_bad_dataset_names(name: str) -> None:
    with pytest.raises(DatasetError, match="invalid dataset name"):
        check_dataset_name(name)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "blank"), ("   ", "blank"), ("a\tb", "tab or a line break"), ("a\nb", "tab or a line break"),
     ("x" * 1001, "more than 1000")],
)
def test_bad_texts(text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        check_text(text)


def test_good_text_is_kept_as_is() -> None:
    assert check_text(" 发票号码：No. 0042 ") == " 发票号码：No. 0042 "


@pytest.mark.parametrize(
    ("points", "message"),
    [([[0, 0], [10, 0], [10, 5]], "four"), ([[0, 0], [10, 0], [10, 5], [0, 5], [1, 1]], "four"),
     ([[0, 0], [10, 0], [10, 0], [0, 0]], "no area"), ([[0, 0], [10, 0], [10, float("nan")], [0, 5]], "finite"),
     ([[0, 0], [10, "x"], [10, 5], [0, 5]], "four"), ([[0, 0, 1], [10, 0], [10, 5], [0, 5]], "four")],
)
def test_bad_boxes(points: list, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        box_from_points(points)


def test_box_from_points() -> None:
    assert box_from_points([[1, 2], [11, 2], [11, 7], [1, 7]]) == Box.from_rect(1, 2, 10, 5)


def test_line_key_is_stable_and_the_heldout_share_is_about_a_tenth() -> None:
    box = Box.from_rect(0, 0, 100, 20)
    assert line_key("ab" * 32, box) == line_key("ab" * 32, Box.from_rect(0.001, 0, 100, 20))  # rounded to 0.01 px
    assert line_key("ab" * 32, box) != line_key("ab" * 32, Box.from_rect(0, 1, 100, 20))
    keys = [line_key(f"{i:064x}", box) for i in range(2000)]
    share = sum(map(is_heldout, keys)) / len(keys)
    assert 0.08 < share < 0.12
    assert [is_heldout(k) for k in keys] == [is_heldout(k) for k in keys]
    assert is_heldout("0" * 64) and not is_heldout("f" * 64)


def test_rec_labels_round_trip() -> None:
    labels = [RecLabel("crops/a.png", "Hello World"), RecLabel("crops/b.png", "电话：1 x")]
    text = format_rec_labels(labels)
    assert text == "crops/a.png\tHello World\ncrops/b.png\t电话：1 x\n"
    assert parse_rec_labels(text, "labels.tsv") == labels


def test_rec_labels_keep_unusual_characters_in_the_text() -> None:
    assert parse_rec_labels("a.png\tx\u2028y\x0bz\r\n", "l") == [RecLabel("a.png", "x\u2028y\x0bz")]


DET_LINE = (
    'pages/p1.png\t[{"transcription": "发票 No.1", "points": [[10, 20], [110, 20], [110, 40], [10, 40]],'
    ' "difficult": false}, {"transcription": "###", "points": [[0, 0], [5, 0], [5, 5], [0, 5]]}]\n'
)


def test_det_labels_parse_ppocrlabel_lines() -> None:
    [label] = parse_det_labels(DET_LINE, "Label.txt")
    assert label.path == "pages/p1.png"
    assert label.lines == (
        DetLine("发票 No.1", Box.from_rect(10, 20, 100, 20), False),
        DetLine("###", Box.from_rect(0, 0, 5, 5), True),
    )
    assert parse_det_labels(format_det_labels([label]), "Label.txt") == [label]


def test_det_labels_format_exactly() -> None:
    label = DetLabel("pages/a.png", (DetLine("Total 9.50", Box.from_rect(1, 2, 3, 4)),))
    assert format_det_labels([label]) == (
        'pages/a.png\t[{"transcription": "Total 9.50", "points": [[1.0, 2.0], [4.0, 2.0], [4.0, 6.0], [1.0, 6.0]],'
        ' "difficult": false}]\n'
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [("pages/a.png [] \n", r"Label\.txt:1: expected 'path<TAB>"),
     ("a.png\t[{\n", r"Label\.txt:1: the annotations are not JSON"),
     ("a.png\t{}\n", "must be a JSON list"),
     ("a.png\t[]\nb.png\t[{\"points\": [[0, 0], [1, 0], [1, 1], [0, 1]]}]\n", r"Label\.txt:2: line 1: expected"),
     ("a.png\t[{\"transcription\": \"x\", \"points\": [[0, 0], [1, 0], [1, 1]]}]\n", "four"),
     ("a.png\t[{\"transcription\": \"x\", \"points\": \"0,0\"}]\n", "points must be a list")],
)
def test_det_labels_reject_malformed_lines(content: str, message: str) -> None:
    with pytest.raises(LabelFileError, match=message):
        parse_det_labels(content, "Label.txt")


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.png", "a/../../x.png", "C:/x.png", "..\\x.png", ""])
def test_paths_that_leave_the_dataset_are_refused(path: str) -> None:
    with pytest.raises(LabelFileError, match="must be relative"):
        check_relative_path(path, "labels.tsv:1")


def test_relative_paths_are_posix() -> None:
    assert str(check_relative_path("crops\\a.png", "l")) == "crops/a.png"
