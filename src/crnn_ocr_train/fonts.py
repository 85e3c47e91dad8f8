"""Fonts for synthetic lines, from Debian font packages (installed by scripts/install-system-deps.sh).

Training fonts and held-out evaluation fonts are fixed lists here. Each font face's character
coverage is read from its cmap once (fontTools) and cached, so text is only ever rendered in a
face that has every one of its characters (no tofu labelled as text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FONT_ROOTS = (Path("/usr/share/fonts"), Path("/usr/share/texmf/fonts"), Path("/usr/share/texlive/texmf-dist/fonts"))

# Face selection: (file glob, face-name substring or None for every face in the file)
TRAIN_CJK = (
    ("opentype/noto/NotoSansCJK-*.ttc", "SC"),
    ("opentype/noto/NotoSerifCJK-*.ttc", "SC"),
    ("truetype/wqy/wqy-zenhei.ttc", "Zen Hei"),
    ("truetype/wqy/wqy-microhei.ttc", "Micro Hei"),
    ("truetype/arphic/ukai.ttc", "UKai CN"),
    ("truetype/arphic/uming.ttc", "UMing CN"),
    ("truetype/droid/DroidSansFallbackFull.ttf", None),
)
TRAIN_LATIN = (
    ("truetype/dejavu/*.ttf", None),
    ("truetype/liberation2/*.ttf", None),
    ("truetype/freefont/*.ttf", None),
    ("opentype/urw-base35/*.otf", None),
    ("opentype/public/tex-gyre/*.otf", None),
    ("truetype/fifthhorseman/*.ttf", None),
    ("truetype/humor-sans/*.ttf", None),
)
#: Faces that map ASCII code points to pictographs; never render text with them.
SYMBOL_FACES = ("D050000L", "Standard Symbols")
#: CJK fonts never used in training: the held-out-font validation set renders with these.
HELDOUT_CJK = (
    ("truetype/arphic-gbsn00lp/*.ttf", None),
    ("truetype/arphic-gkai00mp/*.ttf", None),
    ("truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf", None),
)


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int
    name: str
    cjk: bool
    coverage: frozenset[str]

    def covers(self, text: str) -> bool:
        return all(c == " " or c in self.coverage for c in text)


def _faces_in(path: Path) -> list[tuple[int, str]]:
    from fontTools.ttLib import TTCollection, TTFont

    if path.suffix.lower() in (".ttc", ".otc"):
        coll = TTCollection(str(path), lazy=True)
        return [(i, f["name"].getDebugName(4) or path.stem) for i, f in enumerate(coll.fonts)]
    return [(0, TTFont(str(path), lazy=True)["name"].getDebugName(4) or path.stem)]


def _coverage(path: Path, index: int, wanted: set[str]) -> frozenset[str]:
    from fontTools.ttLib import TTFont

    font = TTFont(str(path), fontNumber=index, lazy=True)
    cmap = font.getBestCmap() or {}
    return frozenset(c for c in wanted if ord(c) in cmap)


def _resolve(patterns, cjk: bool, wanted: set[str]) -> list[FontFace]:
    faces: list[FontFace] = []
    for pattern, name_part in patterns:
        for root in FONT_ROOTS:
            for path in sorted(root.glob(pattern)):
                for index, name in _faces_in(path):
                    if name_part is not None and name_part not in name:
                        continue
                    if ("Mono" in name and cjk) or any(x in name for x in SYMBOL_FACES):
                        continue
                    cov = _coverage(path, index, wanted)
                    if len(cov) < 60:  # symbol/dingbat faces (e.g. URW D050000L)
                        continue
                    faces.append(FontFace(str(path), index, name, cjk, cov))
    return faces


@dataclass(frozen=True)
class FontSet:
    cjk: tuple[FontFace, ...]
    latin: tuple[FontFace, ...]
    heldout: tuple[FontFace, ...]

    def to_json(self) -> str:
        def enc(f: FontFace) -> dict:
            return {"path": f.path, "index": f.index, "name": f.name, "cjk": f.cjk, "coverage": "".join(sorted(f.coverage))}

        return json.dumps({k: [enc(f) for f in getattr(self, k)] for k in ("cjk", "latin", "heldout")}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> FontSet:
        d = json.loads(text)

        def dec(x: dict) -> FontFace:
            return FontFace(x["path"], x["index"], x["name"], x["cjk"], frozenset(x["coverage"]))

        return cls(*(tuple(dec(x) for x in d[k]) for k in ("cjk", "latin", "heldout")))


def discover(charset_chars: set[str], cache: Path | None = None) -> FontSet:
    """Find the training and held-out faces on this machine; raise if the packages are missing."""
    if cache is not None and cache.exists():
        fs = FontSet.from_json(cache.read_text(encoding="utf-8"))
        if all(Path(f.path).exists() for f in (*fs.cjk, *fs.latin, *fs.heldout)):
            return fs
    fs = FontSet(
        cjk=tuple(_resolve(TRAIN_CJK, True, charset_chars)),
        latin=tuple(_resolve(TRAIN_LATIN, False, charset_chars)),
        heldout=tuple(_resolve(HELDOUT_CJK, True, charset_chars)),
    )
    if not fs.cjk or not fs.latin or not fs.heldout:
        raise RuntimeError(
            "training fonts are missing (found "
            f"{len(fs.cjk)} CJK, {len(fs.latin)} Latin, {len(fs.heldout)} held-out faces); "
            "run scripts/install-system-deps.sh"
        )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(fs.to_json(), encoding="utf-8")
    return fs
