"""From pages back to documents: ``read`` reads page by page (``crnn_ocr.batch.run_pages``, in any
order when ``--jobs`` > 1); ``PageCollector`` gathers each input's pages and, once the last one is
in (or one failed), gives that input's ``InputResult``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crnn_ocr.batch import Failure, PageOutcome, PlannedInput
from crnn_ocr.types import Document


@dataclass(frozen=True)
class InputResult:
    """One input, complete: its Document (with the page images, when they were asked for) or the
    failure of the first of its pages that failed."""

    index: int  # of the input
    result: Document | Failure
    images: tuple[bytes, ...] = ()  # JPEG of each page, in page order (only for --format pdf)


def assemble(plan: PlannedInput, pages: dict[int, PageOutcome], failure: Failure | None) -> InputResult:
    """The result of input ``plan``: ``failure``, else its Document of ``pages`` (all its pages)."""
    if failure is not None:
        return InputResult(plan.index, failure)
    ordered = [pages[n] for n in plan.numbers]
    document = Document(tuple(o.page for o in ordered), plan.page_count, plan.path)  # type: ignore[misc]
    return InputResult(plan.index, document, tuple(o.image_jpeg for o in ordered if o.image_jpeg is not None))


class PageCollector:
    """Collects the pages of the inputs that are being read (``plans`` without a failure)."""

    def __init__(self, plans: Sequence[PlannedInput]) -> None:
        self._plans = {plan.index: plan for plan in plans if plan.failure is None}
        self._done: dict[int, dict[int, PageOutcome]] = {index: {} for index in self._plans}

    @property
    def total(self) -> int:
        """Pages to read, over all inputs."""
        return sum(len(plan.numbers) for plan in self._plans.values())

    def add(self, outcome: PageOutcome) -> InputResult | None:
        """The input's result when ``outcome`` completes it (its last page, or its first failure);
        None while pages are missing, and for pages of an input that already failed."""
        pages = self._done.get(outcome.index)
        if pages is None:  # the input already failed on another page
            return None
        pages[outcome.number] = outcome
        plan = self._plans[outcome.index]
        if outcome.failure is None and len(pages) < len(plan.numbers):
            return None
        del self._done[outcome.index]
        return assemble(plan, pages, outcome.failure)
