"""Training side of CRNN-OCR (needs the `train` extra: torch, jieba, wordfreq, fonttools).

Nothing in ``crnn_ocr`` imports this package: inference runs on ONNX Runtime alone.
"""
