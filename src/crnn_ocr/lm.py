"""Character n-gram language model: P(next character | the characters before it), numpy only.

The model is a backoff table in ARPA form, estimated offline with interpolated modified
Kneser-Ney smoothing and pruned by count cutoffs (``crnn_ocr_train.char_lm``), stored as one
``.npz`` (no pickles) shipped beside the recognizer and SHA-256 checked through the manifest
(``crnn_ocr.models.resolve_lm``). Arrays in the file:

- ``vocab``: the characters, one string; LM id ``i + 2`` is ``vocab[i]``. Id 0 ends a line (EOS),
  id 1 begins one (BOS, only ever a context).
- ``keys_<n>`` uint64 [K_n] sorted, ``logp_<n>`` float16 [K_n], ``bow_<n>`` float16 [K_n] for
  n = 1..order: the hashed n-gram (``ngram_keys``), its natural-log probability and its log backoff
  weight as a context.
- ``fold_from``, ``fold_to`` (optional, equal length): characters the model does not tell apart,
  each read as the one below it (``，`` as ``,``). Chinese documents write punctuation in either
  width, so the model was estimated on text folded this way: it says which mark comes, and the
  recognizer, which sees the glyph, says which width.

Scoring (``CharLM.log_prob``) is vectorised over a batch of queries: for each query the longest
stored n-gram (context tail + character) gives ``logp``, after adding the backoff weights of the
longer contexts that were not followed by that character. Characters the LM never saw score
``unknown_log_prob``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crnn_ocr.charset import Charset
from crnn_ocr.errors import ModelError

EOS = 0
BOS = 1
FIRST_CHAR_ID = 2
#: Multiplier of the rolling n-gram hash (odd, 64-bit); collisions are ~n^2 / 2^65, negligible.
HASH_MULT = np.uint64(0x9E3779B97F4A7C15)
#: log P of a character the LM never saw (about one in a million).
UNKNOWN_LOG_PROB = -14.0


def ngram_keys(ids: np.ndarray) -> np.ndarray:
    """Keys of n-grams given as rows of LM ids [Q, n] -> uint64 [Q]: the rolling hash
    ``k = k * HASH_MULT + (id + 1)`` from the left (arithmetic modulo 2^64)."""
    ids = np.asarray(ids, dtype=np.uint64)
    key = np.zeros(ids.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(ids.shape[1]):
            key = key * HASH_MULT + ids[:, j] + np.uint64(1)
    return key


@dataclass(frozen=True)
class _Table:
    keys: np.ndarray  # uint64 [K], sorted
    logp: np.ndarray  # float32 [K]
    bow: np.ndarray  # float32 [K]

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found bool [Q], row index [Q]) of ``keys`` in this table."""
        if self.keys.size == 0:
            return np.zeros(keys.shape, dtype=bool), np.zeros(keys.shape, dtype=np.int64)
        idx = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return self.keys[idx] == keys, idx


