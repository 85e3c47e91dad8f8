"""``python -m crnn_ocr.cli``: the ``crnn-ocr`` command."""

import sys

from crnn_ocr.cli import main

sys.exit(main())
