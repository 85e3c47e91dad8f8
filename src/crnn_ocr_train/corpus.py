"""Word lists for the synthetic text generator, built from PyPI packages (no downloads).

Sources: jieba's dictionary (word, count) and wordfreq's Chinese and English frequency lists.
``build_corpus()`` keeps only words our charset can write and returns frequency-weighted lists;
``Corpus.save``/``Corpus.load`` keep a compact gzip'd TSV so workers start fast.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crnn_ocr.charset import Charset


@dataclass(frozen=True)
class WordList:
    words: tuple[str, ...]
    weights: np.ndarray  # float64, sums to 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cdf", np.cumsum(self.weights))

    def __len__(self) -> int:
        return len(self.words)

    def draw(self, rng: np.random.Generator) -> str:
        """One word, by weight (O(log n))."""
        i = int(np.searchsorted(self._cdf, rng.random() * self._cdf[-1], side="right"))
        return self.words[min(i, len(self.words) - 1)]


@dataclass(frozen=True)
class Corpus:
    zh: WordList
    en: WordList

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as f:
            for lang, wl in (("zh", self.zh), ("en", self.en)):
                for w, p in zip(wl.words, wl.weights):
                    f.write(f"{lang}\t{w}\t{p:.6g}\n")

    @classmethod
    def load(cls, path: Path) -> Corpus:
        rows: dict[str, tuple[list[str], list[float]]] = {"zh": ([], []), "en": ([], [])}
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                lang, w, p = line.rstrip("\n").split("\t")
                rows[lang][0].append(w)
                rows[lang][1].append(float(p))
        return cls(zh=_wordlist(*rows["zh"]), en=_wordlist(*rows["en"]))


def _wordlist(words: list[str], freqs: list[float], power: float = 1.0) -> WordList:
    w = np.asarray(freqs, dtype=np.float64) ** power
    return WordList(tuple(words), w / w.sum())


def _jieba_words(charset: Charset) -> dict[str, float]:
    import jieba

    path = Path(os.path.dirname(jieba.__file__)) / "dict.txt"
    out: dict[str, float] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            word, count = parts[0], float(parts[1])
            if all(c in charset and ord(c) > 0x2E80 for c in word):
                out[word] = count
    return out


def build_corpus(charset: Charset, zh_size: int = 120_000, en_size: int = 40_000) -> Corpus:
    """Chinese words from jieba + wordfreq (merged by relative frequency), English from wordfreq.

    Weights are flattened (frequency ** 0.5) so the long tail is seen, while frequent words
    still dominate.
    """
    import wordfreq

    jb = _jieba_words(charset)
    total = sum(jb.values())
    zh: dict[str, float] = {w: c / total for w, c in jb.items()}
    for w in wordfreq.top_n_list("zh", 60_000):
        if all(c in charset and ord(c) > 0x2E80 for c in w):
            zh[w] = max(zh.get(w, 0.0), wordfreq.word_frequency(w, "zh"))
    zh_top = sorted(zh.items(), key=lambda kv: -kv[1])[:zh_size]
    en: list[tuple[str, float]] = []
    for w in wordfreq.top_n_list("en", en_size * 2):
        if w.isascii() and any(ch.isalpha() for ch in w) and all(c in charset for c in w):
            en.append((w, wordfreq.word_frequency(w, "en")))
        if len(en) >= en_size:
            break
    return Corpus(
        zh=_wordlist([w for w, _ in zh_top], [f for _, f in zh_top], power=0.5),
        en=_wordlist([w for w, _ in en], [f for _, f in en], power=0.5),
    )


def load_or_build(charset: Charset, cache: Path) -> Corpus:
    if cache.exists():
        return Corpus.load(cache)
    corpus = build_corpus(charset)
    corpus.save(cache)
    return corpus
