"""The ``crnn-ocr`` command: ``read`` images and PDFs, ``eval`` on a labelled line set, ``submit``
to a running server, ``stream`` a video, and ``serve`` / ``worker`` / ``keys`` / ``dataset`` (the web
service's).

Exit status: 0 all went well; 1 some input (or the model) failed, the rest were still processed;
2 usage error (bad arguments or options).

The rooms, each command's data flowing downwards:

    commands   the sub-command table (``build_parser``) and ``main``
    read       ``read``: inputs -> OCR -> pages -> outputs          (the pipeline's batch runner)
    eval       ``eval``: labelled lines -> OCR -> scores             (``crnn_ocr.metrics``)
    submit     ``submit``: inputs and URLs -> a server's job API     (``crnn_ocr.client``)
    stream     ``stream``: video frames -> new lines                 (``crnn_ocr.stream``)
    serve      ``serve``, ``worker``, ``keys``, ``dataset``: delegated to the server package, loaded lazily
    ------------------------------------------------------------------------------------------
    inputs     path arguments -> ``InputItem`` (files, folders, globs), http(s) URLs set apart
    options    the flags of OCROptions / DecodeOptions / PreprocessOptions / DocumentOptions, and
               their one conversion to those dataclasses
    model      the model flags and ``load_ocr``, the one place a command builds its OCR
    pages      a document's pages, read in any order, gathered into one ``InputResult``
    outputs    ``read``'s output formats and files, stdout in input order
    progress   the progress bar on stderr
"""

from crnn_ocr.cli.commands import build_parser, main

__all__ = ["build_parser", "main"]
