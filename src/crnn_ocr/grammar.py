"""Field grammars: read a line as a plate, a date, an amount... (``DecodeOptions.pattern``).

A grammar is a regular language over the recognizer's characters, held as an epsilon-free NFA
whose edges each read one class: arrays ``src`` [E], ``label`` [E], ``dst`` [E]. It comes from a
built-in name (``BUILTINS``: plate, date, time, amount, phone, uscc, email, url, digits) or from
a user's regular expression (the usual syntax: literals, escapes ``\\d \\w \\s``, classes
``[a-z0-9]`` and ``[^...]``, ``.``, groups, ``|``, ``* + ?`` and ``{m}``, ``{m,}``, ``{m,n}``;
the whole line must match, no back-references). ``uscc`` is built directly: 18 characters whose
last is the GB 32100-2015 check character of the first 17, tracked as a sum modulo 31 in the state.

``grammar_decode`` returns the best CTC path (Viterbi) whose text the grammar accepts, exactly:
the dynamic programme runs over (NFA state, last class read) pairs, so nothing outside the
language can come out and nothing inside it is pruned away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from crnn_ocr.charset import BLANK_INDEX, Charset
from crnn_ocr.ctc import _check, _recognition, apply_mask, viterbi_alignment
from crnn_ocr.errors import OptionsError
from crnn_ocr.types import Recognition

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTER = "A-HJ-NP-Z"  # no I, no O
_DAY = r"(0?[1-9]|[12]\d|3[01])"
_MONTH = r"(0?[1-9]|1[0-2])"
_YEAR = r"(19|20)\d\d"

#: Built-in grammars as regular expressions (uscc is built in code, see ``uscc_grammar``).
BUILTINS: dict[str, str] = {
    "plate": f"[{PROVINCES}][{_PLATE_LETTER}][{_PLATE_LETTER}0-9]{{5,6}}",
    "date": (
        f"{_YEAR}-{_MONTH}-{_DAY}|{_YEAR}/{_MONTH}/{_DAY}|{_YEAR}\\.{_MONTH}\\.{_DAY}"
        f"|{_YEAR}年{_MONTH}月{_DAY}日"
    ),
    "time": r"([01]?\d|2[0-3])[:：][0-5]\d([:：][0-5]\d)?",
    "amount": r"[¥￥$€£]?-?(\d{1,3}(,\d{3})+|\d+)(\.\d{1,2})?元?",
    "phone": (
        r"(\+?86[- ]?)?1[3-9]\d(\d{8}|-\d{4}-\d{4}| \d{4} \d{4})"  # mainland mobile
        r"|(0\d{2,3}-?|\(0\d{2,3}\)|（0\d{2,3}）)?[2-9]\d{6,7}(-\d{1,4})?"  # landline, extension
    ),
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "url": (
        r"(https?://)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(:\d{1,5})?"
        r"(/[A-Za-z0-9._~%!$&'()*+,;=:@/?#-]*)?"
    ),
    "digits": r"\d+",
}

#: Characters of the unified social credit code, in the order of their values 0..30.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code (GB 32100-2015) from the first 17."""
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


@dataclass(frozen=True)
class Grammar:
    """An epsilon-free NFA over class indices: state 0 starts; ``accept`` [Q] bool; edges
    ``src``/``label``/``dst`` [E] int64 (``label`` never the blank)."""

    name: str
    accept: np.ndarray
    src: np.ndarray
    label: np.ndarray
    dst: np.ndarray

    @property
    def n_states(self) -> int:
        return len(self.accept)

    def accepts(self, labels: Sequence[int]) -> bool:
        """Whether the class sequence ``labels`` is in the language."""
        states = np.zeros(self.n_states, dtype=bool)
        states[0] = True
        for lab in labels:
            on = states[self.src] & (self.label == lab)
            states = np.zeros(self.n_states, dtype=bool)
            states[self.dst[on]] = True
            if not states.any():
                return False
        return bool((states & self.accept).any())

    def accepts_text(self, text: str, charset: Charset) -> bool:
        return all(c in charset for c in text) and self.accepts(charset.encode(text))


