"""A bounded, deterministic fuzz of the decoders: mutated seed files through ``open_document`` and
every page's decoding, the path every request and job item takes.

    python tests/fuzz_decoders.py --cases 1500 --budget 60 [--seed 23]

Seeds: ``tests/fuzz_seeds/`` (committed; see ``make_seeds.py`` there). Each case mutates one seed
(bit flips, a truncation, a duplicated or deleted slice, a 2- or 4-byte field overwritten with an
extreme value, two seeds spliced) with a ``random.Random(seed)``, so a run is reproducible. A case
passes when it decodes or raises one of the package's ``OCRError`` classes; any other exception, or
a case slower than ``--slow`` seconds, is a finding. Prints one JSON summary line; exit status 1
with findings. ``tests/test_hardening.py`` runs it in a subprocess with a timeout, so a crash or
a hang fails the test instead of the test run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import warnings
from pathlib import Path

SEEDS = Path(__file__).parent / "fuzz_seeds"
_EXTREMES = (b"\x00\x00", b"\xff\xff", b"\x7f\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff",
             b"\x80\x00\x00\x00", b"\x00\x01\x00\x00")


def seeds() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(SEEDS.iterdir()) if p.suffix != ".py"}


def mutate(data: bytes, other: bytes, rng: random.Random) -> tuple[bytes, str]:
    b = bytearray(data)
    kind = rng.choice(("flip", "truncate", "duplicate", "delete", "extreme", "splice", "flip"))
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del b[rng.randrange(1, len(b)):]
    elif kind == "duplicate":
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.randint(1, 64))
        b[j:j] = b[i:j] * rng.randint(1, 16)
    elif kind == "delete":
        i = rng.randrange(len(b))
        del b[i:i + rng.randint(1, 32)]
    elif kind == "extreme":
        value = rng.choice(_EXTREMES)
        i = rng.randrange(max(1, len(b) - len(value)))
        b[i:i + len(value)] = value
    else:
        cut = rng.randrange(1, len(b))
        b = b[:cut] + other[rng.randrange(len(other)):]
    return bytes(b or b"\x00"), kind


def run(cases: int, budget_s: float, seed: int, slow_s: float) -> dict:
    from crnn_ocr.documents import DocumentLimits, open_document
    from crnn_ocr.errors import OCRError
    from crnn_ocr.types import DocumentOptions

    corpus = seeds()
    names = list(corpus)
    rng = random.Random(seed)
    limits = DocumentLimits(max_pages=4, max_pixels=4_000_000, max_bytes=1 << 20)
    options = DocumentOptions(dpi=72)
    findings: list[dict] = []
    outcomes: dict[str, int] = {}
    slowest = 0.0
    start = time.perf_counter()
    done = 0
    for case in range(cases):
        if time.perf_counter() - start > budget_s:
            break
        name = names[case % len(names)]
        data, kind = mutate(corpus[name], corpus[rng.choice(names)], rng)
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with open_document(data, options, limits) as doc:
                    for page in doc.pages():
                        assert page.image.dtype.name == "uint8" and page.image.ndim in (2, 3)
            outcome = "decoded"
        except OCRError as exc:
            outcome = exc.code
            if " at 0x" in str(exc):
                findings.append({"case": case, "seed": name, "mutation": kind, "error": "object repr in message",
                                 "message": str(exc)[:300]})
        except Exception as exc:  # noqa: BLE001 - what the fuzz looks for
            outcome = "unexpected"
            findings.append({"case": case, "seed": name, "mutation": kind, "error": type(exc).__name__,
                             "message": str(exc)[:300]})
        took = time.perf_counter() - t0
        slowest = max(slowest, took)
        if took > slow_s:
            findings.append({"case": case, "seed": name, "mutation": kind, "error": f"slow: {took:.1f} s"})
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        done += 1
    return {
        "cases": done, "seeds": len(names), "seconds": round(time.perf_counter() - start, 2),
        "slowest_case_s": round(slowest, 3), "outcomes": outcomes, "findings": findings[:20],
        "finding_count": len(findings),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=1500)
    p.add_argument("--budget", type=float, default=60.0, help="stop starting cases after this many seconds")
    p.add_argument("--seed", type=int, default=23)
    p.add_argument("--slow", type=float, default=10.0, help="a case slower than this is a finding")
    args = p.parse_args(argv)
    summary = run(args.cases, args.budget, args.seed, args.slow)
    print(json.dumps(summary))
    return 1 if summary["finding_count"] else 0


if __name__ == "__main__":
    sys.exit(main())
