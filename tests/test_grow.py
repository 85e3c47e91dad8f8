"""Reshaping trained recognizer weights (crnn_ocr_train.grow) and configs that extend others: what
the architecture ablation's arms start from."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import pytest
import torch

from crnn_ocr.charset import Charset
from crnn_ocr.engine import EngineConfig, OnnxEngine
from crnn_ocr_train.config import TrainConfig, load_config
from crnn_ocr_train.grow import LATIN_CHARS, keep_classes, reshape, widen_lstm
from crnn_ocr_train.model import CRNN, CRNNConfig

TINY = {"channels": (8, 8, 16, 16, 16, 16), "lstm_hidden": 16}


@pytest.fixture(scope="module")
def charset() -> Charset:
    return Charset.default()


def _trained_like(charset: Charset, layers: int = 2) -> CRNN:
    """A tiny CRNN whose weights are all non-zero (as trained ones are), in eval mode."""
    torch.manual_seed(0)
    model = CRNN(CRNNConfig(num_classes=charset.num_classes, lstm_layers=layers, **TINY))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for m in model.modules():  # BatchNorm statistics away from their identity defaults
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_a_widened_lstm_reads_exactly_as_before_and_then_learns(charset, layers):
    model = _trained_like(charset, layers)
    x = torch.randn(3, 1, 32, 96)
    wide = widen_lstm(model, 24).eval()
    assert wide.config.lstm_hidden == 24 and wide.sequence.rnn.hidden_size == 24
    assert wide.classifier.in_features == 48
    torch.testing.assert_close(wide(x), model(x), atol=1e-5, rtol=1e-5)
    # The new units are live: a step of training moves their outgoing weights off zero.
    wide.train()
    loss = wide(x).logsumexp(-1).mean()
    loss.backward()
    assert wide.classifier.weight.grad[:, 16:24].abs().sum() > 0


def test_the_lstm_is_never_narrowed(charset):
    with pytest.raises(SystemExit, match="cannot narrow the LSTM from 16 to 8"):
        widen_lstm(_trained_like(charset), 8)


def test_a_specialist_keeps_its_characters_rows(charset):
    model = _trained_like(charset)
    latin = Charset(LATIN_CHARS)
    small = keep_classes(model, charset, latin).eval()
    assert small.classifier.out_features == latin.num_classes == 131
    x = torch.randn(2, 1, 32, 64)
    rows = [0, *(charset.index(c) for c in LATIN_CHARS)]
    torch.testing.assert_close(small(x), model(x)[..., rows])
    with pytest.raises(SystemExit, match="lacks 1 of the new one's characters"):
        keep_classes(model, charset, Charset(("a", "\u0100")))


def test_reshape_changes_only_what_the_config_names(charset):
    model = _trained_like(charset)
    same, cs = reshape(model, charset, None, None)
    assert same is model and cs is charset
    same, cs = reshape(model, charset, 16, "default")
    assert same is model and cs.chars == charset.chars
    grown, cs = reshape(model, charset, 32, "latin")
    assert (grown.config.lstm_hidden, grown.config.num_classes, cs.chars) == (32, 131, LATIN_CHARS)
    with pytest.raises(SystemExit, match="unknown charset 'greek'"):
        reshape(model, charset, None, "greek")


def test_a_specialist_s_stream_draws_only_what_its_charset_spells(tmp_path, monkeypatch):
    """Plates cannot be drawn without their hanzi (an error, not a KeyError mid-run); cached
    Chromium/PDFium lines are drawn only when the charset spells them."""
    import numpy as np
    from test_train import CACHE

    from crnn_ocr_train.data import SynthConfig, SynthSource

    latin = Charset(LATIN_CHARS)
    with pytest.raises(ValueError, match="lacks 31 of the plates' characters"):
        SynthSource(latin, SynthConfig(cache_dir=str(CACHE), plate_share=0.1))
    raster = tmp_path / "raster" / "fake"
    raster.mkdir(parents=True)
    for i, text in enumerate(["发票号码", "Invoice 12"]):
        ink = np.zeros((20, 60), np.uint8)
        ink[5:15, 4:56:6] = 255  # a few strokes
        cv2.imwrite(str(raster / f"{i}.png"), ink)
    (raster / "labels.tsv").write_text("0.png\t发票号码\t16\n1.png\tInvoice 12\t16\n", encoding="utf-8")
    for name in ("corpus.tsv.gz", "fonts.json", "running_text.txt.gz"):
        if (CACHE / name).exists():
            (tmp_path / name).symlink_to(CACHE / name)
    # The caches are shared by every run: a specialist that builds them first builds them for the
    # default alphabet, or the next full-charset run would find a corpus without hanzi.
    import crnn_ocr_train.data as data

    built_for = []
    real = data.load_or_build
    monkeypatch.setattr(data, "load_or_build", lambda cs, path: built_for.append(cs) or real(cs, path))
    source = SynthSource(latin, SynthConfig(cache_dir=str(tmp_path), raster_share=1.0))
    assert built_for == [Charset.default()]
    rng = np.random.default_rng(0)
    texts = {source.sample(rng, 24, 0.0)[1] for _ in range(12)}
    assert "发票号码" not in texts and all(set(t) <= set(LATIN_CHARS) for t in texts)


def test_a_config_extends_another(tmp_path):
    (tmp_path / "base.toml").write_text(
        'run_dir = "runs/a"\nlr = 0.5\nscene_share = 0.2\n[mix]\nzh = 0.4\nen = 0.1\n'
        '[[val_sets]]\nname = "one"\nn = 5\nmax_chars = 4\ndegrade = 0.5\nheldout_fonts = false\nseed = 1\n'
    )
    sub = tmp_path / "arms"
    sub.mkdir()
    (sub / "wide.toml").write_text(
        'extends = "../base.toml"\nrun_dir = "runs/b"\nlstm_hidden = 256\n[mix]\nen = 0.3\n'
        '[[val_sets]]\nname = "two"\nn = 6\nmax_chars = 4\ndegrade = 0.5\nheldout_fonts = true\nseed = 2\n'
    )
    cfg = load_config(sub / "wide.toml", TrainConfig)
    assert (cfg.run_dir, cfg.lr, cfg.scene_share, cfg.lstm_hidden) == ("runs/b", 0.5, 0.2, 256)
    assert (cfg.mix.zh, cfg.mix.en) == (0.4, 0.3)  # tables merge key by key
    assert [v.name for v in cfg.val_sets] == ["two"]  # arrays of tables replace the base's
    assert load_config(tmp_path / "base.toml", TrainConfig).lstm_hidden is None

    (tmp_path / "loop.toml").write_text('extends = "loop.toml"\n')
    with pytest.raises(SystemExit, match="loops back"):
        load_config(tmp_path / "loop.toml", TrainConfig)
    (tmp_path / "bad.toml").write_text('extends = "base.toml"\nlstm_hiden = 3\n')
    with pytest.raises(SystemExit, match=r"bad.toml: unknown setting 'lstm_hiden'"):
        load_config(tmp_path / "bad.toml", TrainConfig)
    (tmp_path / "gone.toml").write_text('extends = "missing.toml"\n')
    with pytest.raises(SystemExit, match="missing.toml"):
        load_config(tmp_path / "gone.toml", TrainConfig)


def test_train_from_init_into_a_wider_latin_specialist(tmp_path, charset):
    """`crnn-ocr-train --init` with a config naming another LSTM width and the Latin alphabet:
    the run starts from the reshaped weights (its first validation equals the original model's on
    Latin lines), trains, and exports a model whose metadata carries the Latin charset."""
    from render import render_line

    from crnn_ocr_train.checkpoint import load_crnn, save_checkpoint
    from crnn_ocr_train.data import LabelledLines
    from crnn_ocr_train.export import export_onnx
    from crnn_ocr_train.rec_task import evaluate
    from crnn_ocr_train.train import main as train_main

    lines = tmp_path / "latin"
    (lines / "images").mkdir(parents=True)
    texts = ["Total 12", "No. 56", "Rs 7.80", "Item"]
    for i, text in enumerate(texts):
        cv2.imwrite(str(lines / "images" / f"{i}.png"), render_line(text, size=28))
    (lines / "labels.tsv").write_text("".join(f"images/{i}.png\t{t}\n" for i, t in enumerate(texts)), encoding="utf-8")

    base = _trained_like(charset)
    init = tmp_path / "shipped.pt"
    save_checkpoint(init, base, None, {"step": 0, "samples": 0}, charset)
    config = tmp_path / "latin.toml"
    config.write_text(
        'batch_size = 4\nworkers = 0\nthreads = 1\nval_sets = []\nwarmup_steps = 2\nval_every_samples = 8\n'
        'lstm_hidden = 24\ncharset = "latin"\nraster_share = 0.0\nplate_share = 0.0\n'
        "[mix]\nzh = 0.0\nmixed = 0.0\nfield = 0.0\nrare_hanzi = 0.0\nplate = 0.0\nen = 1.0\n"
    )
    run = tmp_path / "run"
    train_main(["--config", str(config), "--run-dir", str(run), "--val-labels", str(lines / "labels.tsv"),
                "--init", str(init), "--max-samples", "8"])
    model, cs, ckpt = load_crnn(run / "last.pt", torch.device("cpu"))
    assert (model.config.lstm_hidden, cs.chars, ckpt["state"]["samples"]) == (24, LATIN_CHARS, 8)
    log = list(csv.DictReader((run / "log.csv").open(encoding="utf-8")))
    # The first validation is of the reshaped weights before any step: exactly the original
    # model's reading restricted to the Latin classes (the new LSTM units add nothing yet).
    latin = Charset(LATIN_CHARS)
    cut = keep_classes(base, charset, latin)
    expected = evaluate(cut, LabelledLines(lines / "labels.tsv", latin), latin, torch.device("cpu"), False, 100)
    assert log[0]["loss"] == "" and float(log[0]["latin_cer"]) == pytest.approx(expected["cer"])

    out = export_onnx(model, cs, tmp_path / "latin.onnx", "latin", "test")
    engine = OnnxEngine(Path(out), EngineConfig(intra_op_threads=1))
    assert engine.spec.charset.chars == LATIN_CHARS
