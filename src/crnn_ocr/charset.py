"""The recognizer's alphabet: index <-> character, with the CTC blank at one fixed place.

The charset travels inside the ONNX model's metadata (``charset`` key, JSON list), so a model and
its alphabet can never drift apart. ``default_charset()`` builds the v1 alphabet from code:
GB2312 level 1+2 hanzi (6,763), printable ASCII (space included) and common CJK / full-width
punctuation and symbols.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Index of the CTC blank in the model's output classes. Defined here and nowhere else.
BLANK_INDEX = 0

#: Common CJK and full-width punctuation and document symbols (beyond printable ASCII).
CJK_PUNCTUATION = (
    "，。、；：？！“”‘’（）《》【】「」『』〈〉〔〕—…·￥％～×÷°℃№‰±§"
    "①②③④⑤⑥⑦⑧⑨⑩·•¥€£©®™←→↑↓√★☆○●□■△▲※〇々"
)


def gb2312_hanzi() -> list[str]:
    """All GB2312 level 1 and level 2 hanzi (6,763), in code order."""
    chars = []
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                continue  # row 0xD7 ends at 0xF9
    return chars


def printable_ascii() -> list[str]:
    """Space plus the 94 visible ASCII characters."""
    return [chr(c) for c in range(0x20, 0x7F)]


def default_charset_chars() -> list[str]:
    """The v1 alphabet in a fixed order (no blank): ASCII, punctuation, hanzi; no duplicates."""
    seen: dict[str, None] = {}
    for ch in [*printable_ascii(), *CJK_PUNCTUATION, *gb2312_hanzi()]:
        seen.setdefault(ch, None)
    return list(seen)


@dataclass(frozen=True)
class Charset:
    """Characters of the model's classes; class ``BLANK_INDEX`` is the CTC blank.

    ``chars[i]`` is the character of class ``i + 1`` (the blank is class 0).
    """

    chars: tuple[str, ...] = field(repr=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("charset has duplicate characters")
        if any(len(c) != 1 for c in self.chars):
            raise ValueError("every charset entry must be exactly one character")
        object.__setattr__(self, "_index", {c: i + 1 for i, c in enumerate(self.chars)})

    def __repr__(self) -> str:
        return f"Charset({len(self.chars)} characters + blank)"

    @classmethod
    def default(cls) -> Charset:
        return cls(tuple(default_charset_chars()))

    @property
    def num_classes(self) -> int:
        """Model output size: characters plus the blank."""
        return len(self.chars) + 1

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: object) -> bool:
        return ch in self._index

    def index(self, ch: str) -> int:
        """Class index of ``ch`` (never the blank). Raises KeyError for an unknown character."""
        return self._index[ch]

    def char(self, index: int) -> str:
        """Character of class ``index``; the blank has none."""
        if index == BLANK_INDEX:
            raise ValueError("the blank class has no character")
        return self.chars[index - 1]

    def encode(self, text: str) -> list[int]:
        """Class indices of ``text``. Raises KeyError naming the first unknown character."""
        try:
            return [self._index[c] for c in text]
        except KeyError as exc:
            raise KeyError(f"character {exc.args[0]!r} is not in the charset") from None

    def decode(self, indices: Iterable[int]) -> str:
        """Text of a sequence of class indices (already collapsed; blanks are skipped)."""
        return "".join(self.chars[i - 1] for i in indices if i != BLANK_INDEX)

    def filter_text(self, text: str) -> str:
        """``text`` without the characters this charset cannot produce."""
        return "".join(c for c in text if c in self._index)

    def mask(self, allow: str | None = None, deny: str | None = None) -> list[bool]:
        """Per-class keep mask for decoding with an allowlist/denylist; the blank is always kept."""
        keep = [True] * self.num_classes
        if allow is not None:
            allowed = set(allow)
            keep = [i == BLANK_INDEX or self.chars[i - 1] in allowed for i in range(self.num_classes)]
        if deny:
            for c in set(deny):
                if c in self._index:
                    keep[self._index[c]] = False
        return keep

    # ---- ONNX metadata -------------------------------------------------------------------
    def to_metadata(self) -> dict[str, str]:
        return {"charset": json.dumps(list(self.chars), ensure_ascii=False), "blank_index": str(BLANK_INDEX)}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> Charset:
        if "charset" not in meta:
            raise ValueError("model metadata has no 'charset' entry")
        blank = int(meta.get("blank_index", BLANK_INDEX))
        if blank != BLANK_INDEX:
            raise ValueError(f"model's blank index {blank} differs from the runtime's {BLANK_INDEX}")
        chars = json.loads(meta["charset"])
        if not isinstance(chars, list):
            raise ValueError("model metadata 'charset' must be a JSON list of characters")
        return cls(tuple(chars))

    # ---- file form (one character per line; written by code) ------------------------------
    def to_text(self) -> str:
        return "".join(f"{c}\n" for c in self.chars)

    @classmethod
    def from_text(cls, text: str) -> Charset:
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines = lines[:-1]
        return cls(tuple(lines))


def unify_text(text: str, charset: Charset) -> str:
    """Map label text onto ``charset``: NFKC-like width folding for ASCII look-alikes, then drop unknowns."""
    out = []
    for c in text:
        if c not in charset:
            code = ord(c)
            if 0xFF01 <= code <= 0xFF5E:  # full-width ASCII variants
                alt = chr(code - 0xFEE0)
                if alt in charset:
                    c = alt
            elif c == "\u3000":
                c = " "
        out.append(c)
    return charset.filter_text("".join(out))
