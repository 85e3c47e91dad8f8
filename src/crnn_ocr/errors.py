"""Exceptions raised at the public entry points. Each names what was wrong with the input.

The HTTP service maps each class to one status code (see ``crnn_ocr.server``).
"""

from __future__ import annotations

import re


class OCRError(Exception):
    """Base class of every error this package raises on purpose."""

    code = "ocr_error"


class ImageError(OCRError):
    """The input could not be turned into an image."""

    code = "invalid_image"


class ImageNotFoundError(ImageError):
    """A path that names no readable file (missing, a directory, or not permitted)."""

    code = "image_not_found"


class EmptyImageError(ImageError):
    """Zero bytes, an empty array, or an image with no pixels."""

    code = "empty_image"


class UnsupportedImageError(ImageError):
    """Not a format we read (PNG, JPEG, BMP, TIFF, WebP; PDF as a document), or an unsupported
    pixel layout."""

    code = "unsupported_image"


class CorruptImageError(ImageError):
    """Looks like a supported format but cannot be decoded (truncated, damaged)."""

    code = "corrupt_image"


class ImageTooLargeError(ImageError):
    """More pixels (or bytes) than the configured limit; checked before decoding pixels."""

    code = "image_too_large"


class TooManyPagesError(ImageTooLargeError):
    """A document with more pages to read than the configured limit; checked from the page count
    before any page is rendered."""

    code = "too_many_pages"


class EncryptedDocumentError(ImageError):
    """A password-protected PDF (or one locked with a security handler we cannot open)."""

    code = "encrypted_document"


class ModelError(OCRError):
    """The model file is missing, corrupt, fails its checksum, or lacks required metadata."""

    code = "model_error"


class OutputError(OCRError):
    """A result could not be written in the asked format (e.g. no font for a searchable PDF)."""

    code = "output_error"


class OptionsError(OCRError):
    """An invalid per-call option (unknown decoding method, empty allowlist, ...)."""

    code = "invalid_options"


class UnknownModelError(OptionsError):
    """A model name that the server's manifest does not list (the message names those it does)."""

    code = "unknown_model"


class UrlRefusedError(OptionsError):
    """An image URL that may not be fetched: not http(s), URL input switched off, or a host that
    resolves to a loopback, private, link-local or reserved address not on the allow-list."""

    code = "url_refused"


class UrlFetchError(ImageError):
    """An image URL that could not be fetched: unreachable, timed out, an HTTP error status, or
    too many redirects."""

    code = "url_fetch_failed"


class DatasetError(OCRError):
    """A labelled-line set that cannot be read or stored: a malformed label file, a missing or
    unreadable line image, a bad dataset name, box or text."""

    code = "invalid_dataset"


class LabelFileError(DatasetError, ValueError):
    """A label file that does not follow its format (``relative/path<TAB>text``, or PPOCRLabel's
    ``path<TAB>[{"transcription": ..., "points": ...}]``)."""

    code = "invalid_labels"


class UnknownDatasetError(DatasetError):
    """A dataset (or a line or page of one) that the caller has not stored."""

    code = "unknown_dataset"


class DatasetTooLargeError(DatasetError):
    """An imported archive with more files or more uncompressed bytes than the configured limits."""

    code = "dataset_too_large"


_OBJECT_REPR = re.compile(r"<[^<>]*? at 0x[0-9a-fA-F]+>")


def reason(exc: BaseException) -> str:
    """What a library's exception says, for a message about the input: its text with object reprs
    (``<_io.BytesIO object at 0x7f...>``, which name nothing useful and leak heap addresses)
    replaced by ``the input``, and cut to 300 characters."""
    text = _OBJECT_REPR.sub("the input", str(exc)) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