class CharLM:
    """A loaded character n-gram model; ``log_prob`` scores characters after contexts."""

    def __init__(
        self, vocab: str, tables: list[_Table], path: Path | None = None, fold: dict[str, str] | None = None
    ) -> None:
        self.vocab = vocab
        self.tables = tables  # tables[n - 1]: the n-grams
        self.path = path
        self.fold = dict(fold or {})
        self._ids = {c: i + FIRST_CHAR_ID for i, c in enumerate(vocab)}
        for src, dst in self.fold.items():
            if dst not in self._ids:
                raise ModelError(f"LM fold {src!r} -> {dst!r}: {dst!r} is not in the vocabulary")
            self._ids[src] = self._ids[dst]

    @property
    def order(self) -> int:
        return len(self.tables)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharLM:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                vocab = str(data["vocab"])
                order = int(data["order"])
                tables = [
                    _Table(
                        data[f"keys_{n}"].astype(np.uint64),
                        data[f"logp_{n}"].astype(np.float32),
                        data[f"bow_{n}"].astype(np.float32),
                    )
                    for n in range(1, order + 1)
                ]
                fold = dict(zip(str(data["fold_from"]), str(data["fold_to"]))) if "fold_from" in data.files else {}
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{path}: not a character LM file ({exc})") from exc
        return cls(vocab, tables, path, fold)

    def save(self, path: str | os.PathLike) -> None:
        arrays: dict[str, np.ndarray] = {"vocab": np.array(self.vocab), "order": np.array(self.order)}
        if self.fold:
            arrays["fold_from"] = np.array("".join(self.fold))
            arrays["fold_to"] = np.array("".join(self.fold.values()))
        for n, table in enumerate(self.tables, start=1):
            arrays[f"keys_{n}"] = table.keys
            arrays[f"logp_{n}"] = table.logp.astype(np.float16)
            arrays[f"bow_{n}"] = table.bow.astype(np.float16)
        with open(path, "wb") as fp:
            np.savez_compressed(fp, **arrays)

    def ids(self, text: str) -> list[int]:
        """LM ids of ``text`` (folded characters share an id); characters outside the vocabulary
        get an id no n-gram has."""
        unknown = FIRST_CHAR_ID + len(self.vocab)
        return [self._ids.get(c, unknown) for c in text]

    def class_ids(self, charset: Charset) -> np.ndarray:
        """LM id of each recognizer class [C] (the blank: EOS, never scored as a character)."""
        return np.array([EOS] + self.ids("".join(charset.chars)), dtype=np.int64)

    def log_prob(self, contexts: np.ndarray, chars: np.ndarray) -> np.ndarray:
        """Natural-log P(char | context) [Q] for contexts [Q, order - 1] of LM ids (oldest first,
        left-padded with BOS) and chars [Q] (EOS scores the end of the line).

        The keys of every suffix are built right to left from the same polynomial hash as
        ``ngram_keys``: key(c_j..c_n) = (c_j + 1) * M^(n-j) + key(c_j+1..c_n)."""
        contexts = np.asarray(contexts, dtype=np.int64).reshape(len(chars), self.order - 1)
        chars = np.asarray(chars, dtype=np.int64)
        n_q = len(chars)
        result = np.full(n_q, UNKNOWN_LOG_PROB, dtype=np.float64)
        found_at = np.zeros((self.order, n_q), dtype=bool)  # [n - 1]: the n-gram ending in char
        rows = np.zeros((self.order, n_q), dtype=np.int64)
        ctx_found = np.zeros((self.order, n_q), dtype=bool)  # [n]: the context's last n ids
        ctx_rows = np.zeros((self.order, n_q), dtype=np.int64)
        ctx_u = (contexts + 1).astype(np.uint64)
        gram_key = (chars + 1).astype(np.uint64)
        ctx_key = np.zeros(n_q, dtype=np.uint64)
        power = np.uint64(1)
        with np.errstate(over="ignore"):
            for n in range(1, self.order + 1):  # look up the n-grams and the contexts of length n together
                if n < self.order:
                    ctx_key = ctx_u[:, -n] * power + ctx_key
                    keys = np.concatenate([gram_key, ctx_key])
                else:
                    keys = gram_key
                found, idx = self.tables[n - 1].find(keys)
                found_at[n - 1], rows[n - 1] = found[:n_q], idx[:n_q]
                if n == self.order:
                    break
                ctx_found[n], ctx_rows[n] = found[n_q:], idx[n_q:]
                power = power * HASH_MULT
                gram_key = ctx_u[:, -n] * power + gram_key
        done = np.zeros(n_q, dtype=bool)
        backoff = np.zeros(n_q, dtype=np.float64)
        for n in range(self.order, 0, -1):
            hit = found_at[n - 1] & ~done
            result[hit] = backoff[hit] + self.tables[n - 1].logp[rows[n - 1][hit]]
            done |= found_at[n - 1]
            if n > 1:  # not found at this order: the context's backoff weight, when stored
                add = ctx_found[n - 1] & ~done
                backoff[add] += self.tables[n - 2].bow[ctx_rows[n - 1][add]]
        return result

    def text_log_prob(self, text: str, eos: bool = True) -> float:
        """Total natural-log probability of ``text`` as one line (after BOS, with EOS if asked)."""
        ids = [BOS] * (self.order - 1) + self.ids(text) + ([EOS] if eos else [])
        n_ctx = self.order - 1
        windows = np.array([ids[i : i + n_ctx] for i in range(len(ids) - n_ctx)], dtype=np.int64)
        if windows.size == 0:
            return 0.0
        chars = np.array(ids[n_ctx:], dtype=np.int64)
        return float(self.log_prob(windows.reshape(len(chars), n_ctx), chars).sum())