# ---- regular expressions -> NFA --------------------------------------------------------------

#: A parsed regular expression: ("chars", frozenset[str], negated) (negated with an empty set: any
#: character), ("cat", [nodes]), ("alt", [nodes]) or ("rep", node, least, most or None).
_Node = tuple
_CLASS_ESCAPES = {
    "d": "0123456789",
    "s": " \t",
    "w": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
}
_MAX_REPEAT = 100


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def error(self, what: str) -> OptionsError:
        return OptionsError(f"pattern {self.p!r}: {what} at position {self.i}")

    def peek(self) -> str | None:
        return self.p[self.i] if self.i < len(self.p) else None

    def take(self) -> str:
        c = self.peek()
        if c is None:
            raise self.error("unexpected end")
        self.i += 1
        return c

    def parse(self) -> _Node:
        if self.p.startswith("^"):
            self.i = 1
        node = self.alt()
        if self.peek() == "$" and self.i == len(self.p) - 1:
            self.i += 1
        if self.i != len(self.p):
            raise self.error(f"unexpected {self.peek()!r}")
        return node

    def alt(self) -> _Node:
        branches = [self.cat()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.cat())
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def cat(self) -> _Node:
        items = []
        while self.peek() is not None and self.peek() not in "|)" and not self.at_final_dollar():
            items.append(self.repeat(self.atom()))
        return ("cat", items)

    def at_final_dollar(self) -> bool:
        return self.peek() == "$" and self.i == len(self.p) - 1

    def atom(self) -> _Node:
        c = self.take()
        if c == "(":
            if self.p.startswith("?:", self.i):
                self.i += 2
            elif self.peek() == "?":
                raise self.error("unsupported group syntax")
            node = self.alt()
            if self.take() != ")":
                raise self.error("missing )")
            return node
        if c == "[":
            return self.char_class()
        if c == ".":
            return ("chars", frozenset(), True)
        if c == "\\":
            return self.escape()
        if c in "*+?{":
            raise self.error(f"nothing to repeat with {c!r}")
        if c == ")":
            raise self.error("unbalanced )")
        return ("chars", frozenset(c), False)

    def escape(self) -> _Node:
        c = self.take()
        if c in _CLASS_ESCAPES:
            return ("chars", frozenset(_CLASS_ESCAPES[c]), False)
        if c.lower() in _CLASS_ESCAPES:
            return ("chars", frozenset(_CLASS_ESCAPES[c.lower()]), True)
        if c.isalnum():
            raise self.error(f"unsupported escape \\{c}")
        return ("chars", frozenset(c), False)

    def char_class(self) -> _Node:
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        chars: set[str] = set()
        first = True
        while True:
            c = self.take()
            if c == "]" and not first:
                break
            first = False
            if c == "\\":
                e = self.take()
                if e in _CLASS_ESCAPES:
                    chars |= set(_CLASS_ESCAPES[e])
                    continue
                c = e
            if self.peek() == "-" and self.i + 1 < len(self.p) and self.p[self.i + 1] != "]":
                self.i += 1
                hi = self.take()
                if hi == "\\":
                    hi = self.take()
                if ord(hi) < ord(c):
                    raise self.error(f"bad range {c}-{hi}")
                chars |= {chr(x) for x in range(ord(c), ord(hi) + 1)}
            else:
                chars.add(c)
        return ("chars", frozenset(chars), negated)

    def repeat(self, node: _Node) -> _Node:
        while True:
            c = self.peek()
            if c == "*":
                lo, hi = 0, None
            elif c == "+":
                lo, hi = 1, None
            elif c == "?":
                lo, hi = 0, 1
            elif c == "{":
                end = self.p.find("}", self.i)
                body = self.p[self.i + 1 : end] if end > 0 else ""
                try:
                    parts = body.split(",")
                    lo = int(parts[0])
                    hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1] else None)
                except ValueError:
                    raise self.error("bad {m,n}") from None
                if len(parts) > 2 or (hi is not None and hi < lo) or max(lo, hi or 0) > _MAX_REPEAT:
                    raise self.error(f"bad repeat {{{body}}} (at most {_MAX_REPEAT})")
                self.i = end
            else:
                return node
            self.i += 1
            node = ("rep", node, lo, hi)


