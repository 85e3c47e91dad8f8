"""Where does an engine lose? Error breakdown per line set from a `compare.py --json` file.

    .venv/bin/python benchmarks/errors.py artifacts/bench.json --engine crnn --peer rapidocr \\
        --markdown artifacts/errors.md

For each line/word set: the edit operations (substitutions, deletions, insertions) split by the
class of the character involved (hanzi, Latin letter, digit, punctuation, space), the most frequent
confusion pairs, empty outputs, CER by reference length, and the lines the peer reads exactly
that the engine gets wrong (with a few examples). Characters are compared under the set's
scoring mode, except that spaces are kept in ``text`` mode so missed and invented spaces show up.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crnn_ocr.metrics import ScoringMode, align, normalize_for_scoring

LENGTH_BUCKETS = ((1, 5), (6, 10), (11, 20), (21, 40), (41, 10_000))
CLASSES = ("hanzi", "latin", "digit", "punct", "space", "other")


def char_class(ch: str) -> str:
    if ch.isspace():
        return "space"
    if ch.isdigit():
        return "digit"
    if "\u3400" <= ch <= "\u9fff":
        return "hanzi"
    if ch.isascii() and ch.isalpha():
        return "latin"
    if unicodedata.category(ch).startswith(("P", "S")):
        return "punct"
    return "other"


def for_analysis(text: str, mode: ScoringMode) -> str:
    """The scoring normalisation, but in ``text`` mode runs of whitespace become one space."""
    if mode != "text":
        return normalize_for_scoring(text, mode)
    words = [normalize_for_scoring(w, mode) for w in text.split()]
    return " ".join(w for w in words if w)


@dataclass
class SetErrors:
    name: str
    mode: str
    n: int = 0
    ref_chars: int = 0
    ops: Counter = field(default_factory=Counter)  # (op, class) -> count
    pairs: Counter = field(default_factory=Counter)  # (ref, hyp) for substitutions
    deleted: Counter = field(default_factory=Counter)
    inserted: Counter = field(default_factory=Counter)
    empty: int = 0
    by_length: dict = field(default_factory=lambda: {b: [0, 0] for b in LENGTH_BUCKETS})  # edits, chars
    peer_right_we_wrong: list = field(default_factory=list)
    we_right_peer_wrong: int = 0

    def add(self, ref: str, hyp: str) -> int:
        self.n += 1
        self.ref_chars += len(ref)
        if not hyp and ref:
            self.empty += 1
        edits = 0
        for op, r, h in align(ref, hyp):
            if op == "=":
                continue
            edits += 1
            self.ops[(op, char_class(r or h))] += 1
            if op == "sub":
                self.pairs[(r, h)] += 1
            elif op == "del":
                self.deleted[r] += 1
            else:
                self.inserted[h] += 1
        length = len(ref.replace(" ", ""))
        for lo, hi in LENGTH_BUCKETS:
            if lo <= length <= hi:
                self.by_length[(lo, hi)][0] += edits
                self.by_length[(lo, hi)][1] += len(ref)
        return edits


def analyse(results: Sequence[dict], engine: str, peer: str | None) -> list[SetErrors]:
    by_key = {(r["set_name"], r["engine"]): r for r in results if r["kind"] != "page"}
    out = []
    for (set_name, eng), r in sorted(by_key.items()):
        if eng != engine:
            continue
        mode = r["mode"]
        errs = SetErrors(set_name, mode)
        peer_samples = {s["image"]: s for s in by_key[(set_name, peer)]["samples"]} if (set_name, peer) in by_key else {}
        for s in r["samples"]:
            ref, hyp = for_analysis(s["ref"], mode), for_analysis(s["hyp"], mode)
            edits = errs.add(ref, hyp)
            other = peer_samples.get(s["image"])
            if other is not None:
                peer_hyp = for_analysis(other["hyp"], mode)
                if peer_hyp == ref and edits:
                    errs.peer_right_we_wrong.append((s["image"], ref, hyp))
                elif peer_hyp != ref and not edits:
                    errs.we_right_peer_wrong += 1
        out.append(errs)
    return out


def _show(ch: str) -> str:
    return "␠" if ch == " " else ch.replace("|", "\\|").replace("`", "ˋ") or "∅"


def markdown(all_errors: Sequence[SetErrors], engine: str, peer: str | None, examples: int) -> str:
    lines = [f"# Error analysis: {engine}" + (f" (peer: {peer})" if peer else ""), ""]
    for e in all_errors:
        total = sum(e.ops.values())
        lines += [f"## {e.name} ({e.mode}), {e.n} lines, {e.ref_chars} reference characters", ""]
        lines.append(
            f"Edits {total} (CER {total / max(1, e.ref_chars):.2%} with spaces kept); empty outputs {e.empty}."
        )
        if peer:
            lines.append(
                f"{peer} exact where {engine} is wrong: {len(e.peer_right_we_wrong)} lines; "
                f"{engine} exact where {peer} is wrong: {e.we_right_peer_wrong}."
            )
        lines += ["", "| op | " + " | ".join(CLASSES) + " | all |", "|---|" + "---:|" * (len(CLASSES) + 1)]
        for op in ("sub", "del", "ins"):
            row = [e.ops[(op, c)] for c in CLASSES]
            lines.append(f"| {op} | " + " | ".join(str(v) for v in row) + f" | {sum(row)} |")
        lines += ["", "CER by reference length (characters): " + ", ".join(
            f"{lo}–{hi if hi < 10_000 else '∞'}: {ed / ch:.1%} ({ch} chars)"
            for (lo, hi), (ed, ch) in e.by_length.items() if ch
        ) + "."]
        top = ", ".join(f"`{_show(r)}→{_show(h)}` {k}" for (r, h), k in e.pairs.most_common(15))
        lines += ["", f"Top confusions: {top or 'none'}."]
        dels = ", ".join(f"`{_show(c)}` {k}" for c, k in e.deleted.most_common(10))
        ins = ", ".join(f"`{_show(c)}` {k}" for c, k in e.inserted.most_common(10))
        lines += [f"Most deleted: {dels or 'none'}. Most inserted: {ins or 'none'}."]
        if e.peer_right_we_wrong and examples:
            lines += ["", f"Examples {peer} reads exactly and {engine} does not (reference → {engine}):", ""]
            for image, ref, hyp in e.peer_right_we_wrong[:examples]:
                lines.append(f"- `{Path(image).name}`: `{ref}` → `{hyp}`")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bench_json", type=Path, help="output of benchmarks/compare.py --json")
    p.add_argument("--engine", default="crnn")
    p.add_argument("--peer", default="rapidocr", help="engine to compare line by line ('' for none)")
    p.add_argument("--examples", type=int, default=8, help="examples per set of lines the peer gets right")
    p.add_argument("--markdown", type=Path, help="write the report here (default: stdout)")
    args = p.parse_args(argv)
    data = json.loads(args.bench_json.read_text(encoding="utf-8"))
    engines = {r["engine"] for r in data["results"]}
    if args.engine not in engines:
        p.error(f"{args.bench_json} has no results for engine {args.engine!r}; it has {', '.join(sorted(engines))}")
    peer = args.peer or None
    if peer is not None and peer not in engines:
        print(f"[note] no results for peer {peer!r}; comparing without it", file=sys.stderr)
        peer = None
    report = markdown(analyse(data["results"], args.engine, peer), args.engine, peer, args.examples)
    if args.markdown:
        args.markdown.write_text(report, encoding="utf-8")
    else:
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