#: Shallow-fusion settings chosen on synthetic validation lines plus every dev set together
#: (``benchmarks/lm_tune.py``); one setting for every kind of text.
DEFAULT_LM_WEIGHT = 0.5
DEFAULT_LENGTH_BONUS = 2.0


class LMScorer:
    """A ``CharLM`` seen from a recognizer's charset: the ``crnn_ocr.ctc.CharScorer`` the beam
    search fuses. A state is the LM ids of the last ``order - 1`` characters read (() at the
    start of a line). ``lm_ids`` [C]: the LM id of each recognizer class (``CharLM.class_ids``;
    the blank maps to EOS).

    The first character of a line is not scored (log P = 0): the LM learned line starts from
    sentence starts, but a crop the detector cuts starts wherever the line does (a plate's
    province, a code, the middle of a sentence wrapped from the line before), so P(c | BOS) only
    pulls the first character towards common sentence openers. Measured on the first 200 lines
    of FUNSD, SVT, ICDAR words, UW3, zh_browser_lines, the plates and eval/synth_heldout_fonts
    (shipped v1.3 model, beam 8 + LM): plates 23.5 -> 20.0 % CER, held-out synthetic lines
    4.75 -> 4.40 %, ICDAR words 9.03 -> 8.76 %, FUNSD 8.05 -> 7.96 %, the others within 0.1
    point."""

    def __init__(
        self,
        lm: CharLM,
        lm_ids: np.ndarray,
        weight: float = DEFAULT_LM_WEIGHT,
        length_bonus: float = DEFAULT_LENGTH_BONUS,
    ) -> None:
        self.lm = lm
        self.lm_ids = lm_ids
        self.weight = weight
        self.length_bonus = length_bonus
        self._n_ctx = lm.order - 1

    @classmethod
    def for_charset(
        cls,
        lm: CharLM,
        charset: Charset,
        weight: float = DEFAULT_LM_WEIGHT,
        length_bonus: float = DEFAULT_LENGTH_BONUS,
    ) -> LMScorer:
        return cls(lm, lm.class_ids(charset), weight, length_bonus)

    def with_weights(self, weight: float, length_bonus: float) -> LMScorer:
        return LMScorer(self.lm, self.lm_ids, weight, length_bonus)

    def context(self, previous: tuple[int, ...], label: int) -> tuple[int, ...]:
        if self._n_ctx == 0:
            return ()
        return (*previous, int(self.lm_ids[label]))[-self._n_ctx :]

    def log_probs(self, states: Sequence[tuple[int, ...]], labels: Sequence[int]) -> np.ndarray:
        contexts = np.full((len(states), self._n_ctx), BOS, dtype=np.int64)
        line_start = np.zeros(len(states), dtype=bool)
        for i, state in enumerate(states):
            if state:
                contexts[i, self._n_ctx - len(state) :] = state
            else:
                line_start[i] = True
        scores = self.lm.log_prob(contexts, self.lm_ids[np.asarray(labels, dtype=np.int64)])
        return np.where(line_start, 0.0, scores)