class _NFABuilder:
    """Thompson construction with class-set edges; then epsilon removal."""

    def __init__(self, charset: Charset) -> None:
        self.charset = charset
        self.n = 0
        self.eps: list[tuple[int, int]] = []
        self.edges: list[tuple[int, np.ndarray, int]] = []
        self._all = np.arange(1, charset.num_classes)

    def state(self) -> int:
        self.n += 1
        return self.n - 1

    def classes(self, chars: frozenset[str], negated: bool) -> np.ndarray:
        ids = np.array(sorted(self.charset.index(c) for c in chars if c in self.charset), dtype=np.int64)
        return np.setdiff1d(self._all, ids) if negated else ids

    def build(self, node: _Node) -> tuple[int, int]:
        kind = node[0]
        if kind == "chars":
            s, e = self.state(), self.state()
            self.edges.append((s, self.classes(node[1], node[2]), e))
            return s, e
        if kind == "cat":
            s = e = self.state()
            for item in node[1]:
                a, b = self.build(item)
                self.eps.append((e, a))
                e = b
            return s, e
        if kind == "alt":
            s, e = self.state(), self.state()
            for item in node[1]:
                a, b = self.build(item)
                self.eps += [(s, a), (b, e)]
            return s, e
        _, sub, lo, hi = node
        s = e = self.state()
        for _ in range(lo):
            a, b = self.build(sub)
            self.eps.append((e, a))
            e = b
        if hi is None:  # a loop
            a, b = self.build(sub)
            self.eps += [(e, a), (b, e)]
            return s, e
        end = self.state()
        self.eps.append((e, end))
        for _ in range(hi - lo):
            a, b = self.build(sub)
            self.eps += [(e, a), (b, end)]
            e = b
        return s, end

    def grammar(self, name: str, node: _Node) -> Grammar:
        start, final = self.build(node)
        closure = [{q} for q in range(self.n)]
        succ: dict[int, list[int]] = {}
        for a, b in self.eps:
            succ.setdefault(a, []).append(b)
        for q in range(self.n):
            stack = [q]
            while stack:
                for r in succ.get(stack.pop(), ()):
                    if r not in closure[q]:
                        closure[q].add(r)
                        stack.append(r)
        out_edges: dict[int, list[tuple[np.ndarray, int]]] = {}
        for s, ids, e in self.edges:
            out_edges.setdefault(s, []).append((ids, e))
        # keep the start and every edge target; renumber with the start as 0
        keep = [start] + sorted({e for _, _, e in self.edges} - {start})
        number = {q: i for i, q in enumerate(keep)}
        src, label, dst = [], [], []
        for q in keep:
            for p in closure[q]:
                for ids, e in out_edges.get(p, ()):
                    src.append(np.full(len(ids), number[q]))
                    label.append(ids)
                    dst.append(np.full(len(ids), number[e]))
        accept = np.array([final in closure[q] for q in keep], dtype=bool)
        return _grammar(name, accept, src, label, dst)


def _grammar(name: str, accept: np.ndarray, src: list, label: list, dst: list) -> Grammar:
    if not src:
        empty = np.zeros(0, dtype=np.int64)
        return Grammar(name, accept, empty, empty, empty)
    columns = [np.concatenate(src), np.concatenate(label), np.concatenate(dst)]
    triples = np.unique(np.stack(columns, axis=1), axis=0).astype(np.int64)  # [E, 3], deduplicated
    return Grammar(name, accept, triples[:, 0].copy(), triples[:, 1].copy(), triples[:, 2].copy())


