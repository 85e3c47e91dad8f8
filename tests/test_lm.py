"""The character n-gram LM: estimation, scoring, the shipped file and its hash check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from crnn_ocr.charset import Charset
from crnn_ocr.errors import ModelError
from crnn_ocr.lm import BOS, EOS, FIRST_CHAR_ID, CharLM, LMScorer
from crnn_ocr.models import MANIFEST_NAME, default_model_dir, resolve_lm, sha256_file
from crnn_ocr_train.char_lm import encode, estimate

VOCAB = "abcd "
LINES = ["abc abd", "abcd", "dcba", "bad cab", "abc", "a b c d", "cab cab"]


@pytest.fixture(scope="module")
def small_lm() -> CharLM:
    return CharLM(VOCAB, estimate(encode(LINES, VOCAB), len(VOCAB), order=3, cutoffs=[1]))


@pytest.mark.parametrize("context", ["", "a", "ab", "dd", "c "])
def test_probabilities_after_a_context_sum_to_one(small_lm: CharLM, context: str) -> None:
    ids = [BOS, BOS, *small_lm.ids(context)][-2:]
    nxt = np.array([EOS, *range(FIRST_CHAR_ID, FIRST_CHAR_ID + len(VOCAB))])
    total = np.exp(small_lm.log_prob(np.tile(ids, (len(nxt), 1)), nxt)).sum()
    assert total == pytest.approx(1.0, abs=2e-3)  # float16 storage


def test_seen_text_scores_above_a_scramble(small_lm: CharLM) -> None:
    assert small_lm.text_log_prob("abc") > small_lm.text_log_prob("cba") + 1.0
    assert small_lm.text_log_prob("abcz") < small_lm.text_log_prob("abc")  # z is unknown


def test_save_and_load_give_the_same_scores(small_lm: CharLM, tmp_path: Path) -> None:
    small_lm.save(tmp_path / "lm.npz")
    loaded = CharLM.load(tmp_path / "lm.npz")
    assert loaded.order == 3 and loaded.vocab == VOCAB
    for text in ("abc", "dcba", "a b"):
        assert loaded.text_log_prob(text) == pytest.approx(small_lm.text_log_prob(text), abs=0.02)  # float16


def test_scorer_states_follow_the_recognizer_charset(small_lm: CharLM) -> None:
    charset = Charset(tuple("dcbaX"))  # another order, and a character the LM never saw
    scorer = LMScorer.for_charset(small_lm, charset)
    state = ()
    for ch in "ab":
        state = scorer.context(state, charset.index(ch))
    assert state == tuple(small_lm.ids("ab"))
    c, x = charset.index("c"), charset.index("X")
    scores = scorer.log_probs([state, state], [c, x])
    assert scores[0] > scores[1]


def test_the_first_character_of_a_line_is_not_scored(small_lm: CharLM) -> None:
    """A crop starts wherever its line does: P(c | BOS) would favour sentence openers."""
    charset = Charset(tuple("dcbaX"))
    scorer = LMScorer.for_charset(small_lm, charset)
    first = scorer.log_probs([(), ()], [charset.index("a"), charset.index("X")])
    assert first.tolist() == [0.0, 0.0]
    later = scorer.log_probs([scorer.context((), charset.index("a"))] * 2, [charset.index("b"), charset.index("X")])
    assert later[0] > later[1] and later[1] < 0


def test_folded_characters_share_an_id_and_survive_save_and_load(tmp_path: Path) -> None:
    lines = ["ab.cd", "a(b)c", "d.a.b"]
    lm = CharLM("abcd.()", estimate(encode(lines, "abcd.()"), 7, order=3, cutoffs=[1]), fold={"。": ".", "（": "(", "）": ")"})
    assert lm.ids("a。b（c）") == lm.ids("a.b(c)")
    assert lm.text_log_prob("ab。cd") == lm.text_log_prob("ab.cd")
    lm.save(tmp_path / "lm.npz")
    loaded = CharLM.load(tmp_path / "lm.npz")
    assert loaded.fold == lm.fold and loaded.ids("（。）") == lm.ids("(.)")
    with pytest.raises(ModelError, match="not in the vocabulary"):
        CharLM("abc", lm.tables, fold={"。": "."})


def test_a_file_that_is_no_lm_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "lm.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a character LM"):
        CharLM.load(bad)


SHIPPED_DIR = default_model_dir()


def _manifest_dir(tmp_path: Path, sha: str) -> Path:
    """tmp_path as a model folder: the shipped manifest's LM (copied) and default model, the LM
    listed with hash ``sha``."""
    src = SHIPPED_DIR
    manifest = json.loads((src / MANIFEST_NAME).read_text(encoding="utf-8"))
    name = manifest["lm"]
    if not (tmp_path / manifest["models"][name]["file"]).exists():
        shutil.copy(src / manifest["models"][name]["file"], tmp_path / manifest["models"][name]["file"])
    manifest["models"] = {name: {**manifest["models"][name], "sha256": sha}, manifest["default"]: manifest["models"][manifest["default"]]}
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    return tmp_path / manifest["models"][name]["file"]


def test_lm_hash_is_checked_on_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRNN_OCR_MODEL_DIR", str(tmp_path))
    monkeypatch.delenv("CRNN_OCR_LM", raising=False)
    path = _manifest_dir(tmp_path, "0" * 64)
    with pytest.raises(ModelError, match="SHA-256 mismatch"):
        resolve_lm()
    _manifest_dir(tmp_path, sha256_file(path))
    assert resolve_lm() == path
    with path.open("r+b") as fp:  # one byte changed: refused again
        fp.seek(100)
        byte = fp.read(1)
        fp.seek(100)
        fp.write(bytes([byte[0] ^ 1]))
    with pytest.raises(ModelError, match="SHA-256 mismatch"):
        resolve_lm()


def test_lm_can_be_switched_off_or_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRNN_OCR_LM", "none")
    assert resolve_lm() is None
    with pytest.raises(ModelError, match="not found"):
        resolve_lm(tmp_path / "missing.npz")


def test_shipped_lm_is_small_hash_checked_and_knows_common_words() -> None:
    path = resolve_lm()  # hash-checked against models/manifest.json
    assert path is not None and path.stat().st_size <= 30 * 1024 * 1024
    lm = CharLM.load(path)
    for good, bad in [("请输入密码", "请输人密码"), ("目录", "日录"), ("TOTAL", "T0TAL"), ("INVOICE", "INV0ICE"), ("the total", "tbe tota1")]:
        assert lm.text_log_prob(good) > lm.text_log_prob(bad), (good, bad)


def test_shipped_lm_reads_punctuation_of_either_width_alike() -> None:
    """Chinese manuals write ASCII punctuation after hanzi: the shipped LM folds the widths, so an
    ASCII ``.``, ``(`` or ``:`` costs what its full-width form costs, and a sentence still ends in a
    full stop rather than a comma."""
    lm = CharLM.load(resolve_lm())
    full, half = "删除现存的表（可以有模式修饰）。见下文：选项", "删除现存的表(可以有模式修饰).见下文:选项"
    assert lm.text_log_prob(full) == lm.text_log_prob(half)
    assert lm.text_log_prob("我们今天去了北京.") > lm.text_log_prob("我们今天去了北京,")
    charset = Charset.default()
    ids = lm.class_ids(charset)
    assert ids[charset.index("，")] == ids[charset.index(",")] != ids[charset.index("、")]


def test_shipped_pipeline_loads_the_lm(shipped_ocr) -> None:
    assert shipped_ocr.recognizer.lm is not None