def uscc_grammar(charset: Charset) -> Grammar:
    """18 characters of ``USCC_CHARS`` (3rd to 8th: digits, the area code) whose last is the
    check character of the first 17: states (position, weighted sum modulo 31), then accept."""
    values = [(v, charset.index(c)) for v, c in enumerate(USCC_CHARS) if c in charset]

    def state(pos: int, total: int) -> int:
        """After ``pos`` >= 1 characters whose weighted sum is ``total`` modulo 31 (0: the start)."""
        return 1 + (pos - 1) * 31 + total

    final = 1 + 17 * 31
    src, label, dst = [], [], []
    for pos in range(17):
        sums = [0] if pos == 0 else range(31)
        allowed = [(v, k) for v, k in values if not (2 <= pos <= 7 and v > 9)]
        for total in sums:
            here = 0 if pos == 0 else state(pos, total)
            for v, k in allowed:
                src.append([here])
                label.append([k])
                dst.append([state(pos + 1, (total + v * USCC_WEIGHTS[pos]) % 31)])
    for total in range(31):
        check = (31 - total) % 31
        for v, k in values:
            if v == check:
                src.append([state(17, total)])
                label.append([k])
                dst.append([final])
    accept = np.zeros(final + 1, dtype=bool)
    accept[final] = True
    return _grammar("uscc", accept, src, label, dst)


@lru_cache(maxsize=64)
def compile_pattern(pattern: str, charset: Charset) -> Grammar:
    """The grammar a ``DecodeOptions.pattern`` names: a built-in or a regular expression."""
    if pattern == "uscc":
        return uscc_grammar(charset)
    regex = BUILTINS.get(pattern, pattern)
    if not regex:
        raise OptionsError("pattern must not be empty")
    grammar = _NFABuilder(charset).grammar(pattern, _Parser(regex).parse())
    if not grammar.accept.any() or (not grammar.accept[0] and grammar.src.size == 0):
        raise OptionsError(f"pattern {pattern!r} accepts nothing this model can read")
    return grammar


# ---- decoding --------------------------------------------------------------------------------


def grammar_decode(
    probs: np.ndarray, charset: Charset, grammar: Grammar, mask: Sequence[bool] | np.ndarray | None = None
) -> Recognition:
    """The best single CTC path (Viterbi) over ``probs`` [T, C] whose text ``grammar`` accepts;
    an empty result when no path of these frames spells an accepted text.

    Scores (log space) per frame: ``blank[q]``, paths in NFA state q whose last frame was a blank
    (or no frame yet), and ``held[n]`` for each node n = (state, class) an edge leads to: paths
    in that state whose last frame read that class. A node continues by reading its class again
    (the same character, collapsed) or a blank; an edge from state q reading class c starts a
    new character from ``blank[q]`` or from a node of q with a class other than c (CTC needs a
    blank between two equal characters). Back-pointers give the path.
    """
    probs = apply_mask(_check(probs, charset), mask)
    n_frames = probs.shape[0]
    if n_frames == 0:
        return Recognition(text="", confidence=0.0, chars=())
    if grammar.src.size == 0:  # the grammar accepts only the empty line
        return _recognition([], np.zeros(0), np.zeros((0, 2), dtype=np.int64), probs, charset)
    logp = np.log(np.maximum(probs, 1e-30))  # [T, C]
    q_count = grammar.n_states
    nodes, edge_node = np.unique(np.stack([grammar.dst, grammar.label], axis=1), axis=0, return_inverse=True)
    edge_node = edge_node.reshape(-1)
    node_state, node_label = nodes[:, 0], nodes[:, 1]  # sorted by state
    n_nodes = len(nodes)
    seg_states, seg_starts = np.unique(node_state, return_index=True)
    node_seg = np.searchsorted(seg_states, node_state)  # [N] each node's segment (its state's nodes)
    neg = -np.inf
    blank = np.full(q_count, neg)
    blank[0] = 0.0
    held = np.full(n_nodes, neg)
    back_node = np.zeros((n_frames, n_nodes), dtype=np.int64)  # -1 stay, else the edge read
    back_from = np.zeros((n_frames, n_nodes), dtype=np.int64)  # -1 from blank[src], else a node
    back_blank = np.zeros((n_frames, q_count), dtype=np.int64)  # -1 from blank[q], else a node
    idx = np.arange(n_nodes)
    for t in range(n_frames):
        lp = logp[t]
        # the best and second-best node of each state, and their classes
        top1 = np.full(q_count, neg)
        top1_node = np.full(q_count, -1)
        top2 = np.full(q_count, neg)
        top2_node = np.full(q_count, -1)
        best = np.maximum.reduceat(held, seg_starts)
        first = np.minimum.reduceat(np.where(held == best[node_seg], idx, n_nodes), seg_starts)
        top1[seg_states], top1_node[seg_states] = best, first
        rest = held.copy()
        rest[first] = neg
        second = np.maximum.reduceat(rest, seg_starts)
        second_node = np.minimum.reduceat(np.where(rest == second[node_seg], idx, n_nodes), seg_starts)
        top2[seg_states], top2_node[seg_states] = second, second_node
        # new characters along every edge
        s = grammar.src
        same = np.where(top1_node[s] >= 0, node_label[np.maximum(top1_node[s], 0)] == grammar.label, False)
        other = np.where(same, top2[s], top1[s])
        other_node = np.where(same, top2_node[s], top1_node[s])
        from_blank = blank[s] >= other
        incoming = np.where(from_blank, blank[s], other) + lp[grammar.label]  # [E]
        emit = np.full(n_nodes, neg)
        np.maximum.at(emit, edge_node, incoming)
        winner = np.full(n_nodes, -1)
        hit = incoming == emit[edge_node]
        winner[edge_node[hit]] = np.flatnonzero(hit)  # any maximising edge
        stay = held + lp[node_label]
        take_emit = emit > stay
        new_held = np.where(take_emit, emit, stay)
        back_node[t] = np.where(take_emit, winner, -1)
        edge = np.maximum(winner, 0)
        back_from[t] = np.where(take_emit & ~from_blank[edge], other_node[edge], -1)
        # blanks: from blank[q] or the best node of q
        from_node = top1 > blank
        back_blank[t] = np.where(from_node, top1_node, -1)
        blank = np.maximum(blank, top1) + lp[BLANK_INDEX]
        held = new_held
    # best accepted end
    end_blank = np.where(grammar.accept, blank, neg)
    end_held = np.where(grammar.accept[node_state], held, neg)
    if max(end_blank.max(), end_held.max()) == neg:  # no path of these frames spells an accepted text
        return Recognition(text="", confidence=0.0, chars=())
    labels = _backtrack(end_blank, end_held, back_node, back_from, back_blank, grammar.src, node_label)
    confidences, frames = viterbi_alignment(probs, labels)
    return _recognition(labels, confidences, frames, probs, charset)


def _backtrack(
    end_blank: np.ndarray,
    end_held: np.ndarray,
    back_node: np.ndarray,
    back_from: np.ndarray,
    back_blank: np.ndarray,
    edge_src: np.ndarray,
    node_label: np.ndarray,
) -> list[int]:
    """The classes read along the best path, from its end back to frame 0."""
    in_blank = end_blank.max() >= end_held.max()
    where = int(end_blank.argmax()) if in_blank else int(end_held.argmax())  # a state or a node
    labels: list[int] = []
    for t in range(back_node.shape[0] - 1, -1, -1):
        if in_blank:
            prev = int(back_blank[t, where])
            if prev >= 0:
                in_blank, where = False, prev
        else:
            edge = int(back_node[t, where])
            if edge >= 0:  # this frame started the node's character
                labels.append(int(node_label[where]))
                prev = int(back_from[t, where])
                if prev < 0:
                    in_blank, where = True, int(edge_src[edge])
                else:
                    where = prev
    return labels[::-1]
